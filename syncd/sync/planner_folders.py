"""Folder resolution of a plan (DESIGN §4, docs/architecture.md "Planner"): where each base
folder is on each side (by identity, else by name), the name it ends with, and its own action
(make, rename, record, or a delete / forget that runs after the file actions). Pure."""

from __future__ import annotations

from dataclasses import dataclass

from syncd.sync.model import (
    Action,
    BaseFolder,
    BaseTree,
    LocalFolder,
    LocalTree,
    MakeLocalFolder,
    MakeRemoteFolder,
    RecordFolder,
    RemoteFolder,
    RemoteTree,
    RenameLocalFolder,
    RenameRemoteFolder,
)


@dataclass
class Folder:
    """One folder under the name it has once the plan's folder actions ran ("final")."""

    final: str
    base: BaseFolder | None = None
    local: LocalFolder | None = None
    remote: RemoteFolder | None = None
    early: Action | None = None  # make / rename / record, runs before file actions
    late: str | None = None  # "delete_local" | "delete_remote" | "forget", runs after


def _side_name(
    base_name: str, found: str | None, names: set[str], others: set[str], rename_ok: bool
) -> tuple[str | None, bool]:
    """Where a base folder is on one side, and whether by identity (inode / folder id): at the
    name its identity has (a rename only to a name free in base and on the other side), else
    at its base name (re-created there), else gone (None)."""
    if found is not None and (found == base_name or (rename_ok and found not in others)):
        return found, True
    return (base_name if base_name in names else None), False


def resolve_folders(
    local: LocalTree, remote: RemoteTree, base: BaseTree, mode: str
) -> dict[str, Folder]:
    by_inode = {f.inode: f.name for f in sorted(local.folders.values(), key=lambda f: f.name)}
    by_id = {f.folder_id: f.name for f in remote.folders.values()}
    lnames, rnames, bnames = set(local.folders), set(remote.folders), set(base.folders)
    claimed_l: set[str] = set()
    claimed_r: set[str] = set()
    out: dict[str, Folder] = {}
    for bf in sorted(base.folders.values(), key=lambda f: f.name):
        lfound, rfound = by_inode.get(bf.inode), by_id.get(bf.folder_id)
        lfound = None if lfound in claimed_l else lfound
        rfound = None if rfound in claimed_r else rfound
        # backup mode never propagates a local rename, so it does not look for one
        lcur, lid = _side_name(bf.name, lfound, lnames, rnames | bnames, mode == "mirror")
        rcur, rid = _side_name(bf.name, rfound, rnames, lnames | bnames, True)
        # A rename applies to the same folder on the other side; when that side deleted or
        # re-created it, the rename is a change that wins over the delete (as for files):
        # the renamed folder then counts as a new folder.
        if lcur not in (None, bf.name) and not rid:
            lcur, lid = (bf.name if bf.name in lnames else None), False
        if rcur not in (None, bf.name) and not lid:
            rcur, rid = (bf.name if bf.name in rnames else None), False
        final = next((n for n in (lcur, rcur) if n not in (None, bf.name)), bf.name)
        claimed_l.update([lcur] if lcur else [])
        claimed_r.update([rcur] if rcur else [])
        lf = local.folders.get(lcur) if lcur else None
        rf = remote.folders.get(rcur) if rcur else None
        out[final] = Folder(final, bf, lf, rf)
    for name in sorted(lnames - claimed_l):
        out.setdefault(name, Folder(name)).local = local.folders[name]
    for name in sorted(rnames - claimed_r):
        out.setdefault(name, Folder(name)).remote = remote.folders[name]
    return out


def decide_folder(f: Folder, lchg: bool, rchg: bool, mode: str) -> None:
    """Folder action of one folder; lchg / rchg: the side holds changed or new files in it."""
    mirror = mode == "mirror"
    b, lf, rf = f.base, f.local, f.remote
    if b is None:
        if lf and rf:
            f.early = RecordFolder(lf, rf)
        elif lf:
            f.early = MakeRemoteFolder(lf) if mirror else None
        elif rf:
            f.early = MakeLocalFolder(rf)
    elif lf and rf:
        if lf.name != b.name:
            f.early = RenameRemoteFolder(b, lf)
        elif rf.name != b.name:
            f.early = RenameLocalFolder(b, rf)
        elif (lf.inode, rf.folder_id) != (b.inode, b.folder_id):
            f.early = RecordFolder(lf, rf)
    elif lf:  # gone remotely
        if not mirror:
            f.late = "forget"
        elif lchg:
            f.early = MakeRemoteFolder(lf)
        else:
            f.late = "delete_local"
    elif rf:  # gone locally
        if rchg:
            f.early = MakeLocalFolder(rf)
        elif mirror:
            f.late = "delete_remote"
    else:
        f.late = "forget"
