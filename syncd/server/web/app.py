"""Wiring of the web page into `syncd serve`: its routes (sign-in, pages, thumbnails, static
files), the thumbnail maker, and the hourly purge of expired sessions and sign-in links."""

from __future__ import annotations

import time
from pathlib import Path

from aiohttp import web

from syncd.errors import NotFound, Unauthorized
from syncd.log import get_logger
from syncd.server.background import every
from syncd.server.files import file_row
from syncd.server.http import STATE_KEY, USER_ID_KEY, state_of
from syncd.server.web import pages, signin, store
from syncd.server.web.render import PAGE_HEADERS
from syncd.server.web.sessions import request_session
from syncd.server.web.thumbs import Thumbnails

STATIC = Path(__file__).parent / "static"
PURGE_INTERVAL_S = 3600.0
THUMBS_KEY = web.AppKey("syncd_thumbs", Thumbnails)
log = get_logger(__name__)
routes = web.RouteTableDef()


@routes.get("/thumbs/{file_id}", name="web_thumbnail")
async def thumbnail(request: web.Request) -> web.StreamResponse:
    """The session user's file's WebP preview; another user's file is "not found". Without
    a preview (a document, undecodable, no ffmpeg) the kind's icon."""
    state = state_of(request)
    found = request_session(request, state.db)
    if found is None:
        raise Unauthorized("sign in first")
    request[USER_ID_KEY] = found.user["id"]
    row = file_row(state, found.user["id"], request.match_info["file_id"])
    path = await request.app[THUMBS_KEY].get(row)
    headers = {"Cache-Control": "private, max-age=86400", "X-Content-Type-Options": "nosniff"}
    if path is None:
        icon = STATIC / "icons" / f"{row['kind']}.svg"
        if not icon.exists():
            raise NotFound("no preview")
        return web.FileResponse(icon, headers={**headers, "Content-Type": "image/svg+xml"})
    return web.FileResponse(path, headers={**headers, "Content-Type": "image/webp"})


async def _purge_sessions(app: web.Application) -> None:
    gone = store.purge_expired(app[STATE_KEY].db, time.time_ns())
    if gone:
        log.info("web_sessions_purged", rows=gone)


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Static files get the pages' headers too (nosniff, no framing)."""
    if request.path.startswith("/static/"):
        for key in ("X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy"):
            response.headers.setdefault(key, PAGE_HEADERS[key])


def setup_web(app: web.Application) -> None:
    app[THUMBS_KEY] = Thumbnails(app[STATE_KEY])
    app.add_routes(signin.routes)
    app.add_routes(pages.routes)
    app.add_routes(routes)
    app.router.add_static("/static", STATIC, name="web_static", append_version=True)
    app.on_response_prepare.append(_security_headers)
    app.cleanup_ctx.append(
        every(PURGE_INTERVAL_S, _purge_sessions, "web_sessions_purge_failed", wait_first=False)
    )
