"""The change feed route: `GET /v1/changes?cursor=&limit=&wait=&epoch=&snapshot=` with long
polling;
every page carries the feed epoch, and a cursor from a history the server lost answers 410."""

from __future__ import annotations

import asyncio
import time

from aiohttp import web

from syncd.errors import BadRequest
from syncd.protocol import MAX_WAIT_S
from syncd.server import feed
from syncd.server.http import auth, model_response, query_float, query_int, state_of

routes = web.RouteTableDef()


@routes.get("/v1/changes", name="changes")
async def changes(request: web.Request) -> web.Response:
    user = auth(request)
    state = state_of(request)
    cursor = query_int(request, "cursor", 0, 0, 2**62)
    limit = query_int(request, "limit", feed.DEFAULT_LIMIT, 1, feed.MAX_LIMIT)
    wait_s = query_float(request, "wait", 0.0, 0.0, MAX_WAIT_S)
    snapshot: int | None = query_int(request, "snapshot", -1, 0, 2**62)
    snapshot = None if snapshot == -1 else snapshot  # absent: a client from before snapshots
    epoch = request.query.get("epoch")
    if epoch is not None and len(epoch) > feed.MAX_EPOCH_CHARS:
        raise BadRequest(f"epoch: at most {feed.MAX_EPOCH_CHARS} characters")
    state.epoch.check(user["id"], cursor, epoch)
    deadline = time.monotonic() + wait_s
    while True:
        # Take the event before reading, so a change between the read and the wait still
        # wakes us (notify() sets the event we hold).
        event = state.notifier.event(user["id"])
        page = feed.read_page(state.db, user["id"], cursor, limit, state.epoch.id, snapshot)
        remaining = deadline - time.monotonic()
        if page.changes or page.more or remaining <= 0 or state.notifier.closing:
            return model_response(page)
        try:
            await asyncio.wait_for(event.wait(), timeout=remaining)
        except TimeoutError:
            return model_response(
                feed.read_page(state.db, user["id"], cursor, limit, state.epoch.id, snapshot)
            )
