"""Durability primitives of both programs: fsync a closed file by its path, and fsync a folder
so that a create or rename in it survives a crash (one copy, used by the daemon and server)."""

from __future__ import annotations

import os
from pathlib import Path


def _fsync(path: Path, flags: int) -> None:
    fd = os.open(path, flags | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_file(path: Path) -> None:
    """Make a closed file's data (and mtime) durable."""
    _fsync(path, os.O_RDONLY)


def fsync_dir(path: Path) -> None:
    """Make a create or rename in `path` durable."""
    _fsync(path, os.O_RDONLY | os.O_DIRECTORY)
