"""Turns inotify events under the sync root (watchdog thread) into debounced Batches on the
asyncio loop (DESIGN §4): events only say where to look, the scan is the truth. Also notices
the root itself disappearing or being replaced, and inotify queue overflows."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import unicodedata
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirModifiedEvent,
    DirMovedEvent,
    FileAttribEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers.inotify import InotifyObserver

from syncd.log import get_logger
from syncd.sync.debounce import Batch, Debouncer, EventKind
from syncd.sync.ignore import MARKER_NAME, IgnoreRules

__all__ = ["Batch", "Watcher"]

log = get_logger("syncd.watcher")

# Opens and close-without-write are left out on purpose: our own hashing and uploads read
# files, and those reads must not wake the loop. DirModifiedEvent is watchdog's synthetic
# "a child changed" echo: the child's own event already says where (and an ignored child,
# like our download temp file, must not wake its folder through the echo).
EVENT_FILTER = [
    FileCreatedEvent,
    DirCreatedEvent,
    FileDeletedEvent,
    DirDeletedEvent,
    FileMovedEvent,
    DirMovedEvent,
    FileModifiedEvent,
    FileAttribEvent,
    FileClosedEvent,
]
# Only a modification says a writer holds the file: a creation may be a hard link with no
# writer and no close-write to come (our own downloads are placed with link()), which would
# hold the user's next edit of a just-downloaded file for the whole writer timeout.
WRITE_EVENTS = (FileModifiedEvent,)
# watchdog rebuilds its watches after IN_Q_OVERFLOW but only tells its logger, so we listen
# there: lost events must become a full rescan.
WATCHDOG_LOGGER = "watchdog.observers.inotify_c"


class _Forward(FileSystemEventHandler):
    """Runs in the watchdog thread: hands every event to the loop, nothing else."""

    def __init__(self, watcher: Watcher, loop: asyncio.AbstractEventLoop) -> None:
        self._watcher = watcher
        self._loop = loop

    def on_any_event(self, event: FileSystemEvent) -> None:
        with contextlib.suppress(RuntimeError):  # loop closed during shutdown
            self._loop.call_soon_threadsafe(self._watcher.on_event, event)


class _OverflowSpy(logging.Handler):
    def __init__(self, watcher: Watcher, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(logging.WARNING)
        self._watcher = watcher
        self._loop = loop

    def emit(self, record: logging.LogRecord) -> None:
        if "overflow" in record.getMessage().lower():
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._watcher.on_overflow)


class Watcher:
    """`start(loop)`, then `async for batch in watcher.batches()`; `stop()` ends the iterator.

    Batches that the consumer has not taken yet are merged, so a slow consumer sees one
    bigger batch rather than a backlog. After the root disappears (one `root_gone` batch),
    the root is polled and watching resumes with a full-rescan batch once it is back."""

    def __init__(
        self,
        root: Path,
        rules: IgnoreRules,
        *,
        quiet_s: float = 0.2,
        max_wait_s: float = 2.0,
        folder_cap: int = 500,
        global_cap: int = 5000,
        root_check_s: float = 1.0,
    ) -> None:
        self.root = Path(os.path.abspath(root.expanduser()))
        self.rules = rules
        self._params: dict[str, Any] = {
            "quiet_s": quiet_s,
            "max_wait_s": max_wait_s,
            "folder_cap": folder_cap,
            "global_cap": global_cap,
        }
        self.root_check_s = root_check_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self._debouncer: Debouncer | None = None
        self._observer: Any = None
        self._spy: _OverflowSpy | None = None
        self._root_id: tuple[int, int] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._root_timer: asyncio.TimerHandle | None = None
        self._ready: Batch | None = None
        self._wakeup = asyncio.Event()
        self._stopped = False

    # ---- lifecycle ------------------------------------------------------------------------

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._debouncer = Debouncer(clock=loop.time, **self._params)
        self._spy = _OverflowSpy(self, loop)
        logging.getLogger(WATCHDOG_LOGGER).addHandler(self._spy)
        self._watch()
        self._root_timer = loop.call_later(self.root_check_s, self._check_root)

    def stop(self) -> None:
        self._stopped = True
        for timer in (self._timer, self._root_timer):
            if timer is not None:
                timer.cancel()
        self._unwatch()
        if self._spy is not None:
            logging.getLogger(WATCHDOG_LOGGER).removeHandler(self._spy)
        self._wakeup.set()

    def _watch(self) -> None:
        """Start an observer on the root; on failure report the root as gone (or, for an
        inotify limit, fall back to full rescans) instead of raising into the daemon."""
        assert self._loop is not None
        try:
            st = os.stat(self.root)
            # Full events: a file moved in from outside arrives as a move (no writer to wait
            # for), not as a create (whose writer will close it later).
            observer = InotifyObserver(generate_full_events=True)
            observer.schedule(
                _Forward(self, self._loop),
                str(self.root),
                recursive=True,
                event_filter=EVENT_FILTER,
            )
            observer.start()
        except OSError as exc:
            log.error("watch_failed", root=str(self.root), error=str(exc))
            if not self.root.is_dir():
                self._root_id = None
                self._debouncer_or_fail().root_gone()
            else:
                self._root_id = (st.st_dev, st.st_ino)
                self._debouncer_or_fail().overflow()
            self._schedule_flush()
            return
        self._observer = observer
        self._root_id = (st.st_dev, st.st_ino)
        log.info("watch_started", root=str(self.root))

    def _unwatch(self) -> None:
        observer, self._observer = self._observer, None
        if observer is not None:
            observer.stop()
            observer.join(timeout=5)

    def _debouncer_or_fail(self) -> Debouncer:
        if self._debouncer is None:
            raise RuntimeError("Watcher.start() was not called")
        return self._debouncer

    # ---- consumer side --------------------------------------------------------------------

    async def next_batch(self) -> Batch | None:
        """The next batch; None once stopped."""
        while self._ready is None and not self._stopped:
            self._wakeup.clear()
            await self._wakeup.wait()
        batch, self._ready = self._ready, None
        return batch

    async def batches(self) -> AsyncIterator[Batch]:
        while True:
            batch = await self.next_batch()
            if batch is None:
                return
            yield batch

    # ---- loop side (called via call_soon_threadsafe) --------------------------------------

    def on_event(self, event: FileSystemEvent) -> None:
        if self._stopped:
            return
        src = os.fsdecode(event.src_path)
        if isinstance(event, DirDeletedEvent) and src == str(self.root):
            self._root_lost("deleted")
            return
        if isinstance(event, DirModifiedEvent):
            return  # see EVENT_FILTER
        kind = EventKind.OTHER
        if isinstance(event, WRITE_EVENTS):
            kind = EventKind.WRITE
        elif isinstance(event, FileClosedEvent):
            kind = EventKind.CLOSE
        if src:  # empty: moved in from outside the root
            self._feed(src, kind, event.is_directory)
        dest = os.fsdecode(event.dest_path) if event.dest_path else ""
        if dest:  # empty for all but moves, and for a move out of the root
            # A file moved into place arrived whole (save-by-rename, a move in): complete.
            moved_in = isinstance(event, FileMovedEvent)
            self._feed(dest, EventKind.CLOSE if moved_in else kind, event.is_directory)
        self._schedule_flush()

    def on_overflow(self) -> None:
        if not self._stopped:
            log.warning("watch_overflowed", root=str(self.root))
            self._debouncer_or_fail().overflow()
            self._schedule_flush()

    def _feed(self, path: str, kind: EventKind, is_dir: bool) -> None:
        rel = os.path.relpath(path, self.root)
        if rel.startswith(".."):
            return
        parts = [unicodedata.normalize("NFC", p) for p in rel.split(os.sep)]
        # Deeper than folder/name is inside a nested folder, which is never synced.
        if len(parts) > 2:
            return
        if parts == [MARKER_NAME]:
            self._debouncer_or_fail().overflow()  # marker touched: re-check the whole root
            return
        if self.rules.is_ignored("/".join(parts), is_dir=is_dir):
            return
        name = parts[1] if len(parts) == 2 and not is_dir else None
        self._debouncer_or_fail().add(parts[0], name, kind)

    def _schedule_flush(self) -> None:
        due = self._debouncer_or_fail().due_at()
        if due is None or self._loop is None:
            return
        if self._timer is not None:
            if self._timer.when() <= due:
                return
            self._timer.cancel()
        self._timer = self._loop.call_at(due, self._flush)

    def _flush(self) -> None:
        self._timer = None
        batch = self._debouncer_or_fail().take()
        if batch is None:
            self._schedule_flush()  # newer events pushed the deadline out
            return
        self._ready = batch if self._ready is None else self._ready.merge(batch)
        self._wakeup.set()

    # ---- root identity --------------------------------------------------------------------

    def _check_root(self) -> None:
        """Poll: inotify says nothing when the root is moved away or a disk unmounted."""
        if self._stopped or self._loop is None:
            return
        try:
            st = os.stat(self.root)
            now_id: tuple[int, int] | None = (st.st_dev, st.st_ino)
        except OSError:
            now_id = None
        if self._root_id is not None and now_id != self._root_id:
            self._root_lost("moved or replaced" if now_id else "missing")
        elif self._root_id is None and now_id is not None:
            log.info("root_returned", root=str(self.root))
            self._watch()
            if self._observer is not None:
                self._debouncer_or_fail().overflow()
                self._schedule_flush()
        self._root_timer = self._loop.call_later(self.root_check_s, self._check_root)

    def _root_lost(self, how: str) -> None:
        if self._root_id is None:
            return  # already reported
        log.warning("root_gone", root=str(self.root), how=how)
        self._unwatch()
        self._root_id = None
        self._debouncer_or_fail().root_gone()
        self._schedule_flush()
