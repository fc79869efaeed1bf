"""What the file system under the sync root can do, probed once per root with temp files
(hard links, no-replace renames, case and Unicode folding, refused names, mtime granularity,
FAT32's size limit), and the one way a new file is placed there without clobbering."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import secrets
import unicodedata
from pathlib import Path
from typing import Any

from syncd.errors import StaleError
from syncd.log import get_logger
from syncd.sync.ignore import TEMP_PREFIX
from syncd.sync.model import Placement, RootTraits

log = get_logger("syncd.rootfs")

AT_FDCWD = -100
RENAME_NOREPLACE = 1
# link() / renameat2() failures that mean "this file system cannot", not "this file cannot".
UNSUPPORTED = frozenset(
    {
        errno.EPERM,
        errno.ENOTSUP,
        errno.EOPNOTSUPP,
        errno.EMLINK,
        errno.EXDEV,
        errno.ENOSYS,
        errno.EINVAL,
    }
)
# Windows-family file systems: names must be Windows-safe, inode numbers change per mount.
WINDOWS_FS = frozenset({"vfat", "msdos", "exfat", "ntfs", "ntfs3", "fuseblk", "fuse.exfat"})
FAT32_FS = frozenset({"vfat", "msdos"})
FAT32_MAX_FILE_BYTES = 4 * 1024**3 - 1
MTIME_STEPS_NS = (1, 1_000, 1_000_000, 10_000_000, 100_000_000, 1_000_000_000, 2_000_000_000)
PROBE_MTIME_NS = 1_700_000_001_123_456_789  # an odd second with every sub-second digit set


# Kernel file systems whose syncfs(2) writes back and commits everything (FUSE may not forward
# it, and network file systems are not trusted with it): elsewhere, one fsync per file.
SYNCFS_FS = frozenset({"ext4", "ext3", "xfs", "btrfs", "f2fs", "tmpfs", "vfat", "exfat", "ntfs3"})


def _load_libc(name: str) -> Any:
    try:
        return getattr(ctypes.CDLL(None, use_errno=True), name)
    except (AttributeError, OSError):  # not glibc, or not Linux
        return None


def _load_syncfs() -> Any:
    func = _load_libc("syncfs")
    if func is not None:
        func.argtypes, func.restype = (ctypes.c_int,), ctypes.c_int
    return func


_SYNCFS = _load_syncfs()


def can_syncfs(traits: RootTraits) -> bool:
    return _SYNCFS is not None and traits.fs_type in SYNCFS_FS


def sync_filesystems(folders: list[Path]) -> None:
    """syncfs(2) once per file system holding one of `folders`: every dirty file and directory
    entry there becomes durable in one journal commit (many fsyncs each wait for their own)."""
    devices: dict[int, Path] = {}
    for folder in folders:
        devices.setdefault(os.stat(folder).st_dev, folder)
    for folder in devices.values():
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            if _SYNCFS(fd) != 0:
                code = ctypes.get_errno()
                raise OSError(code, os.strerror(code), str(folder))
        finally:
            os.close(fd)


def _load_sync_file_range() -> Any:
    func = _load_libc("sync_file_range")
    if func is not None:
        func.argtypes = (ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint)
        func.restype = ctypes.c_int
    return func


_SYNC_FILE_RANGE = _load_sync_file_range()
SYNC_FILE_RANGE_WRITE = 2


def start_writeback(fd: int, offset: int = 0, length: int = 0) -> None:
    """Start writing a file's dirty pages (`length` bytes from `offset`; 0: to the end) to disk
    without waiting for them, so the fsync or syncfs that makes the file durable later finds
    little left to write. A hint only: it promises nothing, and a failure shows up at that
    fsync."""
    if _SYNC_FILE_RANGE is not None:
        _SYNC_FILE_RANGE(fd, offset, length, SYNC_FILE_RANGE_WRITE)


def _load_renameat2() -> Any:
    func = _load_libc("renameat2")  # glibc >= 2.28
    if func is None:
        return None
    func.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint)
    func.restype = ctypes.c_int
    return func


_RENAMEAT2 = _load_renameat2()


def rename_noreplace(src: Path, dst: Path) -> None:
    """rename(2) that fails with FileExistsError instead of replacing `dst` (atomic)."""
    if _RENAMEAT2 is None:
        raise OSError(errno.ENOSYS, "renameat2 is not available", str(src))
    if _RENAMEAT2(AT_FDCWD, os.fsencode(src), AT_FDCWD, os.fsencode(dst), RENAME_NOREPLACE):
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), str(src), None, str(dst))


def place_new(temp: Path, target: Path, placement: Placement) -> None:
    """Move `temp` to `target` unless something exists there (StaleError): a file the user just
    created is never clobbered. "recheck" (no link(), no RENAME_NOREPLACE: FUSE, FAT) leaves a
    window of microseconds between the existence check and the rename."""
    try:
        if placement == "link":
            os.link(temp, target)
            temp.unlink()
        elif placement == "noreplace":
            rename_noreplace(temp, target)
        else:
            if os.path.lexists(target):  # on a case-insensitive root: any spelling
                raise FileExistsError(errno.EEXIST, "exists", str(target))
            os.rename(temp, target)
    except FileExistsError as exc:
        raise StaleError(f"{target} appeared since it was scanned") from exc


# ---- probing -----------------------------------------------------------------------------


def mount_type(path: Path) -> str:
    """File system type of the mount holding `path` (from /proc/self/mounts; '' if unknown)."""
    real = os.path.realpath(path)
    best, kind = "", ""
    with contextlib.suppress(OSError), open("/proc/self/mounts", encoding="utf-8") as mounts:
        for line in mounts:
            fields = line.split()
            if len(fields) < 3:
                continue
            point = fields[1].encode().decode("unicode_escape")  # \040 for spaces
            inside = real == point or real.startswith(point.rstrip("/") + "/")
            if inside and len(point) >= len(best):
                best, kind = point, fields[2]
    return kind


def _placement(probe: Path) -> Placement:
    other = probe.with_name(probe.name + "-placed")
    try:
        os.link(probe, other)
        return "link"
    except OSError as exc:
        if exc.errno not in UNSUPPORTED:
            raise
    finally:
        other.unlink(missing_ok=True)
    try:
        rename_noreplace(probe, other)
        os.rename(other, probe)
        return "noreplace"
    except OSError as exc:
        if exc.errno not in UNSUPPORTED:
            raise
    return "recheck"


def _mtime_granularity_ns(probe: Path) -> int:
    os.utime(probe, ns=(PROBE_MTIME_NS, PROBE_MTIME_NS))
    off_ns = abs(os.lstat(probe).st_mtime_ns - PROBE_MTIME_NS)
    return next((step for step in MTIME_STEPS_NS if off_ns < step), off_ns + 1)


def _refuses_windows_names(root: Path, stem: str) -> bool:
    odd = root / f"{stem}-a:b"
    try:
        odd.touch(exist_ok=False)
    except OSError:
        return True
    odd.unlink()
    return False


def probe_root(root: Path) -> RootTraits:
    """Probe `root` with temp files (named like our temp files, so never synced; removed)."""
    fs_type = mount_type(root)
    stem = f"{TEMP_PREFIX}probe-{secrets.token_hex(4)}-é"  # NFC; "é" tells normalising roots
    probe = root / stem
    try:
        probe.write_bytes(b"probe")
        traits = RootTraits(
            case_insensitive=os.path.lexists(root / stem.swapcase()),
            normalising=os.path.lexists(root / unicodedata.normalize("NFD", stem)),
            windows_names=fs_type in WINDOWS_FS or _refuses_windows_names(root, stem),
            stable_inodes=fs_type not in WINDOWS_FS,
            mtime_granularity_ns=_mtime_granularity_ns(probe),
            max_file_bytes=FAT32_MAX_FILE_BYTES if fs_type in FAT32_FS else None,
            placement=_placement(probe),
            fs_type=fs_type,
        )
    finally:
        for leftover in (probe, probe.with_name(stem + "-placed"), root / f"{stem}-a:b"):
            with contextlib.suppress(OSError):
                leftover.unlink()
    log.info("root_probed", root=str(root), **traits.__dict__)
    return traits
