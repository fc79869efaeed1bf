"""A pure in-memory model of both sides (local folder, server) and the base, for property tests.

`World.execute(plan)` applies actions the way the executor (syncd/sync/executor.py) does and
commits base the way it does, with one difference on purpose: what the executor merely
re-checks (path still as scanned, name still free) is asserted here, because with a snapshot
that nobody changes during execution a failed re-check is a planner bug. Contents are short
strings; their sha256 is what the trees carry. Every mutation bumps a clock (mtime, rev, ids).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from syncd.sync import model as m
from syncd.sync.model import RelPath


def sha(content: str) -> str:
    return hashlib.sha256(content.encode()).hexdigest()


@dataclass
class LFile:
    content: str
    inode: int
    mtime_ns: int


@dataclass
class RFile:
    file_id: str
    content: str
    rev: int
    mtime_ns: int


@dataclass
class World:
    local: dict[RelPath, LFile] = field(default_factory=dict)
    local_folders: dict[str, int] = field(default_factory=dict)  # name -> inode
    remote: dict[RelPath, RFile] = field(default_factory=dict)
    remote_folders: dict[str, tuple[str, int]] = field(default_factory=dict)  # -> (id, rev)
    base: m.BaseTree = field(default_factory=m.BaseTree)
    clock: int = 1000

    def tick(self) -> int:
        self.clock += 1
        return self.clock

    # ---- building a synced state -------------------------------------------------------

    @classmethod
    def synced(cls, files: dict[RelPath, str], folders: Iterable[str] = ()) -> World:
        """Both sides hold `files` (and `folders`, plus every file's folder); base agrees."""
        w = cls()
        for name in sorted(set(folders) | {p.folder for p in files}):
            w.local_folders[name] = w.tick()
            w.remote_folders[name] = (f"d{w.tick()}", w.tick())
            w.base.folders[name] = m.BaseFolder(
                name, w.remote_folders[name][0], w.local_folders[name]
            )
        for path, content in sorted(files.items()):
            w.local[path] = LFile(content, w.tick(), w.tick())
            w.remote[path] = RFile(f"f{w.tick()}", content, w.tick(), w.local[path].mtime_ns)
            w.base.files[path] = w._base_entry(path, w.local[path])
        return w

    def _base_entry(self, path: RelPath, lf: LFile) -> m.BaseFile:
        r = self.remote[path]
        return m.BaseFile(
            path,
            r.file_id,
            self.remote_folders[path.folder][0],
            r.rev,
            sha(r.content),
            len(r.content),
            lf.mtime_ns,
            lf.inode,
        )

    # ---- snapshots (what the scanner and the remote mirror hand the planner) -----------

    def scan(self) -> m.LocalTree:
        """Hash only when size/mtime/inode differ from base, as the scanner does."""
        files = {}
        for p, f in self.local.items():
            b = self.base.files.get(p)
            stat = (len(f.content), f.mtime_ns, f.inode)
            known = b is not None and stat == (b.size, b.mtime_ns, b.inode)
            files[p] = m.LocalFile(p, *stat, sha256=None if known else sha(f.content))
        folders = {n: m.LocalFolder(n, i) for n, i in self.local_folders.items()}
        return m.LocalTree(files, folders)

    def remote_tree(self) -> m.RemoteTree:
        files = {
            p: m.RemoteFile(
                p,
                r.file_id,
                self.remote_folders[p.folder][0],
                len(r.content),
                sha(r.content),
                r.mtime_ns,
                r.rev,
            )
            for p, r in self.remote.items()
        }
        folders = {n: m.RemoteFolder(n, fid, rev) for n, (fid, rev) in self.remote_folders.items()}
        return m.RemoteTree(files, folders)

    def base_tree(self) -> m.BaseTree:
        return m.BaseTree(dict(self.base.files), dict(self.base.folders))

    def contents(self) -> set[str]:
        return {sha(f.content) for f in self.local.values()} | {
            sha(r.content) for r in self.remote.values()
        }

    # ---- what users do on each side (each returns False when it does not apply) --------

    def local_write(self, path: RelPath, content: str) -> bool:
        if path.folder not in self.local_folders:
            return False
        old = self.local.get(path)
        inode = old.inode if old else self.tick()  # editing in place keeps the inode
        self.local[path] = LFile(content, inode, self.tick())
        return True

    def local_touch(self, path: RelPath) -> bool:
        if path not in self.local:
            return False
        self.local[path].mtime_ns = self.tick()
        return True

    def local_delete(self, path: RelPath) -> bool:
        return self.local.pop(path, None) is not None

    def local_move(self, src: RelPath, dst: RelPath) -> bool:
        if src not in self.local or dst in self.local or dst.folder not in self.local_folders:
            return False
        self.local[dst] = self.local.pop(src)  # same inode, same mtime
        return True

    def local_mkdir(self, name: str) -> bool:
        if name in self.local_folders:
            return False
        self.local_folders[name] = self.tick()
        return True

    def local_rmdir(self, name: str) -> bool:
        if self.local_folders.pop(name, None) is None:
            return False
        for p in [p for p in self.local if p.folder == name]:
            del self.local[p]
        return True

    def local_rename_folder(self, old: str, new: str) -> bool:
        if old not in self.local_folders or new in self.local_folders:
            return False
        self.local_folders[new] = self.local_folders.pop(old)
        for p in [p for p in self.local if p.folder == old]:
            self.local[RelPath(new, p.name)] = self.local.pop(p)
        return True

    def remote_write(self, path: RelPath, content: str) -> bool:
        if path.folder not in self.remote_folders:
            return False
        old = self.remote.get(path)
        file_id = old.file_id if old else f"f{self.tick()}"
        self.remote[path] = RFile(file_id, content, self.tick(), self.tick())
        return True

    def remote_delete(self, path: RelPath) -> bool:
        return self.remote.pop(path, None) is not None

    def remote_move(self, src: RelPath, dst: RelPath) -> bool:
        if src not in self.remote or dst in self.remote or dst.folder not in self.remote_folders:
            return False
        self.remote[dst] = replace(self.remote.pop(src), rev=self.tick())
        return True

    def remote_mkdir(self, name: str) -> bool:
        if name in self.remote_folders:
            return False
        self.remote_folders[name] = (f"d{self.tick()}", self.tick())
        return True

    def remote_rmdir(self, name: str) -> bool:
        if self.remote_folders.pop(name, None) is None:
            return False
        for p in [p for p in self.remote if p.folder == name]:
            del self.remote[p]
        return True

    def remote_rename_folder(self, old: str, new: str) -> bool:
        if old not in self.remote_folders or new in self.remote_folders:
            return False
        self.remote_folders[new] = (self.remote_folders.pop(old)[0], self.tick())
        for p in [p for p in self.remote if p.folder == old]:
            self.remote[RelPath(new, p.name)] = self.remote.pop(p)
        return True

    # ---- executing a plan --------------------------------------------------------------

    def execute(self, plan: m.Plan, *, reverse_files: bool = False) -> None:
        """Run the plan. File actions may run in any order in the engine (they run in
        parallel), so tests can reverse them; a KeepBoth and its copy's Upload stay paired."""
        early = [a for a in plan.actions if isinstance(a, _EARLY)]
        late = [a for a in plan.actions if isinstance(a, _LATE)]
        groups: list[list[m.Action]] = []
        for a in plan.actions:
            if isinstance(a, _EARLY + _LATE):
                continue
            if groups and isinstance(groups[-1][-1], m.KeepBoth) and isinstance(a, m.Upload):
                groups[-1].append(a)
            else:
                groups.append([a])
        if reverse_files:
            groups.reverse()
        for action in early + [a for g in groups for a in g] + late:
            self.apply(action)

    def apply(self, action: m.Action) -> None:
        getattr(self, "_" + type(action).__name__)(action)

    def _check_local(self, lf: m.LocalFile) -> LFile:
        f = self.local.get(lf.path)
        assert f is not None, f"{lf.path} is not there locally"
        assert (len(f.content), f.mtime_ns, f.inode) == (lf.size, lf.mtime_ns, lf.inode), lf
        return f

    def _remote_by_id(self, file_id: str) -> tuple[RelPath, RFile]:
        hits = [(p, r) for p, r in self.remote.items() if r.file_id == file_id]
        assert len(hits) == 1, f"remote file {file_id} missing"
        return hits[0]

    def _folder_name(self, folder_id: str) -> str:
        names = [n for n, (fid, _) in self.remote_folders.items() if fid == folder_id]
        assert len(names) == 1, f"remote folder {folder_id} missing"
        return names[0]

    def _commit(self, path: RelPath, lf: LFile) -> None:
        self.base.files[path] = self._base_entry(path, lf)

    def _Download(self, a: m.Download) -> None:
        path, r = self._remote_by_id(a.remote.file_id)
        assert (path, r.rev) == (a.remote.path, a.remote.rev)
        assert path.folder in self.local_folders, f"no local folder for {path}"
        if a.replaces is None:
            assert path not in self.local, f"download would overwrite {path}"
        else:
            self._check_local(a.replaces)
        self.local[path] = LFile(r.content, self.tick(), r.mtime_ns)
        self._commit(path, self.local[path])

    def _Upload(self, a: m.Upload) -> None:
        f = self._check_local(a.local)
        assert a.local.sha256 == sha(f.content), "upload of an unhashed or stale file"
        fid = (
            a.folder_id
            if a.folder_id is not None
            else self.base.folders[a.local.path.folder].folder_id
        )
        assert self._folder_name(fid) == a.local.path.folder
        old = self.remote.get(a.local.path)
        if a.base_rev is None:
            assert old is None, f"create-only upload but {a.local.path} exists remotely"
        else:
            assert old is not None and old.rev == a.base_rev, "If-Match would fail"
        file_id = old.file_id if old else f"f{self.tick()}"
        self.remote[a.local.path] = RFile(file_id, f.content, self.tick(), f.mtime_ns)
        self._commit(a.local.path, f)

    def _DeleteLocal(self, a: m.DeleteLocal) -> None:
        self._check_local(a.local)
        del self.local[a.local.path]
        self.base.files.pop(a.local.path, None)

    def _DeleteRemote(self, a: m.DeleteRemote) -> None:
        path, r = self._remote_by_id(a.base.file_id)
        assert r.rev == a.base.rev, "If-Match would fail"
        del self.remote[path]
        self.base.files.pop(a.base.path, None)

    def _RenameLocal(self, a: m.RenameLocal) -> None:
        f = self._check_local(a.local)
        path, r = self._remote_by_id(a.remote.file_id)
        assert (path, r.rev) == (a.remote.path, a.remote.rev)
        assert path not in self.local and path.folder in self.local_folders
        self.local[path] = self.local.pop(a.local.path)
        self.base.files.pop(a.local.path, None)
        self._commit(path, f)

    def _RenameRemote(self, a: m.RenameRemote) -> None:
        f = self._check_local(a.local)
        path, r = self._remote_by_id(a.base.file_id)
        assert (path, r.rev) == (a.base.path, a.base.rev), "If-Match would fail"
        fid = (
            a.folder_id
            if a.folder_id is not None
            else self.base.folders[a.local.path.folder].folder_id
        )
        assert self._folder_name(fid) == a.local.path.folder
        assert a.local.path not in self.remote, "name taken remotely"
        self.remote[a.local.path] = replace(self.remote.pop(path), rev=self.tick())
        self.base.files.pop(a.base.path, None)
        self._commit(a.local.path, f)

    def _KeepBoth(self, a: m.KeepBoth) -> None:
        self._check_local(a.local)
        copy = RelPath(a.local.path.folder, a.conflict_name)
        assert copy not in self.local and copy not in self.remote
        self.local[copy] = self.local.pop(a.local.path)
        self._Download(m.Download(a.remote, None))

    def _RecordBase(self, a: m.RecordBase) -> None:
        f = self._check_local(a.local)
        path, r = self._remote_by_id(a.remote.file_id)
        assert path == a.local.path == a.remote.path and r.rev == a.remote.rev
        assert f.content == r.content, "RecordBase of different contents"
        self._commit(path, f)

    def _ForgetBase(self, a: m.ForgetBase) -> None:
        self.base.files.pop(a.path, None)

    def _MakeLocalFolder(self, a: m.MakeLocalFolder) -> None:
        assert a.remote.name not in self.local_folders
        self.local_folders[a.remote.name] = self.tick()
        self.base.folders[a.remote.name] = m.BaseFolder(
            a.remote.name, a.remote.folder_id, self.local_folders[a.remote.name]
        )

    def _MakeRemoteFolder(self, a: m.MakeRemoteFolder) -> None:
        assert a.local.name not in self.remote_folders
        assert self.local_folders.get(a.local.name) == a.local.inode
        self.remote_folders[a.local.name] = (f"d{self.tick()}", self.tick())
        fid = self.remote_folders[a.local.name][0]
        self.base.folders[a.local.name] = m.BaseFolder(a.local.name, fid, a.local.inode)

    def _move_base_folder(self, old: str, new: m.BaseFolder) -> None:
        self.base.folders.pop(old, None)
        self.base.folders[new.name] = new
        for p in [p for p in self.base.files if p.folder == old]:
            b = self.base.files.pop(p)
            self.base.files[RelPath(new.name, p.name)] = replace(b, path=RelPath(new.name, p.name))

    def _RenameLocalFolder(self, a: m.RenameLocalFolder) -> None:
        old, new = a.base.name, a.remote.name
        assert old in self.local_folders and new not in self.local_folders
        self.local_folders[new] = self.local_folders.pop(old)
        for p in [p for p in self.local if p.folder == old]:
            self.local[RelPath(new, p.name)] = self.local.pop(p)
        # The executor writes base.inode here; the folder's real inode is what a re-scan
        # sees, so that is what base must hold (differs when the folder was re-created).
        inode = self.local_folders[new]
        self._move_base_folder(old, m.BaseFolder(new, a.base.folder_id, inode))

    def _RenameRemoteFolder(self, a: m.RenameRemoteFolder) -> None:
        old = self._folder_name(a.base.folder_id)
        new = a.local.name
        assert new not in self.remote_folders
        self.remote_folders[new] = (a.base.folder_id, self.tick())
        del self.remote_folders[old]
        for p in [p for p in self.remote if p.folder == old]:
            self.remote[RelPath(new, p.name)] = self.remote.pop(p)
        self._move_base_folder(a.base.name, m.BaseFolder(new, a.base.folder_id, a.local.inode))

    def _DeleteLocalFolder(self, a: m.DeleteLocalFolder) -> None:
        assert not any(p.folder == a.name for p in self.local), "folder not empty"
        self.local_folders.pop(a.name, None)
        self.base.folders.pop(a.name, None)

    def _DeleteRemoteFolder(self, a: m.DeleteRemoteFolder) -> None:
        name = self._folder_name(a.base.folder_id)
        listed = {(b.file_id, b.rev) for b in a.files}
        for p in [p for p in self.remote if p.folder == name]:
            r = self.remote.pop(p)
            assert (r.file_id, r.rev) in listed, f"folder delete takes unlisted {p}"
        del self.remote_folders[name]
        self.base.folders.pop(a.base.name, None)
        for b in a.files:
            self.base.files.pop(b.path, None)

    def _RecordFolder(self, a: m.RecordFolder) -> None:
        assert a.local.name == a.remote.name
        self.base.folders[a.local.name] = m.BaseFolder(
            a.local.name, a.remote.folder_id, a.local.inode
        )

    def _ForgetFolder(self, a: m.ForgetFolder) -> None:
        self.base.folders.pop(a.name, None)


_EARLY = (
    m.MakeLocalFolder,
    m.MakeRemoteFolder,
    m.RenameLocalFolder,
    m.RenameRemoteFolder,
    m.RecordFolder,
)
_LATE = (m.DeleteLocalFolder, m.DeleteRemoteFolder, m.ForgetFolder)
