"""What an incremental pass must plan: its dirty paths (local changes between two scans, remote
changes from the feed, follow-ups of the last plan, every path of a folder that itself changed,
rename partners found through indexes) and the local deletes held until a second look confirms
them (docs/architecture.md "Incremental passes"). No I/O: lstat is passed in."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property

import syncd.sync.model as m

Exists = Callable[[m.RelPath], bool]  # lstat finds an entry at this local path now


def action_paths(action: m.Action) -> set[m.RelPath]:
    """Every file path an action reads or writes (both ends of a rename, a conflict copy)."""
    out: set[m.RelPath] = set()
    for attr in ("local", "remote", "base", "replaces"):
        value = getattr(action, attr, None)
        if isinstance(value, m.LocalFile | m.RemoteFile | m.BaseFile):
            out.add(value.path)
    out.update(f.path for f in getattr(action, "files", ()))
    if isinstance(action, m.ForgetBase):
        out.add(action.path)
    if isinstance(action, m.KeepBoth):
        out.add(m.RelPath(action.local.path.folder, action.conflict_name))
    return out


def action_folders(action: m.Action) -> set[str]:
    """Local folders an executed action changed: rescanned by the next pass."""
    out = {p.folder for p in action_paths(action)}
    for attr in ("name", "local", "remote", "base"):
        value = getattr(action, attr, None)
        if isinstance(value, str):
            out.add(value)
        elif isinstance(value, m.LocalFolder | m.RemoteFolder | m.BaseFolder):
            out.add(value.name)
    return out


def local_changes(
    previous: m.LocalTree | None, tree: m.LocalTree, scanned: Iterable[str]
) -> tuple[set[m.RelPath], set[str]]:
    """Paths whose entry differs between the previous scan and this one in the `scanned`
    folders, and the folders that appeared, vanished or changed identity there."""
    old = previous or m.LocalTree()
    paths: set[m.RelPath] = set()
    folders: set[str] = set()
    for folder in scanned:
        if old.folders.get(folder) != tree.folders.get(folder):
            folders.add(folder)
    wanted = set(scanned)
    for files, other in ((old.files, tree.files), (tree.files, old.files)):
        paths.update(p for p, f in files.items() if p.folder in wanted and other.get(p) != f)
    return paths, folders


def differences(
    local: m.LocalTree, remote: m.RemoteTree, base: m.BaseTree, traits: m.RootTraits
) -> set[m.RelPath]:
    """Every path (as any side names it) where local, remote and base do not all agree: the
    dirty set of a full pass, whose plan then equals the full plan (planner.plan `dirty`) at
    the cost of one comparison per file. A local file agrees with its base when its stat is
    the same as far as the root tells (and a hash it has is the base's), like the planner's
    "unchanged"; a remote file when its id, rev and hash are the base's."""
    lfiles, rfiles, bfiles = local.files, remote.files, base.files
    # (a membership test per key: `keys() - keys()` built a set of the whole library first)
    out = {p for files in (bfiles, rfiles) for p in files if p not in lfiles}
    exact = traits.mtime_granularity_ns <= 1 and traits.stable_inodes
    same_stat = traits.same_stat
    for p, lf in lfiles.items():
        b, rf = bfiles.get(p), rfiles.get(p)
        if (
            b is None
            or rf is None
            or (lf.sha256 is not None and lf.sha256 != b.sha256)
            or rf.rev != b.rev
            or rf.file_id != b.file_id
            or rf.sha256 != b.sha256
        ):
            out.add(p)
        elif exact:
            if lf.mtime_ns != b.mtime_ns or lf.size != b.size or lf.inode != b.inode:
                out.add(p)
        elif not same_stat((lf.size, lf.mtime_ns, lf.inode), (b.size, b.mtime_ns, b.inode)):
            out.add(p)
    return out


def paths_in(folders: set[str], *trees: Mapping[m.RelPath, object]) -> set[m.RelPath]:
    """Every path under these folder names (a folder that changed as a whole)."""
    if not folders:
        return set()
    return {p for files in trees for p in files if p.folder in folders}


@dataclass
class Scope:
    """The dirty paths of one pass (as any side names them) and the whole folders in them."""

    paths: set[m.RelPath]
    folders: set[str]


def pass_scope(
    previous: m.LocalTree | None,
    tree: m.LocalTree,
    remote: m.RemoteTree,
    base: m.BaseTree,
    scanned: Iterable[str],
    remote_changes: tuple[set[m.RelPath], set[str]],
    follow_ups: set[m.RelPath],
) -> Scope:
    """`remote_changes`: paths and whole folders the feed touched since the last pass."""
    paths, folders = local_changes(previous, tree, scanned)
    paths |= remote_changes[0] | follow_ups
    folders |= remote_changes[1]
    paths |= paths_in(folders, tree.files, remote.files, base.files)
    paths |= rename_partners(paths, tree, remote, base)
    return Scope(paths, folders)


def rename_partners(
    paths: set[m.RelPath], tree: m.LocalTree, remote: m.RemoteTree, base: m.BaseTree
) -> set[m.RelPath]:
    """The other end of each rename a dirty path may be part of, through indexes (inode ->
    base path, file id -> base path, and back), so a move is planned as one even when only one
    end was hinted. The indexes are built only when a dirty path needs them."""
    idx = _Indexes(tree, remote, base)
    out: set[m.RelPath] = set()
    for p in paths:
        lf, rf, b = tree.files.get(p), remote.files.get(p), base.files.get(p)
        if b is None:
            if lf is not None and (q := idx.base_by_inode.get(lf.inode)) is not None:
                out.add(q)
            if rf is not None and (q := idx.base_by_id.get(rf.file_id)) is not None:
                out.add(q)
            continue
        if lf is None and (q := idx.local_by_inode.get(b.inode)) is not None:
            out.add(q)
        if rf is None and (q := idx.remote_by_id.get(b.file_id)) is not None:
            out.add(q)
    return out - paths


@dataclass
class _Indexes:
    """inode / file id -> path of each side, each built on first use."""

    tree: m.LocalTree
    remote: m.RemoteTree
    base: m.BaseTree

    @cached_property
    def base_by_inode(self) -> dict[int, m.RelPath]:
        return {b.inode: p for p, b in self.base.files.items()}

    @cached_property
    def base_by_id(self) -> dict[str, m.RelPath]:
        return {b.file_id: p for p, b in self.base.files.items()}

    @cached_property
    def local_by_inode(self) -> dict[int, m.RelPath]:
        return {f.inode: p for p, f in self.tree.files.items()}

    @cached_property
    def remote_by_id(self) -> dict[str, m.RelPath]:
        return {r.file_id: p for p, r in self.remote.files.items()}


def twins(paths: Iterable[m.RelPath], tree: m.LocalTree, base: m.BaseTree) -> list[m.RelPath]:
    """Base paths still in the tree whose inode a new local file (in `paths`) also has: one
    file seen at both ends of a move (a scan racing a rename, or a folder not rescanned), or a
    hard link. The caller looks at them again (lstat)."""
    new = [f for p in paths if (f := tree.files.get(p)) is not None and p not in base.files]
    if not new:
        return []
    by_inode = {b.inode: p for p, b in base.files.items()}
    out = []
    for f in new:
        q = by_inode.get(f.inode)
        if q is not None and q != f.path and q in tree.files:
            out.append(q)
    return out


@dataclass
class Held:
    dirty: set[m.RelPath]  # confirmed (or found moved): plan them now
    rescan: set[str]  # folders where an entry is back that the scan did not see
    next_ns: int | None  # when the next confirmation is due


MAX_PENDING_NS = 30 * 1_000_000_000  # deletes that keep coming are confirmed at least this often


class PendingDeletes:
    """A base path missing from a scan is a *pending* delete: the planner keeps seeing its last
    entry until no new delete has been seen for `confirm_ns` and a rescan of its folder and a
    second lstat still find nothing there. All pending deletes are confirmed together, so a
    big delete seen over several scans still meets the big-delete gate as one. A path whose
    inode shows up at another path is a move (planned at once, as a rename). A confirmed path
    stays confirmed until it is seen again or leaves the base."""

    def __init__(self) -> None:
        self.since: dict[m.RelPath, int] = {}  # when each was first missed
        self.confirmed: set[m.RelPath] = set()
        self.newest_ns = 0  # when the newest pending delete was first missed

    def due_at(self, confirm_ns: int) -> int | None:
        if not self.since:
            return None
        oldest = min(self.since.values())
        return min(self.newest_ns + confirm_ns, oldest + max(MAX_PENDING_NS, 10 * confirm_ns))

    def due(self, now_ns: int, confirm_ns: int) -> set[str]:
        """Folders to rescan now: their pending deletes are due for the second look."""
        at = self.due_at(confirm_ns)
        return {p.folder for p in self.since} if at is not None and now_ns >= at else set()

    def hold(
        self,
        candidates: Iterable[m.RelPath],
        scan: tuple[m.LocalTree, m.LocalTree | None, Iterable[str] | None],
        base: m.BaseTree,
        *,
        now_ns: int,
        confirm_ns: int,
        exists: Exists,
        stable_inodes: bool,
    ) -> Held:
        """`scan`: this scan's tree (pending entries are put back into it), the previous one,
        and the folders it looked at (None: all). Returns what is decided now."""
        tree, previous, scanned = scan
        looked = set(scanned) if scanned is not None else None
        held = Held(set(), set(), None)
        missing = []
        for p in sorted({*candidates, *self.since, *self.confirmed}):
            seen = looked is None or p.folder in looked
            if p not in base.files or (seen and p in tree.files):
                self.since.pop(p, None)
                self.confirmed.discard(p)
            elif seen and p not in tree.files and p not in self.confirmed:
                missing.append(p)
                if p not in self.since:
                    self.since[p] = self.newest_ns = now_ns
        # (a pending path in a folder not looked at keeps its put-back entry, copied)
        at = self.due_at(confirm_ns)
        is_due = at is not None and now_ns >= at
        inodes = {f.inode: p for p, f in tree.files.items()} if stable_inodes and missing else {}
        moved_folders = _moved_folders(tree, base) if stable_inodes and missing else set()
        for p in missing:
            target = moved_to(base.files[p], inodes, tree)
            if target is not None or p.folder in moved_folders or (is_due and not exists(p)):
                del self.since[p]
                self.confirmed.add(p)
                held.dirty.update(q for q in (p, target) if q is not None)
                continue
            if is_due:
                held.rescan.add(p.folder)  # there after all: the scan raced it
                self.since[p] = self.newest_ns = now_ns
            _put_back(tree, previous, base, p)
        held.next_ns = self.due_at(confirm_ns)
        return held


def moved_to(b: m.BaseFile, inodes: dict[int, m.RelPath], tree: m.LocalTree) -> m.RelPath | None:
    """Where the file moved: its inode at another path with its content (a freed inode number
    is soon reused by a new file)."""
    q = inodes.get(b.inode)
    f = tree.files.get(q) if q is not None else None
    if (
        f is None
        or (f.sha256 or b.sha256) != b.sha256
        or (f.size, f.mtime_ns) != (b.size, b.mtime_ns)
    ):
        return None
    return q


def _moved_folders(tree: m.LocalTree, base: m.BaseTree) -> set[str]:
    """Base folders missing from the tree whose inode is there under another name."""
    inodes = {f.inode for f in tree.folders.values()}
    return {
        name for name, f in base.folders.items() if name not in tree.folders and f.inode in inodes
    }


def _put_back(
    tree: m.LocalTree, previous: m.LocalTree | None, base: m.BaseTree, p: m.RelPath
) -> None:
    b = base.files[p]
    last = previous.files.get(p) if previous is not None else None
    tree.files[p] = last or m.LocalFile(p, b.size, b.mtime_ns, b.inode, b.sha256)
    if p.folder not in tree.folders:
        folder = previous.folders.get(p.folder) if previous is not None else None
        base_folder = base.folders.get(p.folder)
        inode = base_folder.inode if base_folder is not None else 0
        tree.folders[p.folder] = folder or m.LocalFolder(p.folder, inode)
