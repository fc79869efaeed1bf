"""The watcher's write and close events per path, for the gate (DESIGN §4): a file whose
writer still holds it waits; one whose writer closed it, or that was moved in whole, may upload
at once; for the rest the gate's stat rule decides (mtime at least `settle_s` old). Pure:
times are passed in (monotonic seconds), nothing is read from disk here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from syncd.sync.debounce import Batch
from syncd.sync.model import RelPath

WRITER_TIMEOUT_S = 30.0


@dataclass
class _Track:
    since_s: float  # when the last event was seen (monotonic)
    open_writer: bool  # last event a write with no close-write after it; else a close/move-in


class SettleTracker:
    """Per-path memory of the last write or close event.

    A path whose last event was a write is held until it is closed, or for `writer_timeout_s`
    (a writer that keeps the file open but stopped writing, or a close event lost to a watcher
    overflow); after that the stat rule decides. A path whose last event was a close-write or
    a move into the root is complete: it need not wait for `settle_s`."""

    def __init__(self, writer_timeout_s: float = WRITER_TIMEOUT_S) -> None:
        self.writer_timeout_s = writer_timeout_s
        self._tracks: dict[RelPath, _Track] = {}

    def apply(self, batch: Batch, now: float) -> None:
        """Learn the write/close events of a watcher batch. Lost events (a full rescan, coarse
        folders) forget what we knew there: the stat rule decides again."""
        if batch.full_rescan:
            self._forget_where(lambda _path: True)
        elif batch.coarse_folders:
            self._forget_where(lambda path: path.folder in batch.coarse_folders)
        for path in batch.written_paths:
            self._tracks[path] = _Track(since_s=now, open_writer=True)
        for path in batch.closed_paths:
            self._tracks[path] = _Track(since_s=now, open_writer=False)

    def open_writers(self, now: float) -> frozenset[RelPath]:
        """Paths whose last event was a write with no close-write yet (within the writer
        timeout): their writer may still be appending, whatever the mtime says."""
        return frozenset(
            p
            for p, t in self._tracks.items()
            if t.open_writer and now - t.since_s < self.writer_timeout_s
        )

    def closed(self) -> frozenset[RelPath]:
        """Paths whose last event was a close-write or a move in: complete now."""
        return frozenset(p for p, t in self._tracks.items() if not t.open_writer)

    def forget(self, path: RelPath) -> None:
        """Drop a path (uploaded, deleted, or no longer needing an upload)."""
        self._tracks.pop(path, None)

    def _forget_where(self, predicate: Callable[[RelPath], bool]) -> None:
        for path in [p for p in self._tracks if predicate(p)]:
            del self._tracks[path]
