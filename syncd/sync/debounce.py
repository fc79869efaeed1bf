"""Coalesces file system events into batches of folders to rescan (DESIGN §4): quiet period,
max wait, a cap per folder and a global overflow that turns into a full rescan. Pure: the
clock is injected, there is no event loop and no I/O here."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

from syncd.sync.model import RelPath


class EventKind(Enum):
    WRITE = "write"  # created / modified / moved in: a writer may still hold it open
    CLOSE = "close"  # close-write: the writer is done (for now)
    OTHER = "other"  # delete, move out, attribute change: only says "look here"


@dataclass(frozen=True)
class Batch:
    """Where to look. `closed_paths` / `written_paths` say whose last event was a close-write /
    a write; `coarse_folders` lost that per-path detail (cap reached) and `full_rescan` lost
    everything, so settle logic must fall back to stat stability there."""

    folders: frozenset[str] = frozenset()
    full_rescan: bool = False
    closed_paths: frozenset[RelPath] = frozenset()
    written_paths: frozenset[RelPath] = frozenset()
    coarse_folders: frozenset[str] = frozenset()
    root_gone: bool = False

    def merge(self, other: Batch) -> Batch:
        """`other` is newer: for a path in both, its last event wins."""
        closed = (self.closed_paths - other.written_paths) | other.closed_paths
        written = (self.written_paths - other.closed_paths) | other.written_paths
        return Batch(
            folders=self.folders | other.folders,
            full_rescan=self.full_rescan or other.full_rescan,
            closed_paths=closed,
            written_paths=written,
            coarse_folders=self.coarse_folders | other.coarse_folders,
            root_gone=self.root_gone or other.root_gone,
        )


@dataclass
class _Pending:
    first_s: float
    last_s: float
    folders: set[str] = field(default_factory=set)
    paths: dict[str, dict[str, EventKind]] = field(default_factory=dict)  # folder -> name -> kind
    coarse: set[str] = field(default_factory=set)
    path_count: int = 0
    full_rescan: bool = False
    root_gone: bool = False


class Debouncer:
    """Feed it with `add()`; ask `due_at()` when to come back and `take()` the batch."""

    def __init__(
        self,
        *,
        quiet_s: float = 0.2,
        max_wait_s: float = 2.0,
        folder_cap: int = 500,
        global_cap: int = 5000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.quiet_s = quiet_s
        self.max_wait_s = max_wait_s
        self.folder_cap = folder_cap
        self.global_cap = global_cap
        self._clock = clock
        self._pending: _Pending | None = None

    def _touch(self) -> _Pending:
        now = self._clock()
        if self._pending is None:
            self._pending = _Pending(first_s=now, last_s=now)
        else:
            self._pending.last_s = now
        return self._pending

    def add(self, folder: str, name: str | None = None, kind: EventKind = EventKind.OTHER) -> None:
        """An event on root-level entry `folder` (name None) or on file `folder/name`."""
        pending = self._touch()
        pending.folders.add(folder)
        if name is None or pending.full_rescan or folder in pending.coarse:
            return
        names = pending.paths.setdefault(folder, {})
        if name not in names:
            pending.path_count += 1
            names[name] = kind
        elif kind is not EventKind.OTHER:
            names[name] = kind  # OTHER (attrib, delete) does not tell whether a writer is done
        if len(names) > self.folder_cap:
            # Too much detail for one folder: rescanning it whole is as cheap and bounded.
            pending.coarse.add(folder)
            pending.path_count -= len(pending.paths.pop(folder))
        if pending.path_count > self.global_cap:
            self.overflow()

    def overflow(self) -> None:
        """Events were lost or too many are pending: the next batch is a full rescan."""
        pending = self._touch()
        pending.full_rescan = True
        pending.paths.clear()
        pending.coarse.clear()
        pending.folders.clear()
        pending.path_count = 0

    def root_gone(self) -> None:
        """The root was deleted or moved away: due at once, no quiet period."""
        pending = self._touch()
        self.overflow()
        pending.root_gone = True

    def due_at(self) -> float | None:
        """Clock time at which `take()` returns the pending batch; None if nothing pends."""
        p = self._pending
        if p is None:
            return None
        if p.root_gone:
            return p.last_s
        return min(p.last_s + self.quiet_s, p.first_s + self.max_wait_s)

    def take(self) -> Batch | None:
        """The pending batch if it is due (quiet period passed or max wait reached)."""
        due = self.due_at()
        if due is None or self._clock() < due:
            return None
        return self.flush()

    def flush(self) -> Batch | None:
        """The pending batch now, due or not (shutdown, tests)."""
        p, self._pending = self._pending, None
        if p is None:
            return None
        closed: set[RelPath] = set()
        written: set[RelPath] = set()
        for folder, names in p.paths.items():
            for name, kind in names.items():
                if kind is EventKind.CLOSE:
                    closed.add(RelPath(folder, name))
                elif kind is EventKind.WRITE:
                    written.add(RelPath(folder, name))
        return Batch(
            folders=frozenset(p.folders),
            full_rescan=p.full_rescan,
            closed_paths=frozenset(closed),
            written_paths=frozenset(written),
            coarse_folders=frozenset(p.coarse),
            root_gone=p.root_gone,
        )
