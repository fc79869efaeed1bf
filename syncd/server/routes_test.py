"""Test hooks, mounted only with `syncd serve --test-hooks`: per-user counters, injected
faults (410/429/503 with Retry-After, or an unexpected exception), injected delays, and
compacting the feed now."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from syncd.errors import (
    ApiError,
    BadRequest,
    CursorExpired,
    RateLimited,
    ServerError,
    Unavailable,
)
from syncd.server import feed
from syncd.server.http import auth, json_body, state_of

routes = web.RouteTableDef()
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
TEST_PREFIX = "/v1/_test"


@dataclass
class Faults:
    """Pending injected answers; consumed by matching requests in arrival order."""

    status: int = 503
    count: int = 0
    retry_after_s: float = 1.0
    path_prefix: str = "/v1"
    delay_ms: int = 0
    delay_count: int = 0
    delay_prefix: str = "/v1"
    delay_after: bool = False  # wait after the handler (its commit done), before answering
    unexpected: bool = False  # raise a plain exception (a bug) instead of an API error


FAULTS_KEY = web.AppKey("syncd_faults", Faults)


@web.middleware
async def fault_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    faults = request.app[FAULTS_KEY]
    if request.path.startswith(TEST_PREFIX):
        return await handler(request)
    answer_after_s = 0.0
    if faults.delay_count > 0 and request.path.startswith(faults.delay_prefix):
        faults.delay_count -= 1
        if faults.delay_after:
            answer_after_s = faults.delay_ms / 1000
        else:
            await asyncio.sleep(faults.delay_ms / 1000)
    if faults.count > 0 and request.path.startswith(faults.path_prefix):
        faults.count -= 1
        if faults.unexpected:
            raise RuntimeError("injected unexpected failure (test hook)")
        error_cls: type[ApiError] = {
            410: CursorExpired,
            429: RateLimited,
            503: Unavailable,
        }.get(faults.status, ServerError)
        error = error_cls("injected fault (test hook)", retry_after_s=faults.retry_after_s)
        error.http_status = faults.status  # the app's error middleware adds Retry-After
        raise error
    response = await handler(request)
    await asyncio.sleep(answer_after_s)
    return response


@routes.get(f"{TEST_PREFIX}/counters", name="test_counters")
async def counters(request: web.Request) -> web.Response:
    user = auth(request)
    counts = dict(state_of(request).counters.get(user["id"], {}))
    by_route = {k.removeprefix("route:"): v for k, v in counts.items() if k.startswith("route:")}
    body = {k: counts.get(k, 0) for k in ("uploads", "upload_bytes", "downloads", "download_bytes")}
    return web.json_response({**body, "requests": by_route})


@routes.post(f"{TEST_PREFIX}/faults", name="test_faults")
async def set_faults(request: web.Request) -> web.Response:
    auth(request)
    body = await json_body(request)
    faults = request.app[FAULTS_KEY]
    try:
        faults.status = int(body.get("status", 503))
        faults.count = int(body.get("count", 1))
        faults.retry_after_s = float(body.get("retry_after_s", 1))
        faults.path_prefix = str(body.get("path_prefix", "/v1"))
        faults.unexpected = bool(body.get("unexpected", False))
    except (TypeError, ValueError) as exc:
        raise BadRequest(f"bad fault: {exc}") from exc
    return web.json_response({"armed": faults.count})


@routes.post(f"{TEST_PREFIX}/delay", name="test_delay")
async def set_delay(request: web.Request) -> web.Response:
    auth(request)
    body = await json_body(request)
    faults = request.app[FAULTS_KEY]
    try:
        faults.delay_ms = int(body.get("ms", 0))
        faults.delay_count = int(body.get("count", 1))
        faults.delay_prefix = str(body.get("path_prefix", "/v1"))
        faults.delay_after = bool(body.get("after", False))
    except (TypeError, ValueError) as exc:
        raise BadRequest(f"bad delay: {exc}") from exc
    return web.json_response({"armed": faults.delay_count})


@routes.post(f"{TEST_PREFIX}/compact", name="test_compact")
async def compact_now(request: web.Request) -> web.Response:
    """Compact the caller's feed now, keeping `keep` seqs (default 0: every earlier cursor
    answers 410 afterwards)."""
    user = auth(request)
    body = await json_body(request)
    keep = int(body.get("keep", 0))
    floor = feed.compact(state_of(request).db, user["id"], keep)
    return web.json_response({"floor": floor})
