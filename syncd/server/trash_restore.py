"""Restoring a trash entry: back into its folder (re-created as a custom folder when it was
deleted too), under `name (restored).ext` when the name is taken, counted in quota again,
and announced on the change feed so every daemon downloads it."""

from __future__ import annotations

from syncd.errors import ConstraintViolation, NameTaken, NotFound, QuotaExceeded
from syncd.log import get_logger
from syncd.protocol import File, name_key
from syncd.server import feed, trash
from syncd.server.db import now_ns
from syncd.server.files import get_file, row_by_name
from syncd.server.folders import create_folder
from syncd.server.meta import Conn, Row
from syncd.server.state import ServerState
from syncd.units import human_bytes

log = get_logger(__name__)
MAX_RESTORED_SUFFIX = 1000


def restore(state: ServerState, user_id: str, entry_id: str) -> File:
    """Restore one of the user's trash entries; 404 when unknown, another user's or expired;
    507 when the file does not fit the quota any more."""
    entry = trash.entry_row(state.db, user_id, entry_id)
    if entry is None or entry["deleted_ns"] <= now_ns() - trash.keep_ns(state.trash_days):
        raise NotFound("no such trash entry", trash_id=entry_id)
    _check_quota(state, user_id, int(entry["size"]))
    folder_id = _target_folder(state, user_id, entry)
    name = restored_name(state, folder_id, entry["name"])
    try:
        with state.db.tx() as conn:
            if trash.entry_row(state.db, user_id, entry_id) is None:
                raise NotFound("no such trash entry (restored meanwhile)", trash_id=entry_id)
            _check_quota(state, user_id, int(entry["size"]))
            _insert(conn, user_id, folder_id, name, entry, feed.next_seq(conn, user_id))
            conn.execute("DELETE FROM trash WHERE id=?", (entry_id,))
            conn.execute(
                "UPDATE users SET used_bytes=used_bytes+? WHERE id=?", (entry["size"], user_id)
            )
    except ConstraintViolation as exc:  # the name was taken between the check and now
        raise NameTaken("a file with that name appeared meanwhile; retry", name=name) from exc
    state.notifier.notify(user_id)
    log.info(
        "trash_restored", user_id=user_id, file_id=entry["file_id"], renamed=name != entry["name"]
    )
    return get_file(state, user_id, entry["file_id"])


def _check_quota(state: ServerState, user_id: str, size: int) -> None:
    """Restoring counts like an upload: the file plus in-flight reservations must fit."""
    row = state.db.one("SELECT used_bytes, limit_bytes FROM users WHERE id=?", user_id)
    assert row is not None
    used = int(row["used_bytes"]) + state.quotas.reserved_bytes(user_id)
    if used + size > int(row["limit_bytes"]):
        raise QuotaExceeded(
            f"not enough space to restore: needs {human_bytes(size)}, "
            f"{human_bytes(max(0, int(row['limit_bytes']) - used))} free",
            used_bytes=used,
            limit_bytes=int(row["limit_bytes"]),
            needed_bytes=size,
        )


def _target_folder(state: ServerState, user_id: str, entry: Row) -> str:
    """The original folder if it still exists (even renamed), else a folder of the same
    name (one restored earlier), else a new custom folder with that name."""
    row = state.db.one(
        "SELECT id FROM folders WHERE id=? AND user_id=?", entry["folder_id"], user_id
    )
    if row is None:
        row = state.db.one(
            "SELECT id FROM folders WHERE user_id=? AND name_key=?",
            user_id,
            name_key(entry["folder_name"]),
        )
    if row is not None:
        return str(row["id"])
    try:
        return create_folder(state, user_id, entry["folder_name"] or "Restored").id
    except NameTaken:  # created by a concurrent request a moment ago
        again = state.db.one(
            "SELECT id FROM folders WHERE user_id=? AND name_key=?",
            user_id,
            name_key(entry["folder_name"] or "Restored"),
        )
        if again is None:
            raise
        return str(again["id"])


def restored_name(state: ServerState, folder_id: str, name: str) -> str:
    """`name`, else `stem (restored).ext`, else `stem (restored 2).ext`, ..."""
    if row_by_name(state, folder_id, name) is None:
        return name
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem:
        stem, ext = name, ""
    for n in range(1, MAX_RESTORED_SUFFIX):
        tag = "restored" if n == 1 else f"restored {n}"
        candidate = f"{stem} ({tag}).{ext}" if ext else f"{stem} ({tag})"
        if row_by_name(state, folder_id, candidate) is None:
            return candidate
    raise NameTaken("no free name to restore into", name=name)


def _insert(
    conn: Conn,
    user_id: str,
    folder_id: str,
    name: str,
    entry: Row,
    seq: int,
) -> None:
    """The file comes back under its old id, one rev later (stale If-Match fails)."""
    conn.execute(
        "INSERT INTO files (id, user_id, folder_id, name, name_key, size, sha256, mime, kind,"
        " source, created_ns, mtime_ns, rev, seq) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (
            entry["file_id"],
            user_id,
            folder_id,
            name,
            name_key(name),
            entry["size"],
            entry["sha256"],
            entry["mime"],
            entry["kind"],
            entry["source"],
            entry["created_ns"],
            entry["mtime_ns"],
            int(entry["rev"]) + 1,
            seq,
        ),
    )
