"""gather_bounded: every item runs once, at most `limit` at a time, failures kept as results
(a pass of 50,000 downloads holds ~1,000 tasks, not 50,000: issue 10 item 6)."""

from __future__ import annotations

import asyncio

import pytest

from syncd.sync.pool import gather_bounded


@pytest.mark.parametrize(("items", "limit"), [(0, 4), (3, 10), (50, 5), (200, 1)])
async def test_every_item_runs_once_and_never_more_than_limit_at_once(
    items: int, limit: int
) -> None:
    running, peak, seen = 0, 0, []

    async def run(i: int) -> int:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0)
        seen.append(i)
        running -= 1
        return i * 2

    results = await gather_bounded(run, list(range(items)), limit)
    assert sorted(seen) == list(range(items))
    assert sorted(r for r in results if isinstance(r, int)) == [i * 2 for i in range(items)]
    assert peak <= limit


async def test_a_failure_is_kept_and_the_rest_still_run() -> None:
    async def run(i: int) -> int:
        await asyncio.sleep(0)
        if i == 3:
            raise ValueError("boom")
        return i

    results = await gather_bounded(run, list(range(10)), 2)
    errors = [r for r in results if isinstance(r, Exception)]
    assert len(results) == 10 and [str(e) for e in errors] == ["boom"]
