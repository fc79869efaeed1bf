"""Routes of the per-user trash (`GET /v1/trash`, `POST /v1/trash/{id}/restore`), the
periodic purge of expired entries, and the `purge-trash` test hook (only with --test-hooks)."""

from __future__ import annotations

from aiohttp import web

from syncd.errors import BadRequest
from syncd.log import get_logger
from syncd.protocol import etag_for_rev
from syncd.server import trash
from syncd.server.background import every
from syncd.server.http import STATE_KEY, auth, json_body, model_response, state_of
from syncd.server.trash_restore import restore

PURGE_INTERVAL_S = 600.0
log = get_logger(__name__)
routes = web.RouteTableDef()
test_routes = web.RouteTableDef()


@routes.get("/v1/trash", name="list_trash")
async def list_trash(request: web.Request) -> web.Response:
    user = auth(request)
    state = state_of(request)
    items = trash.list_trash(state.db, user["id"], state.trash_days)
    return web.json_response({"items": [i.model_dump(mode="json") for i in items]})


@routes.post("/v1/trash/{trash_id}/restore", name="restore_trash")
async def restore_trash(request: web.Request) -> web.Response:
    user = auth(request)
    file = restore(state_of(request), user["id"], request.match_info["trash_id"])
    return model_response(file, 201, {"ETag": etag_for_rev(file.rev)})


@test_routes.post("/v1/_test/purge-trash", name="test_purge_trash")
async def purge_now(request: web.Request) -> web.Response:
    """Purge the caller's entries deleted at least `older_than_s` ago (0 = all of them)."""
    user = auth(request)
    body = await json_body(request)
    try:
        older_than_s = float(body.get("older_than_s", 0))
    except (TypeError, ValueError) as exc:
        raise BadRequest("older_than_s must be a number") from exc
    state = state_of(request)
    purged = await trash.purge(state.db, state.blobs, int(older_than_s * 1e9), user["id"])
    return web.json_response({"purged": purged})


async def _purge_expired(app: web.Application) -> None:
    state = app[STATE_KEY]
    with state.db.try_jobs_lock() as mine:  # one instance at a time purges
        if mine:
            await trash.purge(state.db, state.blobs, trash.keep_ns(state.trash_days))


def setup_trash(app: web.Application, test_hooks: bool) -> None:
    app.add_routes(routes)
    if test_hooks:
        app.add_routes(test_routes)
    app.cleanup_ctx.append(
        every(PURGE_INTERVAL_S, _purge_expired, "trash_purge_failed", wait_first=False)
    )
