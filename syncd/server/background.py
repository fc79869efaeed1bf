"""The server's background work, tied to the app's life: a task started with the app and
cancelled when it stops, and periodic jobs (feed compaction, trash purge, expired sessions)
that log a failed round and try again at the next one."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

from aiohttp import web

from syncd.log import get_logger

log = get_logger(__name__)
CleanupCtx = Callable[[web.Application], AsyncIterator[None]]
Work = Callable[[web.Application], Coroutine[Any, Any, None]]


def background(work: Work) -> CleanupCtx:
    """A cleanup context running `work(app)` from start-up until the app stops."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(work(app))
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    return ctx


def every(interval_s: float, job: Work, failed_event: str, *, wait_first: bool) -> CleanupCtx:
    """A cleanup context running `job(app)` every `interval_s` (first at start-up unless
    `wait_first`). A round that fails (a busy database) is logged and serving goes on."""

    async def loop(app: web.Application) -> None:
        if wait_first:
            await asyncio.sleep(interval_s)
        while True:
            try:
                await job(app)
            except Exception:
                log.exception(failed_event)
            await asyncio.sleep(interval_s)

    return background(loop)
