"""The embedded metadata store: one SQLite (WAL) connection, migrations in `PRAGMA
user_version` (the list in syncd/server/db.py), BEGIN IMMEDIATE write transactions, FTS5."""

from __future__ import annotations

import asyncio
import fcntl
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from syncd.errors import ConstraintViolation
from syncd.server.db import MIGRATIONS
from syncd.server.meta.base import Conn, Cursor, Db, DbReach, Row

# bm25 column weights, in the FTS column order: name, original_name, caption, folder, phone.
# A file's own name counts most, the folder (participant) name of a file least, so "alice"
# ranks Alice's folder (her name is its `name`) above each of her files.
_RANKED = (
    "SELECT d.obj_id, d.type, bm25(search, 10.0, 6.0, 4.0, 2.0, 4.0) AS rank"
    " FROM search JOIN search_docs d ON d.id = search.rowid"
    " WHERE search MATCH ? AND d.user_id = ? ORDER BY rank LIMIT ?"
)


def fts5_match(words: list[str]) -> str:
    """An FTS5 expression: every word quoted (so `AND`, `*`, `"` or `NEAR(` are plain words,
    never FTS syntax) and matched as a prefix; all of them required."""
    return " ".join('"{}"*'.format(word.replace('"', '""')) for word in words)


class _Conn:
    """sqlite3's connection with its IntegrityError translated (callers never import it)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> Cursor:
        try:
            return self._conn.execute(sql, parameters)
        except sqlite3.IntegrityError as exc:
            raise ConstraintViolation(str(exc)) from exc


class SqliteDb(Db):
    """One SQLite connection in autocommit mode; writes go through `tx()` (BEGIN IMMEDIATE),
    so the admin CLI in another process and the server never interleave half-done writes."""

    backend = "sqlite"
    shared = False  # one server process per data dir

    def __init__(self, path: Path) -> None:
        self.path = path
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.conn.row_factory = sqlite3.Row
        self._wrapped = _Conn(self.conn)
        # busy_timeout first: every later statement may meet another process's lock.
        self.conn.execute("PRAGMA busy_timeout=10000")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute("PRAGMA foreign_keys=ON")
        self._migrate()

    def _migrate(self) -> None:
        # The server and `syncd admin` may open a fresh data dir at the same moment: an
        # exclusive file lock makes exactly one of them migrate, the other sees the result.
        with (self.path.parent / ".migrate.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            # Switching to WAL needs an exclusive lock: do it under the file lock too (two
            # processes opening a fresh data dir at once made one fail with "database is locked").
            self.conn.execute("PRAGMA journal_mode=WAL")
            self._migrate_locked()

    def _migrate_locked(self) -> None:
        version = int(self.conn.execute("PRAGMA user_version").fetchone()[0])
        if version > len(MIGRATIONS):
            raise RuntimeError(
                f"database schema v{version} is newer than this program (v{len(MIGRATIONS)})"
            )
        for target, script in enumerate(MIGRATIONS[version:], start=version + 1):
            # executescript commits first, so run the script and the version bump in one tx.
            self.conn.executescript(
                f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version={target};\nCOMMIT;"
            )

    @contextmanager
    def tx(self) -> Iterator[Conn]:
        """A write transaction; rolled back on any exception."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._wrapped
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def one(self, sql: str, *args: object) -> Row | None:
        row: sqlite3.Row | None = self._wrapped.execute(sql, args).fetchone()
        return row

    def all(self, sql: str, *args: object) -> list[Row]:
        return list(self._wrapped.execute(sql, args).fetchall())

    def ranked_search(self, user_id: str, words: list[str], limit: int) -> list[Row]:
        return self.all(_RANKED, fts5_match(words), user_id, limit)

    @contextmanager
    def try_jobs_lock(self) -> Iterator[bool]:
        yield True  # one process serves a SQLite library

    def hold_blob(self, sha256: str, *, exclusive: bool) -> bool:
        return True  # one process: BlobStore's own pins and locks are the whole story

    def release_blob(self, sha256: str, *, exclusive: bool) -> None:
        pass

    def announce(self, user_id: str) -> None:
        pass  # one process: its Notifier already woke everyone

    async def listen(self, wake: Callable[[str | None], None]) -> None:
        await asyncio.Event().wait()  # nothing to hear: one process per library

    async def check(self) -> DbReach:
        try:
            self.conn.execute("SELECT 1").fetchone()
        except sqlite3.Error as exc:
            return DbReach(self.backend, False, str(exc))
        return DbReach(self.backend, True)

    def describe(self) -> str:
        return f"sqlite:{self.path}"

    def close(self) -> None:
        self.conn.close()
