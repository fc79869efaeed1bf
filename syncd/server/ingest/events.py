"""Ingest outcomes (stored, duplicate, refused with reason, fetch failed...) kept per user and
listed at `GET /v1/ingest/events`, so a user can see why a photo did not arrive."""

from __future__ import annotations

from aiohttp import web

from syncd.server.db import now_ns, rfc3339
from syncd.server.http import auth, query_int, state_of
from syncd.server.ingest.model import Outcome
from syncd.server.meta import Db

KEEP_PER_USER = 2000
routes = web.RouteTableDef()


def record(
    db: Db,
    user_id: str,
    outcome: Outcome,
    *,
    hook_id: str | None = None,
    message_id: str | None = None,
    reason: str | None = None,
    file_id: str | None = None,
    sender: str | None = None,
) -> int:
    """Append one outcome; old rows beyond the last KEEP_PER_USER of the user are dropped."""
    with db.tx() as conn:
        cur = conn.execute(
            "INSERT INTO ingest_events (user_id, hook_id, message_id, outcome, reason, file_id,"
            " sender, created_ns) VALUES (?,?,?,?,?,?,?,?) RETURNING id",
            (user_id, hook_id, message_id, outcome, reason, file_id, sender, now_ns()),
        )
        event_id = int(cur.fetchone()[0])
        if event_id % 100 == 0:
            conn.execute(
                "DELETE FROM ingest_events WHERE user_id=? AND id<=?",
                (user_id, event_id - KEEP_PER_USER),
            )
    return event_id


def recent(db: Db, user_id: str, limit: int, before: int | None) -> list[dict[str, object]]:
    rows = db.all(
        "SELECT * FROM ingest_events WHERE user_id=? AND id<? ORDER BY id DESC LIMIT ?",
        user_id,
        before if before is not None else 2**62,
        limit,
    )
    return [
        {
            "id": r["id"],
            "at": rfc3339(r["created_ns"]),
            "outcome": r["outcome"],
            "reason": r["reason"],
            "hook_id": r["hook_id"],
            "message_id": r["message_id"],
            "sender": r["sender"],
            "file_id": r["file_id"],
        }
        for r in rows
    ]


@routes.get("/v1/ingest/events", name="ingest_events")
async def list_events(request: web.Request) -> web.Response:
    """Newest first; `before=<id>` pages back."""
    user = auth(request)
    limit = query_int(request, "limit", 100, 1, 1000)
    before = query_int(request, "before", 2**62, 1, 2**62)
    items = recent(state_of(request).db, user["id"], limit, before)
    return web.json_response({"events": items})
