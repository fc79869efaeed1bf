"""A real exFAT file system for tests: a sparse image formatted by mkfs.exfat (exfatprogs),
attached to a loop device and mounted with exfat-fuse, as a backup drive is. Needs root,
/dev/fuse and a free loop device; `exfat_skip_reason()` says what is missing."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

TOOLS = ("mkfs.exfat", "losetup", "mount.exfat-fuse", "umount")


def exfat_skip_reason() -> str | None:
    """Why an exFAT loop mount cannot be made here, or None when it can."""
    if os.geteuid() != 0:
        return "exFAT tests need root (losetup, mount)"
    if not os.path.exists("/dev/fuse"):
        return "exFAT tests need /dev/fuse (exfat-fuse)"
    if not os.path.exists("/dev/loop-control") and not os.path.exists("/dev/loop0"):
        return "exFAT tests need loop devices"
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        return f"exFAT tests need {', '.join(missing)} (apt-get install exfatprogs exfat-fuse)"
    return None


def _run(*argv: str) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout.strip()


def _unmount(mountpoint: Path) -> None:
    # A daemon or the kernel may still hold it for a moment; lazy unmount as a last resort.
    for _ in range(50):
        if subprocess.run(["umount", str(mountpoint)], capture_output=True).returncode == 0:
            return
        time.sleep(0.1)
    subprocess.run(["umount", "-l", str(mountpoint)], capture_output=True)


@contextlib.contextmanager
def exfat_mount(image: Path, mountpoint: Path, size: str = "256M") -> Iterator[Path]:
    """Format `image` (sparse, `size`) as exFAT, mount it on `mountpoint`; always unmounted and
    detached afterwards, even when the body fails."""
    _run("truncate", "-s", size, str(image))
    _run("mkfs.exfat", "-L", "BACKUP", str(image))
    loop = _run("losetup", "-f", "--show", str(image))
    try:
        mountpoint.mkdir(parents=True, exist_ok=True)
        _run("mount.exfat-fuse", loop, str(mountpoint))
        try:
            yield mountpoint
        finally:
            _unmount(mountpoint)
    finally:
        subprocess.run(["losetup", "-d", loop], capture_output=True)


def remount(mountpoint: Path) -> None:
    """Unplug the drive and plug it back: unmount, then mount the same loop device again."""
    source = next(
        line.split()[0]
        for line in Path("/proc/self/mounts").read_text().splitlines()
        if line.split()[1] == str(mountpoint)
    )
    _unmount(mountpoint)
    _run("mount.exfat-fuse", source, str(mountpoint))
