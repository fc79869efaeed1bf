"""Pure gates between plan and execution: which uploads are complete (closed by their writer,
or settled), which fit the quota, and which deletes (on the server, or of local files to the
Trash) are held back because one batch would delete too much on that side (DESIGN §4, §5)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from syncd.sync import model as m

NS_PER_S = 1_000_000_000


def is_settled(local: m.LocalFile, now_ns: int, settle_s: float) -> bool:
    """A file is complete when it has not been modified for `settle_s`. A writer that keeps
    appending keeps bumping mtime, so a slowly written file waits until the writer is done."""
    return now_ns - local.mtime_ns >= settle_s * NS_PER_S


@dataclass(frozen=True)
class QuotaView:
    used_bytes: int
    limit_bytes: int

    @property
    def free_bytes(self) -> int:
        return max(0, self.limit_bytes - self.used_bytes)


@dataclass(frozen=True)
class Waiting:
    path: m.RelPath
    reason: str
    needed_bytes: int = 0
    free_bytes: int = 0


@dataclass
class Gated:
    run_first: list[m.Action] = field(default_factory=list)  # folder makes/renames, in order
    run_files: list[m.Action] = field(default_factory=list)  # file actions, may run in parallel
    run_last: list[m.Action] = field(default_factory=list)  # folder deletes/forgets
    waiting: list[Waiting] = field(default_factory=list)
    held: list[m.Action] = field(default_factory=list)
    unsettled_next_ns: int | None = None


# Sequential, before the parallel file actions: folders must exist before files go into them,
# and a KeepBoth must have moved the local version aside before its copy is uploaded.
_FIRST = (
    m.KeepBoth,
    m.MakeLocalFolder,
    m.MakeRemoteFolder,
    m.RenameLocalFolder,
    m.RenameRemoteFolder,
    m.RecordFolder,
)
_LAST = (m.DeleteLocalFolder, m.DeleteRemoteFolder, m.ForgetFolder)


def remote_delete_count(action: m.Action) -> int:
    if isinstance(action, m.DeleteRemote):
        return 1
    if isinstance(action, m.DeleteRemoteFolder):
        return len(action.files)
    return 0


def local_delete_count(action: m.Action) -> int:
    """Local files a remote-origin action moves to the Trash (a folder's files are counted by
    their own DeleteLocal actions)."""
    return 1 if isinstance(action, m.DeleteLocal) else 0


Side = Literal["local", "remote"]


def held_side(action: m.Action) -> Side | None:
    """Which side a held action would delete on: "remote", "local", or None."""
    if remote_delete_count(action):
        return "remote"
    if isinstance(action, m.DeleteLocal | m.DeleteLocalFolder):
        return "local"
    return None


def gate(
    plan: m.Plan,
    *,
    now_ns: int,
    settle_s: float,
    quota: QuotaView | None,
    inflight_bytes: int,
    max_delete: int,
    deletes_approved: bool,
    open_writers: frozenset[m.RelPath] = frozenset(),
    closed: frozenset[m.RelPath] = frozenset(),
) -> Gated:
    """Sort a plan into what runs now and what waits (unsettled, over quota, held)."""
    out = Gated()
    held_sides: set[Side] = set()
    if not deletes_approved:
        if sum(remote_delete_count(a) for a in plan.actions) > max_delete:
            held_sides.add("remote")
        if sum(local_delete_count(a) for a in plan.actions) > max_delete:
            held_sides.add("local")  # e.g. a remote view that lost most files: never trust it
    reserved = inflight_bytes
    for action in plan.actions:
        if held_side(action) in held_sides:
            out.held.append(action)
        elif isinstance(action, m.Upload):
            writer_open = action.local.path in open_writers
            complete = action.local.path in closed and not writer_open  # closed: push now
            if writer_open or not (complete or is_settled(action.local, now_ns, settle_s)):
                # An open writer's close-write event wakes the loop; the deadline is a fallback.
                start_ns = now_ns if writer_open else action.local.mtime_ns
                ready_ns = start_ns + int(settle_s * NS_PER_S)
                out.unsettled_next_ns = min(out.unsettled_next_ns or ready_ns, ready_ns)
                continue
            size = action.local.size
            if quota is not None and quota.used_bytes + reserved + size > quota.limit_bytes:
                free = max(0, quota.limit_bytes - quota.used_bytes - reserved)
                out.waiting.append(Waiting(action.local.path, "over quota", size, free))
                continue
            reserved += size
            out.run_files.append(action)
        elif isinstance(action, _FIRST):
            out.run_first.append(action)
        elif isinstance(action, _LAST):
            out.run_last.append(action)
        else:
            out.run_files.append(action)
    return out
