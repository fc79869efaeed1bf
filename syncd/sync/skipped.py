"""What a scan reports instead of syncing an entry (a Skipped path and its reason), and the
checks of a disk name that decide it: valid UTF-8, a name the server accepts, the kind of a
special file."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass

from syncd.protocol import name_problem

NESTED = "not synced: nested folders are not part of the library"
SYMLINK = "symlink: not followed"
INVALID_UTF8 = "name is not valid UTF-8"


@dataclass(frozen=True)
class Skipped:
    path: str  # relative to the root; undecodable bytes shown as \xNN
    reason: str


def display(rel_disk: str) -> str:
    """A printable form of a path that may hold undecodable bytes (surrogate escapes)."""
    return os.fsencode(rel_disk).decode("utf-8", "backslashreplace")


def valid_utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def special_kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "FIFO"
    if stat.S_ISSOCK(mode):
        return "socket"
    return "device" if stat.S_ISBLK(mode) or stat.S_ISCHR(mode) else "unknown type"


def name_refused(name: str) -> str | None:
    # Fast path for the common short printable ASCII name (a disk name never holds "/"):
    # protocol.name_problem costs more than the lstat on a 20,000-file rescan.
    if len(name) < 128 and name.isascii() and name.isprintable() and name not in (".", ".."):
        return None
    return name_problem(name)
