"""Builds the LocalTree snapshot of the sync root (DESIGN §2, §4): stat only, never following
symlinks; SHA-256 only for files whose size/mtime/inode differ from what is already known.
Disk names are read back as remote names (NFC, and the state DB's name mappings). Everything
that is not synced (nested folders, root files, symlinks, special files, bad names, unreadable
files) is reported as Skipped, never silently dropped."""

from __future__ import annotations

import hashlib
import os
import stat
import time
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from syncd.errors import RootMissingError
from syncd.log import get_logger
from syncd.protocol import name_key
from syncd.sync.ignore import TEMP_PREFIX, IgnoreRules
from syncd.sync.localnames import NameMap
from syncd.sync.model import (
    BaseFile,
    BaseTree,
    LocalFile,
    LocalFolder,
    LocalTree,
    RelPath,
    RootTraits,
)
from syncd.sync.skipped import (
    INVALID_UTF8,
    NESTED,
    SYMLINK,
    display,
    name_refused,
    special_kind,
    valid_utf8,
)
from syncd.sync.skipped import Skipped as Skipped  # (engine.py imports it from here)

log = get_logger("syncd.scanner")
# A file hashed this soon after its mtime may be rewritten within the same timestamp tick
# (the kernel's coarse clock: 1-10 ms) without its stat changing: such a hash is re-checked by
# the next scan (git's "racily clean" rule). Generous, since a re-read is cheap.
RACY_NS = 100_000_000

CHUNK_BYTES = 1024 * 1024
Hasher = Callable[[Path], tuple[str, int]]


@dataclass(frozen=True)
class ScanResult:
    tree: LocalTree
    skipped: list[Skipped]
    scanned: frozenset[str] | None = None  # folders rescanned; None: the whole root
    hashed: int = 0  # files read and hashed by this scan
    # (remote folder or '' for the root, disk name) of name mappings whose disk entry is gone
    stale_mappings: list[tuple[str, str]] = field(default_factory=list)
    # A full scan listed every folder of the root and found none of our temp files in them:
    # nothing for a temp sweep to do (until a download runs).
    temp_free: bool = False


def hash_file(path: Path) -> tuple[str, int]:
    """(sha256 hex, bytes read), streamed in 1 MiB chunks. Refuses symlinks and non-regular
    files at open time, so a swap after the scan's lstat cannot make us follow one."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    with open(fd, "rb", buffering=0) as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"{path} is not a regular file")
        digest = hashlib.sha256()
        size = 0
        while chunk := f.read(CHUNK_BYTES):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _as_local(base: BaseFile) -> LocalFile:
    return LocalFile(base.path, base.size, base.mtime_ns, base.inode, base.sha256)


@dataclass
class _Scan:
    root: Path
    base: BaseTree
    rules: IgnoreRules
    previous: LocalTree | None
    hasher: Hasher
    traits: RootTraits
    mappings: NameMap
    now_ns: int
    files: dict[RelPath, LocalFile] = field(default_factory=dict)
    folders: dict[str, LocalFolder] = field(default_factory=dict)
    skipped: list[Skipped] = field(default_factory=list)
    hashed: int = 0
    listed: dict[str, set[str]] = field(default_factory=dict)  # mapping folder -> disk names
    root_dirs: int = 0  # directories at the root (symlinks not counted)
    listed_dirs: int = 0  # of those, the folders this scan listed
    temps: int = 0  # our temp files (TEMP_PREFIX) in the folders this scan listed
    _by_inode: dict[int, BaseFile] | None = None
    _base_names: dict[str, set[str]] | None = None  # folder -> synced names

    def base_names(self, folder: str) -> set[str]:
        if self._base_names is None:  # only a scan that lists a folder needs it
            self._base_names = {}
            for path in self.base.files:
                self._base_names.setdefault(path.folder, set()).add(path.name)
        return self._base_names.get(folder, set())

    def base_by_inode(self, inode: int) -> BaseFile | None:
        """Built on first use: most scans find every hash by path."""
        if self._by_inode is None:
            self._by_inode = {b.inode: b for b in self.base.files.values()}
        return self._by_inode.get(inode)

    def skip(self, rel_disk: str, reason: str) -> None:
        self.skipped.append(Skipped(display(rel_disk), reason))

    def entries(
        self, directory: Path, prefix: str, known: Iterable[str], folder: str
    ) -> list[tuple[os.DirEntry[str], str]]:
        """Entries of `directory` with their remote names (NFC, or the name a mapping of
        `folder` gives the disk name), minus bad and clashing names (same name_key: the server
        keeps names unique regardless of Unicode form and case). On a clash the name already
        synced (`known`) wins, then the one spelled as is, so the choice does not depend on
        order and never drops a synced file."""
        with os.scandir(directory) as it:
            listed = list(it)
        mapped = self.mappings.get(folder, {})
        if folder in self.mappings:
            self.listed[folder] = {entry.name for entry in listed}
        if not prefix:  # the root
            self.root_dirs = sum(1 for entry in listed if entry.is_dir(follow_symlinks=False))
        else:
            self.temps += sum(1 for entry in listed if entry.name.startswith(TEMP_PREFIX))
        named: list[tuple[os.DirEntry[str], str]] = []
        for entry in listed:
            name = entry.name
            if name.isascii():  # valid UTF-8 and NFC as is: most names
                named.append((entry, mapped.get(name) or name) if mapped else (entry, name))
                continue
            if not valid_utf8(name):
                self.skip(prefix + name, INVALID_UTF8)
                continue
            nfc = unicodedata.normalize("NFC", name)
            named.append((entry, mapped.get(name) or mapped.get(nfc) or nfc))
        ascii_only = all(nfc.isascii() for _entry, nfc in named)
        if ascii_only and len({nfc.lower() for _entry, nfc in named}) == len(named):
            return named  # no two names clash (most folders): no winner to choose
        synced = set(known)
        named.sort(key=lambda pair: (pair[1] not in synced, pair[0].name != pair[1], pair[0].name))
        seen: dict[str, tuple[str, str]] = {}
        kept: list[tuple[os.DirEntry[str], str]] = []
        for entry, nfc in named:
            if (key := nfc.lower() if nfc.isascii() else name_key(nfc)) in seen:
                other, other_nfc = seen[key]
                how = "after Unicode normalisation" if other_nfc == nfc else "but for case"
                self.skip(prefix + entry.name, f"name clashes with {other!r} {how}")
                continue
            seen[key] = (entry.name, nfc)
            kept.append((entry, nfc))
        return kept

    def root_entry(self, entry: os.DirEntry[str], nfc: str) -> None:
        try:
            st = entry.stat(follow_symlinks=False)
        except FileNotFoundError:
            return  # vanished during the scan: simply absent
        is_dir = stat.S_ISDIR(st.st_mode)
        if self.rules.is_ignored(nfc, is_dir=is_dir):
            return
        if stat.S_ISLNK(st.st_mode):
            self.skip(entry.name, SYMLINK)
        elif stat.S_ISREG(st.st_mode):
            self.skip(entry.name, NESTED)
        elif not is_dir:
            self.skip(entry.name, f"special file ({special_kind(st.st_mode)}): not synced")
        elif (problem := name_refused(nfc)) is not None:
            self.skip(entry.name, f"name not allowed: {problem}")
        else:
            self.folder(entry, nfc, st.st_ino)

    def folder(self, entry: os.DirEntry[str], nfc: str, inode: int) -> None:
        disk = None if entry.name == nfc else entry.name
        try:
            known = self.base_names(nfc)
            children = self.entries(Path(entry.path), entry.name + "/", known, nfc)
        except (FileNotFoundError, NotADirectoryError):
            return  # removed or replaced while we looked
        except OSError as exc:
            self.skip(entry.name, f"cannot read folder: {exc.strerror or exc}")
            self.keep_known(nfc)
            return
        self.folders[nfc] = LocalFolder(nfc, inode, disk)
        self.listed_dirs += 1
        prefix = entry.name + "/"
        for child, child_nfc in children:
            self.child(child, RelPath(nfc, child_nfc), prefix)

    def keep_known(self, folder: str) -> None:
        """An unreadable folder keeps what we knew of it: absent would read as deleted."""
        if self.previous is not None and folder in self.previous.folders:
            self.folders[folder] = self.previous.folders[folder]
            known: Iterable[LocalFile] = self.previous.files.values()
        else:
            base_folder = self.base.folders.get(folder)
            if base_folder is not None:
                self.folders[folder] = LocalFolder(folder, base_folder.inode)
            known = (_as_local(b) for b in self.base.files.values())
        self.files.update((f.path, f) for f in known if f.path.folder == folder)

    def child(self, entry: os.DirEntry[str], rel: RelPath, prefix: str) -> None:
        try:
            st = entry.stat(follow_symlinks=False)
        except FileNotFoundError:
            return
        mode = st.st_mode
        if self.rules.is_ignored(f"{rel.folder}/{rel.name}", is_dir=stat.S_ISDIR(mode)):
            return
        if stat.S_ISLNK(mode):
            self.skip(prefix + entry.name, SYMLINK)
        elif stat.S_ISDIR(mode):
            self.skip(prefix + entry.name, NESTED)
        elif not stat.S_ISREG(mode):
            self.skip(prefix + entry.name, f"special file ({special_kind(mode)}): not synced")
        elif (problem := name_refused(rel.name)) is not None:
            self.skip(prefix + entry.name, f"name not allowed: {problem}")
        else:
            disk = None if entry.name == rel.name else entry.name
            b = self.base.files.get(rel)
            if b is None:
                self.file(entry.path, rel, st, disk, prefix + entry.name)
            elif (st.st_size, st.st_mtime_ns, st.st_ino) == (b.size, b.mtime_ns, b.inode) and (
                not self.too_recent(b.mtime_ns)
            ):  # unchanged since its base (most files): known_sha's first answer, inlined
                self.files[b.path] = LocalFile(b.path, b.size, b.mtime_ns, b.inode, b.sha256, disk)
            else:  # the base's path (and name): one copy, not one per snapshot
                self.file(entry.path, b.path, st, disk, prefix + entry.name)

    def too_recent(self, mtime_ns: int) -> bool:
        """On a root with coarse mtimes (FAT: 2 s) a file modified within two steps of now
        is read again: a same-size rewrite in the same step would keep its stat."""
        step_ns = self.traits.mtime_granularity_ns
        return step_ns > 1_000_000 and self.now_ns - mtime_ns < 2 * step_ns

    def known_sha(self, rel: RelPath, key: tuple[int, int, int]) -> str | None:
        """The hash we already trust for this (size, mtime_ns, inode), if any: the base at this
        path, the previous scan, or the base entry this inode was renamed from. Compared as far
        as the root tells them apart (mtime granularity, inode stability); none when
        `too_recent`."""
        same = self.traits.same_stat
        if self.too_recent(key[1]):
            return None
        b = self.base.files.get(rel)
        if b is not None and (
            (b.mtime_ns, b.size, b.inode) == (key[1], key[0], key[2])
            or same((b.size, b.mtime_ns, b.inode), key)
        ):
            return b.sha256  # (the exact compare first: an unchanged file on any root)
        p = self.previous.files.get(rel) if self.previous is not None else None
        trusted = p is not None and p.sha256 is not None and not p.racy
        if p is not None and trusted and same((p.size, p.mtime_ns, p.inode), key):
            return p.sha256
        moved = self.base_by_inode(key[2])
        if moved is not None and same((moved.size, moved.mtime_ns, key[2]), key):
            return moved.sha256
        return None

    def file(
        self, path: str, rel: RelPath, st: os.stat_result, disk: str | None, shown: str
    ) -> None:
        key = (st.st_size, st.st_mtime_ns, st.st_ino)
        sha = self.known_sha(rel, key)
        racy = False
        if sha is None and self.being_truncated(rel, key):
            log.debug("file_being_truncated", path=shown)
        elif sha is None:
            racy = time.time_ns() - key[1] < RACY_NS  # the same tick as a write: unproven
            try:
                sha, key = self.hash_stable(Path(path), key)
            except FileNotFoundError:
                return
            except PermissionError:
                self.skip(shown, "cannot read: permission denied (not uploaded)")
            except OSError as exc:
                self.skip(shown, f"cannot read: {exc.strerror or exc} (not uploaded)")
        b = self.base.files.get(rel)
        if b is not None and key == (b.size, b.mtime_ns, b.inode):
            key = (b.size, b.mtime_ns, b.inode)  # the base's int objects: one copy, not two
        self.files[rel] = LocalFile(rel, key[0], key[1], key[2], sha, disk, racy)

    def being_truncated(self, rel: RelPath, key: tuple[int, int, int]) -> bool:
        """ext4 shows a file that is being truncated (open with O_TRUNC) at size 0 with its
        old mtime for a moment: hashed then, it looks settled and an empty version would be
        uploaded. Left unhashed (in flux); the write that follows wakes a rescan."""
        known: BaseFile | LocalFile | None = self.base.files.get(rel)
        if known is None and self.previous is not None:
            known = self.previous.files.get(rel)
        return (
            known is not None
            and key[0] == 0 < known.size
            and (known.mtime_ns, known.inode) == key[1:]
        )

    def hash_stable(
        self, path: Path, key: tuple[int, int, int]
    ) -> tuple[str | None, tuple[int, int, int]]:
        """Hash, then lstat again: a file written meanwhile gets its new stat and no hash
        (sha256 None = in flux; it will not settle, so nothing uploads it half-written)."""
        self.hashed += 1
        sha, size = self.hasher(path)
        st = os.lstat(path)
        after = (st.st_size, st.st_mtime_ns, st.st_ino)
        if after != key or size != key[0] or not stat.S_ISREG(st.st_mode):
            log.debug("file_changed_while_hashed", path=str(path))
            return None, after
        return sha, key


def _list_root(root: Path) -> None:
    try:
        st = os.stat(root)
    except OSError as exc:
        raise RootMissingError(f"sync root {root} is not reachable: {exc.strerror or exc}") from exc
    if not stat.S_ISDIR(st.st_mode):
        raise RootMissingError(f"sync root {root} is not a directory")


def scan(
    root: Path,
    base: BaseTree,
    rules: IgnoreRules,
    *,
    only: set[str] | None = None,
    previous: LocalTree | None = None,
    hasher: Hasher = hash_file,
    traits: RootTraits | None = None,
    mappings: NameMap | None = None,
) -> ScanResult:
    """Snapshot the root. With `only` (NFC folder names) and a `previous` tree, only those
    root-level entries are looked at again; everything else is copied from `previous`.
    `mappings` (localnames.NameMap) read mapped disk names back as their remote names."""
    _list_root(root)
    if previous is None:
        only = None  # nothing to copy from: look at everything
    s = _Scan(
        root, base, rules, previous, hasher, traits or RootTraits(), mappings or {}, time.time_ns()
    )
    if only is not None and previous is not None:
        s.folders.update((n, f) for n, f in previous.folders.items() if n not in only)
        s.files.update((p, f) for p, f in previous.files.items() if p.folder not in only)
    try:
        entries = s.entries(root, "", base.folders, "")
    except OSError as exc:
        raise RootMissingError(f"sync root {root} cannot be read: {exc.strerror or exc}") from exc
    for entry, nfc in entries:
        if only is None or nfc in only:
            s.root_entry(entry, nfc)
    scanned = None if only is None else frozenset(only)
    if only is not None:
        # Root-level problems outside `only` were reported by earlier scans, not this one.
        s.skipped = [k for k in s.skipped if _top(k.path) in only]
    tree = LocalTree(files=s.files, folders=s.folders)
    temp_free = only is None and s.listed_dirs == s.root_dirs and s.temps == 0
    stale = _stale_mappings(s, only is None)
    return ScanResult(tree, s.skipped, scanned, s.hashed, stale, temp_free)


def _stale_mappings(s: _Scan, full: bool) -> list[tuple[str, str]]:
    """Mappings whose disk entry is gone (in folders this scan listed, or, after a full scan,
    in folders that no longer exist; an unreadable folder keeps its): they map nothing now."""
    stale = []
    for folder, names in s.mappings.items():
        listed = s.listed.get(folder)
        if listed is None and (not full or folder in s.folders):
            continue
        stale += [(folder, disk) for disk in names if listed is None or disk not in listed]
    return stale


def _top(shown: str) -> str:
    return unicodedata.normalize("NFC", shown.split("/", 1)[0])


def merge_skipped(previous: list[Skipped], result: ScanResult) -> list[Skipped]:
    """Skipped entries for the whole root after a partial scan: the rescanned folders' new
    entries replace theirs, the rest are kept."""
    if result.scanned is None:
        return list(result.skipped)
    kept = [k for k in previous if _top(k.path) not in result.scanned]
    return kept + list(result.skipped)


def disk_path(root: Path, tree: LocalTree, rel: RelPath) -> Path:
    """Where `rel` lives on disk, honouring on-disk spellings (NFD) the scan found."""
    folder = tree.folders.get(rel.folder)
    local = tree.files.get(rel)
    folder_name = folder.disk_name if folder is not None and folder.disk_name else rel.folder
    name = local.disk_name if local is not None and local.disk_name else rel.name
    return root / folder_name / name
