"""Run one coroutine per item with a bound on how many are in flight at once."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


async def gather_bounded(
    run: Callable[[T], Awaitable[R]], items: Sequence[T], limit: int
) -> list[R | Exception]:
    """`gather(*(run(i) for i in items), return_exceptions=True)` with at most `limit`
    running at once: workers take the next item as they finish (results unordered). Each
    waiting task holds its whole coroutine chain; this keeps only `limit` of them."""
    results: list[R | Exception] = []
    todo = iter(items)  # shared: each item is taken by one worker

    async def worker() -> None:
        for item in todo:
            try:
                results.append(await run(item))
            except Exception as exc:  # as gather(return_exceptions=True) keeps it
                results.append(exc)

    await asyncio.gather(*(worker() for _ in range(min(limit, len(items)))))
    return results
