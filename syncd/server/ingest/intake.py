"""Admitting a read webhook, inside the request (fast: a few SQLite rows): media jobs are
queued unless (hook, message id) was seen before, notes become events, revocations are
recorded on the file's ingest record (the file itself is kept)."""

from __future__ import annotations

from dataclasses import dataclass

from syncd.log import get_logger
from syncd.server.db import now_ns
from syncd.server.ingest import events, hooks, spool
from syncd.server.ingest.hooks import Hook
from syncd.server.ingest.model import MediaJob, Note, Reading
from syncd.server.state import ServerState

log = get_logger(__name__)


@dataclass
class Admitted:
    queued: int = 0
    duplicates: int = 0
    recorded: int = 0
    revoked: int = 0
    ignored: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


def admit(state: ServerState, hook: Hook, reading: Reading) -> Admitted:
    result = Admitted(ignored=len(reading.ignored))
    for job in reading.jobs:
        if _queue(state, hook, job):
            result.queued += 1
        else:
            result.duplicates += 1
    for note in reading.notes:
        _note(state, hook, note)
        result.recorded += 1
    for raw_id in reading.revoked_raw_ids:
        result.revoked += _revoke(state, hook, raw_id)
    if reading.ignored:
        log.debug("webhook_events_ignored", hook=hooks.short(hook.id), why=reading.ignored)
    return result


def _queue(state: ServerState, hook: Hook, job: MediaJob) -> bool:
    """True when queued; False (and a `duplicate` event) when this message was seen before.
    A message whose earlier fetch finally failed is queued again: a redelivery is a new
    chance to get the bytes."""
    with state.db.tx() as conn:
        existing = conn.execute(
            "SELECT state FROM ingest_jobs WHERE hook_id=? AND message_id=?",
            (hook.id, job.message_id),
        ).fetchone()
        if existing is None:
            conn.execute(
                "INSERT INTO ingest_jobs (hook_id, message_id, raw_id, user_id, state, job,"
                " next_ns, created_ns) VALUES (?,?,?,?,'pending',?,?,?)",
                (
                    hook.id,
                    job.message_id,
                    job.raw_id,
                    hook.user_id,
                    job.model_dump_json(),
                    now_ns(),
                    now_ns(),
                ),
            )
        elif existing["state"] == "failed":
            conn.execute(
                "UPDATE ingest_jobs SET state='pending', attempts=0, job=?, next_ns=?"
                " WHERE hook_id=? AND message_id=?",
                (job.model_dump_json(), now_ns(), hook.id, job.message_id),
            )
    if existing is None or existing["state"] == "failed":
        return True
    spool.discard(job)
    events.record(
        state.db,
        hook.user_id,
        "duplicate",
        hook_id=hook.id,
        message_id=job.message_id,
        reason=f"already {existing['state']}",
        sender=job.sender.participant_id,
    )
    return False


def _note(state: ServerState, hook: Hook, note: Note) -> None:
    events.record(
        state.db,
        hook.user_id,
        note.outcome,
        hook_id=hook.id,
        message_id=note.message_id,
        reason=note.reason,
        sender=note.sender,
    )


def _revoke(state: ServerState, hook: Hook, raw_id: str) -> int:
    """The sender deleted the message for everyone. The user's copy stays (it is theirs);
    the revocation is recorded on the ingest record (`GET /v1/files/{id}/origin`)."""
    with state.db.tx() as conn:
        rows = conn.execute(
            "SELECT message_id, file_id FROM ingest_jobs WHERE hook_id=? AND raw_id=?",
            (hook.id, raw_id),
        ).fetchall()
        conn.execute(
            "UPDATE ingest_jobs SET revoked_ns=COALESCE(revoked_ns, ?) WHERE hook_id=?"
            " AND raw_id=?",
            (now_ns(), hook.id, raw_id),
        )
    for row in rows:
        events.record(
            state.db,
            hook.user_id,
            "revoked",
            hook_id=hook.id,
            message_id=row["message_id"],
            file_id=row["file_id"],
            reason="the sender deleted the message; the file is kept",
        )
    return len(rows)
