"""Every database read and write of the web page, in a few small functions: one-time sign-in
links, sessions (only SHA-256 hashes of their secrets are stored) and the folder overview.
Plain portable SQL (`?` placeholders, no SQLite-only functions) for the PostgreSQL port."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from syncd.server.meta import Conn, Db, Row

LINK_PREFIX = "ln_"
SESSION_PREFIX = "ss_"


def secret_hash(secret: str) -> str:
    """256-bit random secrets: a plain SHA-256 is enough to keep them unusable at rest."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class SessionUser:
    """A valid session's user row and its anti-forgery token."""

    user: Row
    csrf: str


def create_login_link(db: Db, user_id: str, now_ns: int, expires_ns: int) -> str:
    """A new one-time sign-in secret for `user_id`, valid until `expires_ns`."""
    secret = LINK_PREFIX + secrets.token_urlsafe(32)
    with db.tx() as conn:
        conn.execute(
            "INSERT INTO web_login_links (token_hash, user_id, created_ns, expires_ns)"
            " VALUES (?,?,?,?)",
            (secret_hash(secret), user_id, now_ns, expires_ns),
        )
    return secret


def use_login_link(db: Db, secret: str, now_ns: int) -> str | None:
    """Spend a sign-in link: the user id if it was unused and unexpired, else None. One
    conditional UPDATE, so two browsers opening the link at once cannot both win."""
    with db.tx() as conn:
        row = conn.execute(
            "UPDATE web_login_links SET used_ns=? WHERE token_hash=? AND used_ns IS NULL"
            " AND expires_ns>? RETURNING user_id",
            (now_ns, secret_hash(secret), now_ns),
        ).fetchone()
    return None if row is None else str(row[0])


def create_session(db: Db, user_id: str, now_ns: int, expires_ns: int) -> tuple[str, str]:
    """A new session; returns (cookie value, csrf token). The cookie value is not stored."""
    secret = SESSION_PREFIX + secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(24)
    with db.tx() as conn:
        conn.execute(
            "INSERT INTO web_sessions (id_hash, user_id, csrf, created_ns, expires_ns)"
            " VALUES (?,?,?,?,?)",
            (secret_hash(secret), user_id, csrf, now_ns, expires_ns),
        )
    return secret, csrf


def session_user(db: Db, secret: str, now_ns: int) -> SessionUser | None:
    """The user of an unexpired session (re-read on every request, as for tokens)."""
    row = db.one(
        "SELECT s.csrf AS session_csrf, u.* FROM web_sessions s JOIN users u ON u.id = s.user_id"
        " WHERE s.id_hash=? AND s.expires_ns>?",
        secret_hash(secret),
        now_ns,
    )
    return None if row is None else SessionUser(user=row, csrf=str(row["session_csrf"]))


def end_session(db: Db, secret: str) -> None:
    with db.tx() as conn:
        conn.execute("DELETE FROM web_sessions WHERE id_hash=?", (secret_hash(secret),))


def end_user_sessions(conn: Conn, user_id: str) -> None:
    """Inside the caller's transaction (token rotation): every session and unused sign-in
    link of the user stops working."""
    conn.execute("DELETE FROM web_sessions WHERE user_id=?", (user_id,))
    conn.execute("DELETE FROM web_login_links WHERE user_id=?", (user_id,))


def purge_expired(db: Db, now_ns: int) -> int:
    """Forget expired sessions and links; returns how many rows went."""
    with db.tx() as conn:
        gone = conn.execute("DELETE FROM web_sessions WHERE expires_ns<=?", (now_ns,)).rowcount
        gone += conn.execute("DELETE FROM web_login_links WHERE expires_ns<=?", (now_ns,)).rowcount
    return int(gone)


def folder_overview(db: Db, user_id: str) -> list[Row]:
    """The user's folders with their counters, newest item name and time, newest activity
    first (a folder without files counts from its creation)."""
    return db.all(
        "SELECT f.*,"
        " (SELECT MAX(x.created_ns) FROM files x WHERE x.folder_id = f.id) AS newest_ns,"
        " (SELECT x.name FROM files x WHERE x.folder_id = f.id"
        "  ORDER BY x.created_ns DESC, x.id LIMIT 1) AS newest_name"
        " FROM folders f WHERE f.user_id=?"
        " ORDER BY COALESCE((SELECT MAX(x.created_ns) FROM files x WHERE x.folder_id = f.id),"
        " f.created_ns) DESC, f.name_key",
        user_id,
    )


def folder_files(db: Db, user_id: str, folder_id: str, limit: int) -> list[Row]:
    """The newest `limit` files of one of the user's folders."""
    return db.all(
        "SELECT * FROM files WHERE user_id=? AND folder_id=? ORDER BY created_ns DESC, id LIMIT ?",
        user_id,
        folder_id,
        limit,
    )


def kind_bytes(db: Db, user_id: str) -> dict[str, int]:
    """Bytes per kind (trigger-kept counters, schema v4); every kind present."""
    out = dict.fromkeys(("image", "video", "audio", "document"), 0)
    for row in db.all("SELECT kind, bytes FROM user_kind_stats WHERE user_id=?", user_id):
        out[str(row["kind"])] = out.get(str(row["kind"]), 0) + int(row["bytes"])
    return out
