"""The per-user trash (undo window): deleted files are recorded here, listed, and purged once
older than `trash_days` or, oldest first, once the user's trash holds more than its cap (a
share of the user's quota). An entry keeps its blob alive; it is not counted in quota."""

from __future__ import annotations

from syncd.log import get_logger
from syncd.protocol import TrashItem
from syncd.server.blobs.store import BlobStore
from syncd.server.db import new_id, now_ns, rfc3339
from syncd.server.meta import Conn, Db, Row

NS_PER_DAY = 86_400 * 1_000_000_000
log = get_logger(__name__)


def keep_ns(trash_days: float) -> int:
    return int(trash_days * NS_PER_DAY)


def to_trash(conn: Conn, user_id: str, f: Row) -> str:
    """Record a file row that is about to be deleted (inside the caller's transaction)."""
    folder = conn.execute("SELECT name FROM folders WHERE id=?", (f["folder_id"],)).fetchone()
    entry_id = new_id("tr")
    conn.execute(
        "INSERT INTO trash (id, user_id, file_id, folder_id, folder_name, name, size, sha256,"
        " mime, kind, source, created_ns, mtime_ns, rev, deleted_ns)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (
            entry_id,
            user_id,
            f["id"],
            f["folder_id"],
            folder["name"] if folder is not None else "",
            f["name"],
            f["size"],
            f["sha256"],
            f["mime"],
            f["kind"],
            f["source"],
            f["created_ns"],
            f["mtime_ns"],
            f["rev"],
            now_ns(),
        ),
    )
    return entry_id


def enforce_cap(conn: Conn, user_id: str, percent: float) -> list[str]:
    """Inside a delete's transaction: purge the user's oldest entries until the trash holds
    at most `percent` % of their quota. The newest entry always stays (a delete can always
    be undone right away), so a trash never exceeds its cap by more than one file. Returns
    the purged entries' sha256s, for the caller to collect after the commit."""
    user = conn.execute("SELECT limit_bytes FROM users WHERE id=?", (user_id,)).fetchone()
    cap = int(int(user["limit_bytes"]) * percent / 100) if user is not None else 0
    (total,) = conn.execute(
        "SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM trash WHERE user_id=?", (user_id,)
    ).fetchone()
    if total <= cap:
        return []
    rows = conn.execute(
        "SELECT id, size, sha256 FROM trash WHERE user_id=? ORDER BY deleted_ns, id",
        (user_id,),
    ).fetchall()
    purged: list[str] = []
    for row in rows[:-1]:  # never the newest
        if total <= cap:
            break
        conn.execute("DELETE FROM trash WHERE id=?", (row["id"],))
        total -= int(row["size"])
        purged.append(row["sha256"])
    log.info("trash_capped", user_id=user_id, purged=len(purged), cap_bytes=cap)
    return purged


def item_model(row: Row, trash_days: float) -> TrashItem:
    return TrashItem(
        id=row["id"],
        file_id=row["file_id"],
        folder_id=row["folder_id"],
        folder_name=row["folder_name"],
        name=row["name"],
        size=row["size"],
        sha256=row["sha256"],
        mime=row["mime"],
        kind=row["kind"],
        deleted_at=rfc3339(row["deleted_ns"]),
        expires_at=rfc3339(row["deleted_ns"] + keep_ns(trash_days)),
    )


def list_trash(db: Db, user_id: str, trash_days: float) -> list[TrashItem]:
    """The user's trash, newest delete first; entries past their expiry are left out even
    before the periodic purge has removed them."""
    cutoff = now_ns() - keep_ns(trash_days)
    rows = db.all(
        "SELECT * FROM trash WHERE user_id=? AND deleted_ns>? ORDER BY deleted_ns DESC, id",
        user_id,
        cutoff,
    )
    return [item_model(r, trash_days) for r in rows]


def entry_row(db: Db, user_id: str, entry_id: str) -> Row | None:
    return db.one("SELECT * FROM trash WHERE id=? AND user_id=?", entry_id, user_id)


async def purge(db: Db, blobs: BlobStore, older_than_ns: int, user_id: str | None = None) -> int:
    """Forget entries deleted at least `older_than_ns` ago (one user's, or everyone's), then
    remove the blobs nothing refers to any more. Returns the number of entries purged."""
    cutoff = now_ns() - older_than_ns
    args: list[object]
    where, args = "deleted_ns<=?", [cutoff]
    if user_id is not None:
        where, args = where + " AND user_id=?", [*args, user_id]
    with db.tx() as conn:
        rows = conn.execute(
            f"DELETE FROM trash WHERE {where} RETURNING sha256",  # noqa: S608 - fixed clauses
            args,
        ).fetchall()
    for sha in {r["sha256"] for r in rows}:
        await blobs.collect(sha)
    if rows:
        log.info("trash_purged", entries=len(rows), user_id=user_id)
    return len(rows)
