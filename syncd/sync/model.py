"""Snapshots the planner compares (local now, remote now, base = last agreed state) and the
actions it returns. Pure data: no I/O imports (tests/unit/test_purity.py enforces it).

A file is addressed by `RelPath(folder, name)`: the folder is a direct child of the sync root
and holds files only (DESIGN §2). Names are the remote (NFC) names; on Linux every name the
server accepts is also a valid local name; where the root's file system refuses one (exFAT,
FAT, NTFS backup drives) the file lives under another `disk_name`, mapped back by the scanner
(syncd/sync/localnames.py), so the planner still compares remote names only."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, NamedTuple, TypeVar, dataclass_transform

_R = TypeVar("_R")


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
def record(cls: type[_R]) -> type[_R]:
    """A per-file record: immutable to mypy (every assignment is an error), hashable by value,
    but a plain slots class at run time. A frozen dataclass's __init__ sets each field through
    object.__setattr__, ~4x the cost; a no-op pass makes three records per file (issue 10)."""
    return dataclass(slots=True, unsafe_hash=True)(cls)


class RelPath(NamedTuple):
    folder: str
    name: str

    def __str__(self) -> str:
        return f"{self.folder}/{self.name}"


Placement = Literal["link", "noreplace", "recheck"]


@dataclass(frozen=True)
class RootTraits:
    """What the file system under the sync root can do, probed once per root
    (syncd/sync/rootfs.py) and handed to the pure code as data. The defaults describe a Linux
    file system (ext4, btrfs, tmpfs)."""

    case_insensitive: bool = False  # `A.txt` is found as `a.txt`: one name
    normalising: bool = False  # NFC and NFD spellings are one name
    windows_names: bool = False  # refuses `: * ? " < > | \`; trailing dots/spaces unsafe
    stable_inodes: bool = True  # False: inode numbers change across mounts (FAT family, FUSE)
    mtime_granularity_ns: int = 1  # FAT: 2 s; exfat-fuse: 1 s
    max_file_bytes: int | None = None  # FAT32: 4 GiB - 1
    placement: Placement = "link"  # how a new file is placed without clobbering (transfer.py)
    fs_type: str = ""

    @property
    def plain(self) -> bool:
        """Every remote name is a local name as is (no mapping needed)."""
        return not (self.case_insensitive or self.normalising or self.windows_names)

    def same_stat(self, a: tuple[int, int, int], b: tuple[int, int, int]) -> bool:
        """(size, mtime_ns, inode) of one unchanged file, as far as this root can tell: mtimes
        within the root's granularity (a cached precise value vs. the stored rounded one), the
        inode only where it is stable."""
        return (
            a[0] == b[0]
            and abs(a[1] - b[1]) < self.mtime_granularity_ns
            and (a[2] == b[2] or not self.stable_inodes)
        )


# Per-file records carry no __dict__ (slots): a library of 50,000 files holds three of
# them per file (local, remote, base) during a pass.
@record
class LocalFile:
    path: RelPath
    size: int
    mtime_ns: int
    inode: int
    sha256: str | None = None  # filled by the scanner when size/mtime/inode changed vs base
    # On-disk name when it differs from `path.name` (NFD from a Mac, a name mapped for an
    # exFAT/FAT/NTFS root); not compared.
    disk_name: str | None = field(default=None, compare=False)
    # Hashed within RACY_NS of its mtime: a same-size rewrite in the same clock tick would keep
    # this stat, so the next scan reads it again instead of trusting the hash; not compared.
    racy: bool = field(default=False, compare=False)


@record
class LocalFolder:
    name: str
    inode: int
    disk_name: str | None = field(default=None, compare=False)  # as for LocalFile


@record
class RemoteFile:
    path: RelPath
    file_id: str
    folder_id: str
    size: int
    sha256: str
    mtime_ns: int
    rev: int


@record
class RemoteFolder:
    name: str
    folder_id: str
    rev: int


@record
class BaseFile:
    """What both sides held at the last successful sync of this path."""

    path: RelPath
    file_id: str
    folder_id: str
    rev: int
    sha256: str
    size: int
    mtime_ns: int  # local mtime after the sync (what the scanner will see if untouched)
    inode: int


@record
class BaseFolder:
    name: str
    folder_id: str
    inode: int


@dataclass(frozen=True)
class LocalTree:
    files: dict[RelPath, LocalFile] = field(default_factory=dict)
    folders: dict[str, LocalFolder] = field(default_factory=dict)


@dataclass(frozen=True)
class RemoteTree:
    files: dict[RelPath, RemoteFile] = field(default_factory=dict)
    folders: dict[str, RemoteFolder] = field(default_factory=dict)


@dataclass(frozen=True)
class BaseTree:
    files: dict[RelPath, BaseFile] = field(default_factory=dict)
    folders: dict[str, BaseFolder] = field(default_factory=dict)


# ---- actions -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Download:
    """Fetch remote content into `remote.path` (new file, or replacing an unchanged local)."""

    remote: RemoteFile
    replaces: LocalFile | None  # the local file the executor must still find before replacing


@dataclass(frozen=True)
class Upload:
    """Send local content; `base_rev` None means create (`If-None-Match: *`)."""

    local: LocalFile
    folder_id: str | None  # None: the folder is created by a MakeRemoteFolder earlier in the plan
    base_rev: int | None


@dataclass(frozen=True)
class DeleteLocal:
    """Remote deleted it: move the local file to the Trash (never a bare unlink)."""

    local: LocalFile


@dataclass(frozen=True)
class DeleteRemote:
    base: BaseFile


@dataclass(frozen=True)
class RenameLocal:
    """Remote renamed/moved a file the local side did not change: rename it locally."""

    local: LocalFile
    remote: RemoteFile


@dataclass(frozen=True)
class RenameRemote:
    """Local renamed/moved a file: rename it on the server (If-Match base rev)."""

    base: BaseFile
    local: LocalFile
    folder_id: str | None  # target folder id; None: created by a MakeRemoteFolder earlier


@dataclass(frozen=True)
class KeepBoth:
    """Both sides changed differently: move the local version to `conflict_name` and download
    the remote version into the original path. In mirror mode the plan holds, right after it,
    an Upload of the copy (as a new file); run that Upload only after this action."""

    local: LocalFile
    remote: RemoteFile
    conflict_name: str


@dataclass(frozen=True)
class RecordBase:
    """Both sides hold the same bytes: only the base needs to learn it."""

    local: LocalFile
    remote: RemoteFile


@dataclass(frozen=True)
class ForgetBase:
    """Gone on both sides: drop the base entry."""

    path: RelPath


@dataclass(frozen=True)
class MakeLocalFolder:
    remote: RemoteFolder


@dataclass(frozen=True)
class MakeRemoteFolder:
    local: LocalFolder


@dataclass(frozen=True)
class RenameLocalFolder:
    base: BaseFolder
    remote: RemoteFolder


@dataclass(frozen=True)
class RenameRemoteFolder:
    base: BaseFolder
    local: LocalFolder


@dataclass(frozen=True)
class DeleteLocalFolder:
    """Remote deleted the folder; executed after its files went to the Trash, only if empty."""

    name: str


@dataclass(frozen=True)
class DeleteRemoteFolder:
    """Local deleted the folder and the server's copy is unchanged: the server deletes it with
    every file in it. `files` are the base entries of those files (for the big-delete count and
    so the engine can drop them from base once the delete succeeded)."""

    base: BaseFolder
    files: tuple[BaseFile, ...] = ()


@dataclass(frozen=True)
class RecordFolder:
    """Folder exists on both sides with the same name: base learns the pair."""

    local: LocalFolder
    remote: RemoteFolder


@dataclass(frozen=True)
class ForgetFolder:
    name: str


Action = (
    Download
    | Upload
    | DeleteLocal
    | DeleteRemote
    | RenameLocal
    | RenameRemote
    | KeepBoth
    | RecordBase
    | ForgetBase
    | MakeLocalFolder
    | MakeRemoteFolder
    | RenameLocalFolder
    | RenameRemoteFolder
    | DeleteLocalFolder
    | DeleteRemoteFolder
    | RecordFolder
    | ForgetFolder
)


@dataclass(frozen=True)
class Plan:
    """Actions in execution order: folder creates/renames first, then file actions, then
    folder deletes. `mode` is "mirror" or "backup"."""

    actions: tuple[Action, ...] = ()
    mode: str = "mirror"

    def __bool__(self) -> bool:
        return bool(self.actions)
