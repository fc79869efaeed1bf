"""The aiohttp application factory: routes, the error middleware that renders every failure
as `{"error": {...}}` (ApiError.body()), request counting, periodic feed compaction and
clean shutdown of long polls and the database."""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import unquote

from aiohttp import web

from syncd.errors import ApiError, InvalidName, ServerError
from syncd.log import get_logger
from syncd.server import (
    feed,
    openapi,
    routes_batch,
    routes_changes,
    routes_files,
    routes_library,
    routes_test,
)
from syncd.server.background import background, every
from syncd.server.http import STATE_KEY, USER_ID_KEY, error_response, http_exception_response
from syncd.server.ingest.routes import setup_ingest
from syncd.server.outbound.routes import setup_outbound
from syncd.server.routes_trash import setup_trash
from syncd.server.state import (
    DEFAULT_FEED_KEEP,
    DEFAULT_TRASH_DAYS,
    DEFAULT_TRASH_PERCENT,
    Limits,
    ServerState,
)
from syncd.server.web.app import setup_web

log = get_logger(__name__)
COMPACT_INTERVAL_S = 60.0


@web.middleware
async def error_middleware(
    request: web.Request, handler: routes_test.Handler
) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as error:
        return error_response(error)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return http_exception_response(exc)
    except (asyncio.CancelledError, ConnectionError):
        raise
    except Exception:
        log.exception("request_failed", method=request.method, route=_route_pattern(request))
        return error_response(ServerError("internal error; see the server log"))
    finally:
        _count(request)


@web.middleware
async def dot_segment_middleware(
    request: web.Request, handler: routes_test.Handler
) -> web.StreamResponse:
    """`.`/`..` path segments (also percent-encoded) are folded away by URL parsing before
    routing, so `PUT .../files/%2e%2e` would silently target another route: refuse them."""
    raw = request.raw_path.split("?", 1)[0]
    if any(unquote(seg) in (".", "..") for seg in raw.split("/")):
        raise InvalidName("'.' and '..' are not names", path=raw)
    return await handler(request)


def _route_pattern(request: web.Request) -> str:
    """The matched route's pattern (`/s/{token}`), never the path: a path may carry a share
    link's or a sign-in link's secret, and secrets never reach the log."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "(no route)"


def _count(request: web.Request) -> None:
    user_id = request.get(USER_ID_KEY)
    route = request.match_info.route.name if request.match_info.route else None
    if user_id and route:
        request.app[STATE_KEY].count(user_id, f"route:{route}")


async def _compact(app: web.Application) -> None:
    state = app[STATE_KEY]
    with state.db.try_jobs_lock() as mine:  # one instance at a time compacts
        if mine:
            feed.compact_all(state.db, state.feed_keep)


async def _listen_for_other_instances(app: web.Application) -> None:
    """Long polls here wake when another instance of the same database commits a change."""
    state = app[STATE_KEY]
    await state.db.listen(state.notifier.wake)


async def _sweep_blobs(app: web.Application) -> None:
    """Blobs a crash left unreferenced are removed in the background: listing a bucket
    may take a while, and serving does not wait for it."""
    try:
        await app[STATE_KEY].blobs.sweep()
    except Exception:  # e.g. the bucket is unreachable: the next start tries again
        log.exception("storage_sweep_failed")


async def _on_shutdown(app: web.Application) -> None:
    app[STATE_KEY].notifier.close()  # in-flight long polls answer now, not after `wait`


async def _on_cleanup(app: web.Application) -> None:
    await app[STATE_KEY].close()
    log.info("database_closed")


def create_app(state: ServerState) -> web.Application:
    middlewares = [error_middleware, dot_segment_middleware]
    if state.test_hooks:
        middlewares.append(routes_test.fault_middleware)
    app = web.Application(middlewares=middlewares)
    app[STATE_KEY] = state
    app.add_routes(routes_library.routes)
    app.add_routes(routes_files.routes)
    app.add_routes(routes_batch.routes)
    app.add_routes(routes_changes.routes)
    if state.test_hooks:
        app[routes_test.FAULTS_KEY] = routes_test.Faults()
        app.add_routes(routes_test.routes)
    app.router.add_get("/v1/openapi.json", openapi.handler, name="openapi")
    setup_ingest(app)  # webhooks, ingest events, share links, fetch queue
    setup_outbound(app)  # send files to contacts through a hook, and the send queue
    setup_trash(app, state.test_hooks)  # undo window: trash routes and the expiry purge
    setup_web(app)  # the library in a browser: sign-in, pages, thumbnails (web/)
    app.cleanup_ctx.append(
        every(COMPACT_INTERVAL_S, _compact, "feed_compaction_failed", wait_first=True)
    )
    app.cleanup_ctx.append(background(_listen_for_other_instances))
    app.cleanup_ctx.append(background(_sweep_blobs))
    app.on_shutdown.append(_on_shutdown)
    app.on_cleanup.append(_on_cleanup)
    return app


def open_app(
    data_dir: Path,
    *,
    test_hooks: bool = False,
    feed_keep: int = DEFAULT_FEED_KEEP,
    trash_days: float = DEFAULT_TRASH_DAYS,
    trash_percent: float = DEFAULT_TRASH_PERCENT,
    limits: Limits | None = None,
    blobs_url: str | None = None,
    db_url: str | None = None,
) -> web.Application:
    """Open (or create) the library in `data_dir`, clean crash leftovers, build the app."""
    state = ServerState.open(
        data_dir,
        feed_keep=feed_keep,
        test_hooks=test_hooks,
        trash_days=trash_days,
        trash_percent=trash_percent,
        limits=limits,
        blobs_url=blobs_url,
        db_url=db_url,
    )
    state.blobs.sweep_spool()
    return create_app(state)
