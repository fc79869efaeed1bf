"""Pure sync planner: compares local now, remote now and base (what both sides held at the last
sync) and returns the actions that bring both sides together again (DESIGN §4; the rules as
built are in docs/architecture.md, "Planner")."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TypeVar

from syncd.protocol import name_key
from syncd.sync.model import (
    Action,
    BaseFile,
    BaseTree,
    DeleteLocal,
    DeleteLocalFolder,
    DeleteRemote,
    DeleteRemoteFolder,
    Download,
    ForgetBase,
    ForgetFolder,
    KeepBoth,
    LocalFile,
    LocalTree,
    MakeRemoteFolder,
    Plan,
    RecordBase,
    RelPath,
    RemoteFile,
    RemoteTree,
    RenameLocal,
    RenameLocalFolder,
    RenameRemote,
    RenameRemoteFolder,
    RootTraits,
    Upload,
)
from syncd.sync.planner_conflicts import conflict_name_in
from syncd.sync.planner_folders import Folder, decide_folder, resolve_folders

MODES = ("mirror", "backup")
SAME, CHANGED, NEW, DELETED, ABSENT = "same", "changed", "new", "deleted", "absent"
_F = TypeVar("_F", LocalFile, RemoteFile, BaseFile)


# ---- per-file comparisons --------------------------------------------------------------------


DEFAULT_TRAITS = RootTraits()


def _stat_same(local: LocalFile, base: BaseFile, traits: RootTraits) -> bool:
    return traits.same_stat(
        (local.size, local.mtime_ns, local.inode), (base.size, base.mtime_ns, base.inode)
    )


def local_unchanged(local: LocalFile, base: BaseFile, traits: RootTraits = DEFAULT_TRAITS) -> bool:
    """Unchanged vs base: same hash, or (not hashed) same size, mtime and inode (as far as the
    root's mtime granularity and inode stability tell)."""
    if local.sha256 is not None:
        return local.sha256 == base.sha256
    return _stat_same(local, base, traits)


def remote_unchanged(remote: RemoteFile, base: BaseFile) -> bool:
    return (remote.file_id, remote.rev, remote.sha256) == (base.file_id, base.rev, base.sha256)


def _local_sha(local: LocalFile, base: BaseFile | None, traits: RootTraits) -> str | None:
    """The local content hash when known (hashed, or provably the base content)."""
    if local.sha256 is not None:
        return local.sha256
    return base.sha256 if base is not None and _stat_same(local, base, traits) else None


def _lstate(local: LocalFile | None, base: BaseFile | None, traits: RootTraits) -> str:
    if local is None:
        return DELETED if base is not None else ABSENT
    if base is None:
        return NEW
    return SAME if local_unchanged(local, base, traits) else CHANGED


def _rstate(remote: RemoteFile | None, base: BaseFile | None) -> str:
    if remote is None:
        return DELETED if base is not None else ABSENT
    if base is None:
        return NEW
    return SAME if remote_unchanged(remote, base) else CHANGED


# ---- the planner -----------------------------------------------------------------------------


@dataclass
class _Ctx:
    """Working state of one plan() call, every path already in final folder names."""

    mode: str
    hostname: str
    now: datetime
    traits: RootTraits
    folders: dict[str, Folder]
    local: dict[RelPath, LocalFile]
    remote: dict[RelPath, RemoteFile]
    base: dict[RelPath, BaseFile]
    sources: tuple[LocalTree, RemoteTree]  # the whole snapshots, for conflict names
    used: set[RelPath] = field(default_factory=set)  # paths a rename already decided
    used_base: set[RelPath] = field(default_factory=set)
    taken: dict[str, set[str]] = field(default_factory=dict)  # name keys per folder + copies made
    actions: list[tuple[RelPath, int, Action]] = field(default_factory=list)

    @property
    def mirror(self) -> bool:
        return self.mode == "mirror"

    def folder_id(self, folder: str) -> str | None:
        """Remote id of `folder` once folder actions ran (None: made by this plan)."""
        f = self.folders.get(folder)
        if f is not None and isinstance(f.early, MakeRemoteFolder):
            return None
        if f is None or f.remote is None:
            raise ValueError(f"planner: no remote folder for {folder!r}")
        return f.remote.folder_id

    def add(self, path: RelPath, action: Action, seq: int = 0) -> None:
        self.actions.append((path, seq, action))


def _readdress(v: _F, q: RelPath) -> _F:
    return v if v.path == q else replace(v, path=q)


@dataclass(frozen=True)
class _Names:
    """Final folder name of each side's folder, and back. A folder the side's snapshot does
    not list (base files whose folder row is gone) keeps its name."""

    to_final: dict[str, str]
    to_side: dict[str, str]

    @classmethod
    def of(cls, pairs: Iterable[tuple[str, str]]) -> _Names:
        to_final = dict(pairs)
        return cls(to_final, {final: side for side, final in to_final.items()})

    def final(self, p: RelPath) -> RelPath:
        return RelPath(self.to_final.get(p.folder, p.folder), p.name)

    def side(self, files: Mapping[RelPath, _F], q: RelPath) -> _F | None:
        """The file this side has at final path `q`, addressed by `q`."""
        folder = self.to_side.get(q.folder)
        if folder is None and q.folder not in self.to_final:
            folder = q.folder
        v = None if folder is None else files.get(RelPath(folder, q.name))
        return None if v is None else _readdress(v, q)


def _translate(
    local: LocalTree,
    remote: RemoteTree,
    base: BaseTree,
    folders: dict[str, Folder],
    dirty: Collection[RelPath] | None,
) -> tuple[dict[RelPath, LocalFile], dict[RelPath, RemoteFile], dict[RelPath, BaseFile]]:
    """Re-address every file (or only the `dirty` ones) under the final folder names."""
    for tree, what in ((local, local.folders), (remote, remote.folders)):
        paths: Iterable[RelPath] = tree.files if dirty is None else dirty
        stray = [p for p in paths if p.folder not in what and p in tree.files]
        if stray:
            raise ValueError(f"planner: files in folders the snapshot does not list: {stray[:3]}")
    sides = (
        _Names.of((f.local.name, f.final) for f in folders.values() if f.local),
        _Names.of((f.remote.name, f.final) for f in folders.values() if f.remote),
        _Names.of((f.base.name, f.final) for f in folders.values() if f.base),
    )
    lnames, rnames, bnames = sides
    if dirty is None:
        finals = {lnames.final(p) for p in local.files}
        finals.update(rnames.final(p) for p in remote.files)
        finals.update(bnames.final(p) for p in base.files)
    else:  # a dirty path, under whichever side's folder it names
        finals = {names.final(p) for p in dirty for names in sides}
    lfiles = {q: lf for q in finals if (lf := lnames.side(local.files, q)) is not None}
    rfiles = {q: rf for q in finals if (rf := rnames.side(remote.files, q)) is not None}
    bfiles = {q: bf for q in finals if (bf := bnames.side(base.files, q)) is not None}
    return lfiles, rfiles, bfiles


def _changed_folders(ctx: _Ctx) -> tuple[set[str], set[str]]:
    lchg = {
        p.folder
        for p, v in ctx.local.items()
        if _lstate(v, ctx.base.get(p), ctx.traits) in (CHANGED, NEW)
    }
    rchg = {
        p.folder for p, v in ctx.remote.items() if _rstate(v, ctx.base.get(p)) in (CHANGED, NEW)
    }
    return lchg, rchg


def _renames(ctx: _Ctx) -> None:
    """File renames/moves: local by inode, remote by file id; applied as renames, never as
    delete plus transfer. Anything not clearly a rename is left to the decision table."""
    new_local: dict[int, LocalFile] = {}
    for p in sorted(ctx.local):
        if p not in ctx.base:
            new_local.setdefault(ctx.local[p].inode, ctx.local[p])
    new_remote = {r.file_id: r for p, r in ctx.remote.items() if p not in ctx.base}
    for p in sorted(ctx.base):
        b = ctx.base[p]
        lq = new_local.get(b.inode) if p not in ctx.local else None
        if lq is not None and (lq.path in ctx.used or not _same_content(lq, b, ctx.traits)):
            lq = None
        rr = new_remote.get(b.file_id) if p not in ctx.remote else None
        if rr is not None and (rr.path in ctx.used or rr.sha256 != b.sha256):
            rr = None
        if lq and rr:
            _both_moved(ctx, b, lq, rr)
        elif lq and ctx.mirror:
            _local_moved(ctx, b, lq)
        elif rr:
            _remote_moved(ctx, b, rr)


def _same_content(local: LocalFile, base: BaseFile, traits: RootTraits) -> bool:
    if local.sha256 is not None:
        return local.sha256 == base.sha256
    return traits.same_stat((local.size, local.mtime_ns, 0), (base.size, base.mtime_ns, 0))


def _use(ctx: _Ctx, base: BaseFile, *paths: RelPath) -> None:
    ctx.used_base.add(base.path)
    ctx.used.update(paths)


def _both_moved(ctx: _Ctx, b: BaseFile, lq: LocalFile, rr: RemoteFile) -> None:
    """Moved on both sides: same place -> record; else follow the remote (no transfer)."""
    if lq.path == rr.path:
        ctx.add(rr.path, RecordBase(replace(lq, sha256=b.sha256), rr))
    elif rr.path not in ctx.local and lq.path not in ctx.remote:
        ctx.add(rr.path, RenameLocal(lq, rr))
    else:
        return
    ctx.add(b.path, ForgetBase(b.path))
    _use(ctx, b, lq.path, rr.path)


def _local_moved(ctx: _Ctx, b: BaseFile, lq: LocalFile) -> None:
    r = ctx.remote.get(b.path)
    if r is None or not remote_unchanged(r, b) or lq.path in ctx.remote:
        return
    ctx.add(b.path, RenameRemote(b, lq, ctx.folder_id(lq.path.folder)))
    _use(ctx, b, lq.path, b.path)


def _remote_moved(ctx: _Ctx, b: BaseFile, rr: RemoteFile) -> None:
    lp = ctx.local.get(b.path)
    if lp is None or not local_unchanged(lp, b, ctx.traits) or rr.path in ctx.local:
        return
    ctx.add(b.path, RenameLocal(lp, rr))
    _use(ctx, b, rr.path, b.path)


def _decide_file(ctx: _Ctx, p: RelPath) -> None:
    """The decision table (DESIGN §4) for one path nobody renamed."""
    b = ctx.base.get(p) if p not in ctx.used_base else None
    lf = ctx.local.get(p) if p not in ctx.used else None
    rf = ctx.remote.get(p) if p not in ctx.used else None
    if lf and rf:
        sha = _local_sha(lf, b, ctx.traits)
        if sha is not None and sha == rf.sha256:  # same bytes on both sides
            if b is None or not (_stat_same(lf, b, ctx.traits) and remote_unchanged(rf, b)):
                ctx.add(p, RecordBase(replace(lf, sha256=sha), rf))
            return
    ls, rs = _lstate(lf, b, ctx.traits), _rstate(rf, b)
    if lf and ls in (CHANGED, NEW) and rs in (SAME, ABSENT, DELETED):
        if ctx.mirror:
            rev = b.rev if b is not None and rs == SAME else None
            ctx.add(p, Upload(lf, ctx.folder_id(p.folder), rev))
        elif b is not None and rs == DELETED:
            ctx.add(p, ForgetBase(p))  # backup: the local file just stays, as a local file
    elif rf and ls in (SAME, ABSENT, DELETED) and rs in (CHANGED, NEW):
        ctx.add(p, Download(rf, lf))
    elif lf and rf:  # changed / new on both sides, different bytes
        _keep_both(ctx, p, lf, rf)
    elif b is not None and ls == DELETED and rs == SAME:
        if ctx.mirror and ctx.folders.get(p.folder, Folder("")).late != "delete_remote":
            ctx.add(p, DeleteRemote(b))  # a remote folder delete takes these files with it
    elif lf and b is not None and rs == DELETED:  # local unchanged
        ctx.add(p, DeleteLocal(lf) if ctx.mirror else ForgetBase(p))
    elif b is not None and ls == DELETED and rs == DELETED:
        ctx.add(p, ForgetBase(p))


def _taken(ctx: _Ctx, folder: str) -> set[str]:
    """Name keys in final `folder` on both sides (all of them, also in a dirty-set plan), plus
    the conflict copies this plan already named there."""
    if folder not in ctx.taken:  # built on the folder's first conflict
        local, remote = ctx.sources
        ctx.taken[folder] = {
            name_key(p.name)
            for f in ctx.folders.values()
            if f.final == folder
            for side, files in ((f.local, local.files), (f.remote, remote.files))
            if side is not None
            for p in files
            if p.folder == side.name
        }
    return ctx.taken[folder]


def _keep_both(ctx: _Ctx, p: RelPath, lf: LocalFile, rf: RemoteFile) -> None:
    taken = _taken(ctx, p.folder)
    name = conflict_name_in(p.name, ctx.hostname, ctx.now, taken)
    taken.add(name_key(name))
    ctx.add(p, KeepBoth(lf, rf, name))
    if ctx.mirror:  # the copy is a new local file: send it along in the same pass
        copy = replace(lf, path=RelPath(p.folder, name), disk_name=None)
        ctx.add(p, Upload(copy, rf.folder_id, None), seq=1)


def _late_action(f: Folder, ctx: _Ctx) -> Action | None:
    if f.late == "delete_local":
        return DeleteLocalFolder(f.final)
    if f.late == "forget":
        return ForgetFolder(f.final)
    if f.late == "delete_remote" and f.base is not None:
        gone = tuple(
            b
            for p, b in sorted(ctx.base.items())
            if p.folder == f.final and p not in ctx.used_base and p in ctx.remote
        )
        return DeleteRemoteFolder(f.base, gone)
    return None


_EARLY_ORDER = {RenameLocalFolder: 0, RenameRemoteFolder: 0}  # renames free names: first


def plan(
    local: LocalTree,
    remote: RemoteTree,
    base: BaseTree,
    *,
    mode: str = "mirror",
    hostname: str,
    now: datetime,
    traits: RootTraits = DEFAULT_TRAITS,
    dirty: Collection[RelPath] | None = None,
) -> Plan:
    """Actions that make local and remote agree, in execution order: folder makes/renames,
    then file actions (sorted by path), then folder deletes/forgets. Pure and deterministic.
    `traits`: what the root's file system can tell apart (mtime granularity, stable inodes).
    `dirty`: plan only these paths (as any side names them; folders are always planned). The
    result equals the full plan whenever `dirty` holds every path where the sides differ, at a
    cost that grows with `dirty`, not with the library."""
    if mode not in MODES:
        raise ValueError(f"unknown sync mode {mode!r}; expected one of {MODES}")
    folders = resolve_folders(local, remote, base, mode)
    lfiles, rfiles, bfiles = _translate(local, remote, base, folders, dirty)
    ctx = _Ctx(mode, hostname, now, traits, folders, lfiles, rfiles, bfiles, (local, remote))
    lchg, rchg = _changed_folders(ctx)
    for f in folders.values():
        # A server folder re-created under the base name is new content there: never delete
        # it as if it were the base folder (a folder delete goes by id).
        recreated = (
            f.base is not None and f.remote is not None and f.remote.folder_id != f.base.folder_id
        )
        decide_folder(f, f.final in lchg, f.final in rchg or recreated, mode)
    _renames(ctx)
    for p in sorted(set(ctx.local) | set(ctx.remote) | set(ctx.base)):
        _decide_file(ctx, p)
    early = sorted(
        (f for f in folders.values() if f.early is not None),
        key=lambda f: (_EARLY_ORDER.get(type(f.early), 1), f.final),
    )
    late = [
        a for f in sorted(folders.values(), key=lambda f: f.final) if (a := _late_action(f, ctx))
    ]
    files = [a for _, _, a in sorted(ctx.actions, key=lambda t: (t[0], t[1]))]
    return Plan(tuple(f.early for f in early if f.early) + tuple(files) + tuple(late), mode=mode)
