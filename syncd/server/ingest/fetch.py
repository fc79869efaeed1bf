"""The background fetch queue: media jobs persisted in `ingest_jobs` (so the queue survives a
restart), fetched by a few concurrent workers with retries, size caps per kind and the SSRF
rules re-checked at fetch time; each final outcome lands in the ingest events."""

from __future__ import annotations

import asyncio
import contextlib
import os
from dataclasses import dataclass

import aiohttp

from syncd.errors import Unavailable
from syncd.log import get_logger
from syncd.server.db import now_ns
from syncd.server.ingest import events, hooks, spool
from syncd.server.ingest.download import Downloader, Refused, Retryable
from syncd.server.ingest.model import MediaJob, Outcome
from syncd.server.meta import Row
from syncd.server.state import ServerState

log = get_logger(__name__)
MAX_IDLE_WAIT_S = 30.0
DB_RETRY_S = 2.0  # the database is busy or unreachable: the queue looks again after this
SHARED_POLL_S = 5.0  # a shared database: jobs queued or given up by other instances


@dataclass(frozen=True)
class IngestSettings:
    """Tunables; tests shorten them via the environment (SYNCD_INGEST_RETRY_DELAYS_S="0.05,0.1",
    SYNCD_INGEST_READ_TIMEOUT_S, SYNCD_INGEST_LEASE_S, SYNCD_PUBLIC_URL)."""

    retry_delays_s: tuple[float, ...] = (1.0, 3.0, 10.0, 30.0, 60.0, 120.0)
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 30.0
    workers: int = 4
    public_url: str | None = None
    # A claimed job holds its row this long (next_ns = claim + lease). On a shared database
    # a job whose instance was killed mid-fetch is claimed again by another once it ran out.
    lease_s: float = 900.0

    @classmethod
    def from_env(cls) -> IngestSettings:
        env = os.environ
        delays = env.get("SYNCD_INGEST_RETRY_DELAYS_S")
        return cls(
            retry_delays_s=tuple(float(d) for d in delays.split(",") if d.strip())
            if delays
            else cls.retry_delays_s,
            connect_timeout_s=float(env.get("SYNCD_INGEST_CONNECT_TIMEOUT_S", "10")),
            read_timeout_s=float(env.get("SYNCD_INGEST_READ_TIMEOUT_S", "30")),
            public_url=env.get("SYNCD_PUBLIC_URL") or None,
            lease_s=float(env.get("SYNCD_INGEST_LEASE_S", "900")),
        )


class IngestQueue:
    """Jobs move pending -> fetching -> done | refused | failed (pending again on a retry)."""

    def __init__(self, state: ServerState, settings: IngestSettings) -> None:
        self.state = state
        self.settings = settings
        self._wake = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None
        self._inflight: dict[asyncio.Task[None], tuple[str, str]] = {}  # -> its job's key
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        if not self.state.db.shared:  # its one server crashed mid-fetch: start over now
            with self.state.db.tx() as conn:
                conn.execute(
                    "UPDATE ingest_jobs SET state='pending', next_ns=? WHERE state='fetching'",
                    (now_ns(),),
                )
        timeout = aiohttp.ClientTimeout(
            total=None,
            sock_connect=self.settings.connect_timeout_s,
            sock_read=self.settings.read_timeout_s,
        )
        self._session = aiohttp.ClientSession(timeout=timeout, auto_decompress=False)
        self._runner = asyncio.create_task(self._run())

    async def stop(self) -> None:
        claimed = list(self._inflight.values())
        tasks = [t for t in (self._runner, *self._inflight) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._release(claimed)
        if self._session is not None:
            await self._session.close()

    def _release(self, keys: list[tuple[str, str]]) -> None:
        """Our interrupted fetches: pending again now (here after the restart, or on another
        instance), not after their lease."""
        try:
            with self.state.db.tx() as conn:
                for hook_id, message_id in keys:
                    conn.execute(
                        "UPDATE ingest_jobs SET state='pending', next_ns=? WHERE hook_id=?"
                        " AND message_id=? AND state='fetching'",
                        (now_ns(), hook_id, message_id),
                    )
        except Unavailable:  # their leases run out instead
            log.warning("ingest_claims_kept", jobs=len(keys))

    def kick(self) -> None:
        self._wake.set()

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                self._start_due()
                wait_s = self._next_wait_s()
            except Unavailable:  # the database is back in a moment: keep the queue alive
                log.warning("ingest_queue_paused", retry_s=DB_RETRY_S)
                wait_s = DB_RETRY_S
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=wait_s)

    def _start_due(self) -> None:
        free = self.settings.workers - len(self._inflight)
        if free <= 0:
            return
        now = now_ns()
        # Due jobs, and jobs whose claim ran out (their instance was killed mid-fetch).
        rows = self.state.db.all(
            "SELECT * FROM ingest_jobs WHERE state IN ('pending', 'fetching') AND next_ns<=?"
            " ORDER BY next_ns LIMIT ?",
            now,
            free + len(self._inflight),
        )
        mine = set(self._inflight.values())
        for row in rows:
            key = (row["hook_id"], row["message_id"])
            if (
                key in mine
                or len(self._inflight) >= self.settings.workers
                or not self._claim(row, now)
            ):
                continue
            task = asyncio.create_task(self._process(row))
            self._inflight[task] = key
            task.add_done_callback(self._finished)

    def _claim(self, row: Row, now: int) -> bool:
        """Compare-and-set on the row as read: of several instances that saw it, one wins
        (write transactions are serialized by the database's write lock)."""
        with self.state.db.tx() as conn:
            won = conn.execute(
                "UPDATE ingest_jobs SET state='fetching', next_ns=? WHERE hook_id=?"
                " AND message_id=? AND state=? AND next_ns=?",
                (
                    now + int(self.settings.lease_s * 1e9),
                    row["hook_id"],
                    row["message_id"],
                    row["state"],
                    row["next_ns"],
                ),
            ).rowcount
        if won == 1 and row["state"] == "fetching":
            log.warning("ingest_job_reclaimed", hook=hooks.short(row["hook_id"]))
        return won == 1

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._inflight.pop(task, None)
        self._wake.set()

    def _next_wait_s(self) -> float:
        idle_s = SHARED_POLL_S if self.state.db.shared else MAX_IDLE_WAIT_S
        if len(self._inflight) >= self.settings.workers:
            return idle_s
        row = self.state.db.one(
            "SELECT MIN(next_ns) AS n FROM ingest_jobs WHERE state IN ('pending', 'fetching')"
        )
        if row is None or row["n"] is None:
            return idle_s
        return min(idle_s, max(0.0, (int(row["n"]) - now_ns()) / 1e9))

    async def _process(self, row: Row) -> None:
        job = MediaJob.model_validate_json(row["job"])
        hook = hooks.get_hook(self.state.db, row["hook_id"])
        if hook is None:
            self._finish(row, job, "failed", "fetch_failed", "the hook was removed")
            return
        assert self._session is not None
        try:
            file_id = await Downloader(self.state, self._session, hook).fetch(job, row["user_id"])
        except Refused as exc:
            self._finish(row, job, "refused", "refused", exc.reason)
        except Retryable as exc:
            self._retry(row, job, exc.reason)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("ingest_fetch_crashed", hook=hooks.short(hook.id))
            self._retry(row, job, f"internal error: {type(exc).__name__}")
        else:
            self._finish(row, job, "done", "stored", None, file_id)

    def _retry(self, row: Row, job: MediaJob, reason: str) -> None:
        attempts = int(row["attempts"]) + 1
        delays = self.settings.retry_delays_s
        if attempts > len(delays):
            self._finish(
                row, job, "failed", "fetch_failed", f"{reason} (gave up after {attempts} attempts)"
            )
            return
        next_ns = now_ns() + int(delays[attempts - 1] * 1e9)
        with self.state.db.tx() as conn:
            conn.execute(
                "UPDATE ingest_jobs SET state='pending', attempts=?, next_ns=? WHERE hook_id=?"
                " AND message_id=? AND state='fetching'",
                (attempts, next_ns, row["hook_id"], row["message_id"]),
            )
        log.info(
            "ingest_fetch_retrying",
            hook=hooks.short(row["hook_id"]),
            attempts=attempts,
            reason=reason,
        )

    def _finish(
        self,
        row: Row,
        job: MediaJob,
        job_state: str,
        outcome: Outcome,
        reason: str | None,
        file_id: str | None = None,
    ) -> None:
        with self.state.db.tx() as conn:
            conn.execute(
                "UPDATE ingest_jobs SET state=?, file_id=?, attempts=attempts+1 WHERE hook_id=?"
                " AND message_id=?",
                (job_state, file_id, row["hook_id"], row["message_id"]),
            )
        spool.discard(job)  # stored, or never will be: a redelivery spools it again
        events.record(
            self.state.db,
            row["user_id"],
            outcome,
            hook_id=row["hook_id"],
            message_id=job.message_id,
            reason=reason,
            file_id=file_id,
            sender=job.sender.participant_id,
        )
        log.info(
            "ingest_finished",
            hook=hooks.short(row["hook_id"]),
            outcome=outcome,
            reason=reason,
            file_id=file_id,
        )
