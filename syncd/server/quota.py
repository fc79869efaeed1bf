"""Per-user quota: atomic reservation of an upload's Content-Length before its body is read,
and size parsing/formatting (plain bytes or IEC units like `200MiB`, `5GiB`)."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from syncd.errors import FileTooLarge, QuotaExceeded
from syncd.server.meta import Conn, Db
from syncd.units import human_bytes

_UNITS = {"": 1, "b": 1, "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40}
_UNITS |= {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")


def parse_size(text: str) -> int:
    """`5GiB` -> 5368709120; plain digits are bytes. Raises ValueError with a clear reason."""
    match = _SIZE.match(text)
    unit = match.group(2).lower() if match else ""
    if not match or unit not in _UNITS:
        raise ValueError(f"{text!r} is not a size (use bytes or IEC units: 200MiB, 5GiB)")
    return int(float(match.group(1)) * _UNITS[unit])


@dataclass
class Reservation:
    user_id: str
    n_bytes: int
    released: bool = False  # release() is idempotent: at the commit, and on every way out


class Quotas:
    """In-flight upload reservations of this server process. Limits and usage are re-read
    from the database on every reservation, so `syncd admin set-quota` applies at once.
    `reserve` never awaits: on one event loop, check-and-add is atomic."""

    def __init__(self, db: Db) -> None:
        self.db = db
        self._reserved: Counter[str] = Counter()

    def reserved_bytes(self, user_id: str) -> int:
        return self._reserved[user_id]

    def check(self, user_id: str, n_bytes: int) -> None:
        """413 above the per-file limit, 507 when `n_bytes` more (plus what is reserved)
        would not fit; reserves nothing."""
        row = self.db.one(
            "SELECT used_bytes, limit_bytes, max_file_bytes FROM users WHERE id=?", user_id
        )
        if row is None:
            raise QuotaExceeded(
                "user no longer exists", used_bytes=0, limit_bytes=0, needed_bytes=n_bytes
            )
        if n_bytes > row["max_file_bytes"]:
            raise FileTooLarge(
                f"file of {human_bytes(n_bytes)} is above the per-file limit of "
                f"{human_bytes(row['max_file_bytes'])}",
                size_bytes=n_bytes,
                max_file_bytes=row["max_file_bytes"],
            )
        used = int(row["used_bytes"]) + self._reserved[user_id]
        if used + n_bytes > row["limit_bytes"]:
            raise QuotaExceeded(
                f"not enough space: needs {human_bytes(n_bytes)}, "
                f"{human_bytes(max(0, row['limit_bytes'] - used))} free",
                used_bytes=used,
                limit_bytes=row["limit_bytes"],
                needed_bytes=n_bytes,
            )

    def reserve(self, user_id: str, n_bytes: int) -> Reservation:
        self.check(user_id, n_bytes)
        self._reserved[user_id] += n_bytes
        return Reservation(user_id, n_bytes)

    def release(self, reservation: Reservation) -> None:
        if reservation.released:
            return
        reservation.released = True
        self._reserved[reservation.user_id] -= reservation.n_bytes
        if self._reserved[reservation.user_id] <= 0:
            del self._reserved[reservation.user_id]


def check_commit(conn: Conn, user_id: str, delta_bytes: int) -> None:
    """Inside an upload's commit on a shared database: 507 unless `delta_bytes` more still
    fit. Reservations are per instance (a fast check before the body is read); this check,
    under the database's write lock, is what keeps parallel uploads through several
    instances from over-committing."""
    row = conn.execute(
        "SELECT used_bytes, limit_bytes FROM users WHERE id=?", (user_id,)
    ).fetchone()
    if row is None or delta_bytes <= 0:
        return
    used, limit = int(row["used_bytes"]), int(row["limit_bytes"])
    if used + delta_bytes > limit:
        raise QuotaExceeded(
            f"not enough space: needs {human_bytes(delta_bytes)}, "
            f"{human_bytes(max(0, limit - used))} free",
            used_bytes=used,
            limit_bytes=limit,
            needed_bytes=delta_bytes,
        )
