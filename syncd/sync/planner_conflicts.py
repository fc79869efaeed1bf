"""Conflict copy names (DESIGN §4): `stem (conflicted copy DATE TIME host)[ N].ext`, unique
in their folder as the server compares names, and never longer than a name may be. Pure."""

from __future__ import annotations

import posixpath
from collections.abc import Container, Iterable
from datetime import datetime

from syncd.protocol import MAX_NAME_BYTES, name_key

MAX_HOST_BYTES = 63  # a DNS label; keeps the stem's share of a 255-byte name large


def _utf8_prefix(text: str, max_bytes: int) -> str:
    return text.encode("utf-8")[: max(0, max_bytes)].decode("utf-8", errors="ignore")


def conflict_name(name: str, *, hostname: str, now: datetime, taken: Iterable[str] = ()) -> str:
    """`stem (conflicted copy YYYY-MM-DD HHMMSS host)[ N].ext`, unique against `taken`
    (compared as the server does, by name_key) and at most MAX_NAME_BYTES: the stem is cut."""
    return conflict_name_in(name, hostname, now, {name_key(t) for t in taken})


def conflict_name_in(name: str, hostname: str, now: datetime, keys: Container[str]) -> str:
    host = "".join(ch for ch in hostname if ch != "/" and 0x20 <= ord(ch) != 0x7F) or "host"
    host = _utf8_prefix(host, MAX_HOST_BYTES)
    stem, ext = posixpath.splitext(name)
    tag = f" (conflicted copy {now:%Y-%m-%d %H%M%S} {host})"
    n = 1
    while True:
        suffix = tag + (f" {n}" if n > 1 else "")
        budget = MAX_NAME_BYTES - len((suffix + ext).encode("utf-8"))
        if budget < 1:  # absurdly long extension: fold it into the stem and cut that instead
            stem, ext = name, ""
            budget = MAX_NAME_BYTES - len(suffix.encode("utf-8"))
        candidate = _utf8_prefix(stem, budget) + suffix + ext
        if name_key(candidate) not in keys:
            return candidate
        n += 1
