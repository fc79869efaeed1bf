"""Run one coroutine per item with a bound on how many are in flight at once (a pass's file
actions: `run_file_actions`)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from syncd.sync import model as m
from syncd.sync.batches import MAX_GROUP_FILES, SPREAD
from syncd.sync.landing import MAX_BATCH_FILES
from syncd.sync.memory import collection_paused

T = TypeVar("T")
R = TypeVar("R")
# File actions of one pass in flight at once: each waiting one is a task holding its whole
# coroutine chain (a few KiB), so 50,000 queued downloads as tasks cost well over 100 MiB.
# Room for two landing batches (landing.py) waiting to land, a full small-file group per slot
# in flight and as many queued (batches.py cuts groups to a share of the queue: with room for
# landing only, groups of 20,000 small files averaged ~90 files; now ~230, and the many mirror
# took 10.8, 15.6 s instead of 15.4, 20.0 s in A/B pairs, for 15 MiB more peak RSS).
MAX_PENDING_ACTIONS = 2 * MAX_BATCH_FILES + 2 * SPREAD * MAX_GROUP_FILES + 64


async def run_file_actions(
    run: Callable[[m.Action], Awaitable[int]], actions: Sequence[m.Action]
) -> list[int | Exception]:
    """A pass's file actions, MAX_PENDING_ACTIONS at a time, with no cycle collection
    meanwhile (memory.collection_paused)."""
    with collection_paused():
        return await gather_bounded(run, actions, MAX_PENDING_ACTIONS)


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
