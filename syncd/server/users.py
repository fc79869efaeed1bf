"""User accounts: creation, bearer-token check (only a SHA-256 of each token is stored), quota
changes and token rotation. Shared by the server (per-request lookups) and the admin CLI."""

from __future__ import annotations

import hashlib
import secrets

from syncd.errors import ConstraintViolation, NameTaken, NotFound
from syncd.protocol import name_key, normalize_name
from syncd.server.db import new_id, now_ns
from syncd.server.meta import Db, Row
from syncd.server.web.store import end_user_sessions

DEFAULT_MAX_FILE_BYTES = 2 << 30


def hash_token(token: str) -> str:
    # Tokens are 256-bit random strings, so a plain hash is enough (no brute-force risk).
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    return "sk_" + secrets.token_urlsafe(32)


def create_user(db: Db, name: str, limit_bytes: int, max_file_bytes: int) -> tuple[str, str]:
    """Create a user; returns (user_id, token). The token is never stored in clear."""
    name = normalize_name(name)
    token = new_token()
    user_id = new_id("us")
    try:
        with db.tx() as conn:
            conn.execute(
                "INSERT INTO users (id, name, name_key, token_hash, library_id, limit_bytes,"
                " max_file_bytes, created_ns) VALUES (?,?,?,?,?,?,?,?)",
                (
                    user_id,
                    name,
                    name_key(name),
                    hash_token(token),
                    new_id("lib"),
                    limit_bytes,
                    max_file_bytes,
                    now_ns(),
                ),
            )
    except ConstraintViolation as exc:
        raise NameTaken(f"a user named {name!r} already exists", name=name) from exc
    return user_id, token


def user_by_token(db: Db, token: str) -> Row | None:
    return db.one("SELECT * FROM users WHERE token_hash=?", hash_token(token))


def user_by_name(db: Db, name: str) -> Row:
    row = db.one("SELECT * FROM users WHERE name_key=?", name_key(name))
    if row is None:
        raise NotFound(f"no user named {name!r}")
    return row


def set_quota(db: Db, name: str, limit_bytes: int, max_file_bytes: int | None = None) -> None:
    user = user_by_name(db, name)
    with db.tx() as conn:
        conn.execute(
            "UPDATE users SET limit_bytes=?, max_file_bytes=? WHERE id=?",
            (limit_bytes, max_file_bytes or user["max_file_bytes"], user["id"]),
        )


def rotate_token(db: Db, name: str) -> str:
    user = user_by_name(db, name)
    token = new_token()
    with db.tx() as conn:
        conn.execute("UPDATE users SET token_hash=? WHERE id=?", (hash_token(token), user["id"]))
        end_user_sessions(conn, user["id"])  # the web page's sessions end with the old token
    return token


def list_users(db: Db) -> list[Row]:
    return db.all(
        "SELECT u.*, (SELECT COUNT(*) FROM files f WHERE f.user_id=u.id) AS file_count"
        " FROM users u ORDER BY u.name_key"
    )
