"""Decides when a local file is complete enough to upload (DESIGN §4): its writer closed it
(or no writer is known) and its size and mtime stayed the same for `settle_s`. Pure: times are
passed in (monotonic seconds), nothing is read from disk here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from syncd.sync.debounce import Batch
from syncd.sync.model import LocalFile, RelPath


class Stat(NamedTuple):
    size: int
    mtime_ns: int
    inode: int

    @classmethod
    def of(cls, local: LocalFile) -> Stat:
        return cls(local.size, local.mtime_ns, local.inode)


def is_settled(first_seen_stat: Stat, now_stat: Stat, elapsed_s: float, settle_s: float) -> bool:
    """Same size, mtime and inode as when first seen, and that for at least `settle_s`."""
    return first_seen_stat == now_stat and elapsed_s >= settle_s


@dataclass
class _Track:
    stat: Stat | None  # None: only an event seen so far, no scan yet
    since_s: float  # when `stat` was first seen (monotonic)
    open_writer: bool  # last event was a write, no close-write after it
    answered: bool = False  # ready() said yes for this stat: no deadline pends any more


class SettleTracker:
    """Per-path memory of the last stat seen and of write/close events.

    A path whose last event was a write (no close-write yet) is held until it is closed, or
    until its stat has been stable for `writer_timeout_s` (a writer that keeps the file open
    but stopped writing, or a close event lost to a watcher overflow)."""

    def __init__(self, settle_s: float = 1.0, writer_timeout_s: float = 30.0) -> None:
        self.settle_s = settle_s
        self.writer_timeout_s = max(writer_timeout_s, settle_s)
        self._tracks: dict[RelPath, _Track] = {}

    def apply(self, batch: Batch, now: float) -> None:
        """Learn the write/close events of a watcher batch."""
        if batch.full_rescan:
            self._forget_writers(lambda _path: True)
        elif batch.coarse_folders:
            self._forget_writers(lambda path: path.folder in batch.coarse_folders)
        for path in batch.written_paths:
            self.note_written(path, now)
        for path in batch.closed_paths:
            self.note_closed(path, now)

    def note_written(self, path: RelPath, now: float) -> None:
        track = self._tracks.get(path)
        if track is None:
            self._tracks[path] = _Track(stat=None, since_s=now, open_writer=True)
        else:
            track.open_writer = True
            track.answered = False

    def note_closed(self, path: RelPath, now: float) -> None:
        track = self._tracks.get(path)
        if track is None:
            self._tracks[path] = _Track(stat=None, since_s=now, open_writer=False)
        else:
            track.open_writer = False

    def ready(self, path: RelPath, stat: Stat, now: float) -> bool:
        """True when `path`, seen now with `stat`, may be uploaded. Call it with each scan's
        stat: a changed stat restarts the settle time."""
        track = self._tracks.get(path)
        if track is None or track.stat != stat:
            writer = track.open_writer if track is not None else False
            self._tracks[path] = _Track(stat=stat, since_s=now, open_writer=writer)
            return self.settle_s <= 0 and not writer
        elapsed_s = now - track.since_s
        if track.open_writer and elapsed_s < self.writer_timeout_s:
            return False
        track.answered = is_settled(track.stat, stat, elapsed_s, self.settle_s)
        return track.answered

    def pending(self) -> float | None:
        """Earliest time at which a tracked, not yet settled path may become ready: the engine
        rescans its folder then. None when nothing waits."""
        deadlines = [
            self._deadline(t)
            for t in self._tracks.values()
            if t.stat is not None and not t.answered
        ]
        return min(deadlines, default=None)

    def waiting(self, now: float) -> set[RelPath]:
        """Tracked paths whose settle deadline is still ahead of `now`."""
        return {
            p
            for p, t in self._tracks.items()
            if not t.answered and (t.stat is None or self._deadline(t) > now)
        }

    def open_writers(self, now: float) -> frozenset[RelPath]:
        """Paths whose last event was a write with no close-write yet (within the writer
        timeout): their writer may still be appending, whatever the mtime says."""
        return frozenset(
            p
            for p, t in self._tracks.items()
            if t.open_writer and now - t.since_s < self.writer_timeout_s
        )

    def forget(self, path: RelPath) -> None:
        """Drop a path (uploaded, deleted, or no longer needing an upload)."""
        self._tracks.pop(path, None)

    def _deadline(self, track: _Track) -> float:
        wait_s = self.writer_timeout_s if track.open_writer else self.settle_s
        return track.since_s + wait_s

    def _forget_writers(self, predicate: Callable[[RelPath], bool]) -> None:
        for path, track in self._tracks.items():
            if predicate(path):
                track.open_writer = False
