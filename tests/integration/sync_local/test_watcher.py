"""Watcher with real inotify on temp dirs: the right folders within a bounded deadline,
close-write marking, ignored files staying quiet, root loss and return, overflow, and a slowly
written file that only settles once it stops changing."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from syncd.sync.debounce import Batch
from syncd.sync.gate import gate
from syncd.sync.ignore import IgnoreRules
from syncd.sync.model import BaseTree, LocalFile, Plan, RelPath, Upload
from syncd.sync.scanner import scan
from syncd.sync.settle import SettleTracker
from syncd.sync.watcher import WATCHDOG_LOGGER, Watcher

DEADLINE_S = 10.0


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = tmp_path / "root"
    (r / "Alice").mkdir(parents=True)
    (r / "Bob").mkdir()
    (r / "Alice" / "old.jpg").write_bytes(b"old")
    return r


@pytest.fixture
async def watcher(root: Path) -> AsyncIterator[Watcher]:
    w = Watcher(root, IgnoreRules(), quiet_s=0.05, max_wait_s=0.5, root_check_s=0.1)
    w.start(asyncio.get_running_loop())
    yield w
    w.stop()


async def until(w: Watcher, done: Callable[[Batch], bool], what: str) -> Batch:
    """Merge batches until `done(merged)`; fail after a bounded deadline."""
    merged = Batch()

    async def collect() -> Batch:
        nonlocal merged
        while not done(merged):
            batch = await w.next_batch()
            assert batch is not None, "watcher stopped"
            merged = merged.merge(batch)
        return merged

    try:
        return await asyncio.wait_for(collect(), DEADLINE_S)
    except TimeoutError:
        raise AssertionError(f"no batch with {what} within {DEADLINE_S}s; got {merged}") from None


async def test_create_is_a_closed_file_in_its_folder(root: Path, watcher: Watcher) -> None:
    (root / "Alice" / "new.jpg").write_bytes(b"new")
    batch = await until(watcher, lambda b: RelPath("Alice", "new.jpg") in b.closed_paths, "close")
    assert "Alice" in batch.folders and "Bob" not in batch.folders
    assert not batch.full_rescan and not batch.root_gone


async def test_modify_delete_and_move_name_the_right_folders(root: Path, watcher: Watcher) -> None:
    with open(root / "Alice" / "old.jpg", "ab") as f:
        f.write(b" more")
    await until(watcher, lambda b: RelPath("Alice", "old.jpg") in b.closed_paths, "modify")
    (root / "Bob" / "x.jpg").write_bytes(b"x")
    await until(watcher, lambda b: "Bob" in b.folders, "Bob create")
    (root / "Bob" / "x.jpg").unlink()
    await until(watcher, lambda b: "Bob" in b.folders, "Bob delete")
    os.rename(root / "Alice" / "old.jpg", root / "Bob" / "moved.jpg")
    await until(watcher, lambda b: {"Alice", "Bob"} <= b.folders, "move across folders")


async def test_folder_create_and_rename_at_root(root: Path, watcher: Watcher) -> None:
    (root / "Campaign").mkdir()
    await until(watcher, lambda b: "Campaign" in b.folders, "new folder")
    os.rename(root / "Campaign", root / "Campaign 2026")
    await until(watcher, lambda b: {"Campaign", "Campaign 2026"} <= b.folders, "folder rename")


async def test_file_moved_in_from_outside_is_not_an_open_writer(
    root: Path, tmp_path: Path, watcher: Watcher
) -> None:
    outside = tmp_path / "download.jpg"
    outside.write_bytes(b"complete")
    os.rename(outside, root / "Bob" / "download.jpg")
    batch = await until(watcher, lambda b: "Bob" in b.folders, "move in")
    assert RelPath("Bob", "download.jpg") not in batch.written_paths


async def test_ignored_and_nested_paths_stay_quiet(root: Path, watcher: Watcher) -> None:
    (root / "Alice" / ".syncd-tmp-abc").write_bytes(b"partial")
    (root / "Alice" / "video.mp4.part").write_bytes(b"partial")
    (root / "Bob" / "Sub").mkdir()
    (root / "Bob" / "Sub" / "deep.jpg").write_bytes(b"deep")
    (root / "Campaign").mkdir()  # a sentinel event after the others
    batch = await until(watcher, lambda b: "Campaign" in b.folders, "sentinel")
    assert "Alice" not in batch.folders
    assert RelPath("Bob", "Sub") not in batch.written_paths | batch.closed_paths
    assert all(p.folder != "Alice" for p in batch.closed_paths | batch.written_paths)


async def test_marker_change_asks_for_a_full_rescan(root: Path, watcher: Watcher) -> None:
    (root / ".syncd-root").write_text("{}")
    await until(watcher, lambda b: b.full_rescan, "full rescan")


async def test_watchdog_overflow_warning_becomes_full_rescan(watcher: Watcher) -> None:
    # The very record watchdog logs on IN_Q_OVERFLOW (it rebuilds its watches silently).
    logging.getLogger(WATCHDOG_LOGGER).warning(
        "Inotify queue overflowed; filesystem events were lost"
    )
    batch = await until(watcher, lambda b: b.full_rescan, "overflow")
    assert not batch.root_gone


async def test_root_moved_away_and_back(root: Path, tmp_path: Path, watcher: Watcher) -> None:
    os.rename(root, tmp_path / "elsewhere")
    await until(watcher, lambda b: b.root_gone and b.full_rescan, "root gone")
    os.rename(tmp_path / "elsewhere", root)
    batch = await until(watcher, lambda b: b.full_rescan, "root back")
    assert not batch.root_gone
    (root / "Bob" / "after.jpg").write_bytes(b"x")  # watching resumed on the root
    await until(
        watcher, lambda b: RelPath("Bob", "after.jpg") in b.closed_paths, "event after return"
    )


async def test_root_deleted(root: Path, watcher: Watcher) -> None:
    for folder in ("Alice", "Bob"):
        for f in (root / folder).iterdir():
            f.unlink()
        (root / folder).rmdir()
    root.rmdir()
    await until(watcher, lambda b: b.root_gone, "root deleted")


async def test_stop_ends_the_iterator(root: Path) -> None:
    w = Watcher(root, IgnoreRules())
    w.start(asyncio.get_running_loop())
    w.stop()
    assert [b async for b in w.batches()] == []


async def test_slowly_written_file_uploads_only_once_closed(root: Path, watcher: Watcher) -> None:
    """Real inotify events through the tracker into the gate: while one writer appends (with
    pauses longer than the debounce) the upload waits; its close-write makes it go at once,
    without waiting for settle_s (60 s here)."""
    path = root / "Alice" / "slow.mp4"
    rel = RelPath("Alice", "slow.mp4")
    writer_done = threading.Event()

    def slow_writer() -> None:  # one open writer: 5 x 64 KiB with pauses, then close
        with open(path, "wb") as f:
            for _ in range(5):
                f.write(os.urandom(64 * 1024))
                f.flush()
                writer_done.wait(0.15)  # a pause in the workload, not an assertion
        writer_done.set()

    loop = asyncio.get_running_loop()
    tracker = SettleTracker()
    writing = loop.run_in_executor(None, slow_writer)
    uploaded: LocalFile | None = None

    async def drive() -> None:
        nonlocal uploaded
        while uploaded is None:
            batch = await watcher.next_batch()
            if batch is None:
                continue
            tracker.apply(batch, loop.time())
            local = scan(root, BaseTree(), IgnoreRules(), only={"Alice"}).tree.files.get(rel)
            if local is None or local.sha256 is None:
                continue
            finished_before_check = writer_done.is_set()
            gated = gate(
                Plan((Upload(local, "fo_A", None),)),
                now_ns=time.time_ns(),
                settle_s=60.0,
                quota=None,
                inflight_bytes=0,
                max_delete=50,
                deletes_approved=False,
                open_writers=tracker.open_writers(loop.time()),
                closed=tracker.closed(),
            )
            if gated.run_files:
                assert finished_before_check, "released while the writer was still writing"
                uploaded = local

    await asyncio.wait_for(drive(), DEADLINE_S)
    await writing
    assert uploaded is not None and uploaded.size == 5 * 64 * 1024 == path.stat().st_size
