"""The state DB's schema: versioned migrations, applied in order when a DB is opened (append
only), and the row shapes of the remote mirror's copy (syncd/sync/statedb.py uses them)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

from syncd.errors import LocalError
from syncd.log import get_logger

log = get_logger("syncd.statedb")

_V1 = (
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE base_files (
        folder TEXT NOT NULL, name TEXT NOT NULL, file_id TEXT NOT NULL,
        folder_id TEXT NOT NULL, rev INTEGER NOT NULL, sha256 TEXT NOT NULL,
        size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, inode INTEGER NOT NULL,
        PRIMARY KEY (folder, name))""",
    "CREATE INDEX base_files_file_id ON base_files (file_id)",
    """CREATE TABLE base_folders (
        name TEXT PRIMARY KEY, folder_id TEXT NOT NULL, inode INTEGER NOT NULL)""",
    """CREATE TABLE items (
        path TEXT PRIMARY KEY,
        state TEXT NOT NULL CHECK (state IN ('waiting', 'blocked', 'held')),
        reason TEXT NOT NULL, details TEXT NOT NULL DEFAULT '{}', updated_at REAL NOT NULL)""",
    "CREATE TABLE name_mappings (disk_name TEXT PRIMARY KEY, remote_name TEXT NOT NULL)",
)


def _v1(db: sqlite3.Connection) -> None:
    # One execute() per statement: executescript() would COMMIT our migration transaction.
    for statement in _V1:
        db.execute(statement)


def _v2(db: sqlite3.Connection) -> None:
    """The remote mirror's durable copy: the feed state at meta.cursor, one JSON row per
    object (syncd/sync/remote.py owns the format)."""
    db.execute(
        "CREATE TABLE remote_objects (kind TEXT NOT NULL, id TEXT NOT NULL,"
        " data TEXT NOT NULL, PRIMARY KEY (kind, id))"
    )
    # A v1 cursor belonged to a mirror kept in memory only: resuming from it with an empty
    # copy would read every file as deleted on the server. Start from a full read instead.
    db.execute("DELETE FROM meta WHERE key = 'cursor'")


def _v3(db: sqlite3.Connection) -> None:
    """The remote mirror's copy in columns, one row per record (remote.py MirrorFolder and
    MirrorFile, fields in column order): a start reads it without parsing JSON per file."""
    db.execute(
        "CREATE TABLE remote_folders (id TEXT PRIMARY KEY, name TEXT NOT NULL,"
        " rev INTEGER NOT NULL)"
    )
    db.execute(
        "CREATE TABLE remote_files (id TEXT PRIMARY KEY, folder_id TEXT NOT NULL,"
        " name TEXT NOT NULL, size INTEGER NOT NULL, sha256 TEXT NOT NULL,"
        " mtime_ns INTEGER NOT NULL, rev INTEGER NOT NULL)"
    )
    # v2 rows hold compact JSON, or the whole wire object (extra keys ignored).
    db.execute(
        "INSERT INTO remote_folders SELECT id, json_extract(data, '$.name'),"
        " json_extract(data, '$.rev') FROM remote_objects WHERE kind = 'folder'"
    )
    db.execute(
        "INSERT INTO remote_files SELECT id, json_extract(data, '$.folder_id'),"
        " json_extract(data, '$.name'), json_extract(data, '$.size'),"
        " json_extract(data, '$.sha256'), json_extract(data, '$.mtime_ns'),"
        " json_extract(data, '$.rev') FROM remote_objects WHERE kind = 'file'"
    )
    db.execute("DROP TABLE remote_objects")


def _v4(db: sqlite3.Connection) -> None:
    """Uploads sent whose answer was not yet recorded (a kill, a lost answer): the version
    and the local file they came from, so the server's copy is known as our own (own.py)."""
    db.execute(
        "CREATE TABLE uploads_sent (folder TEXT NOT NULL, name TEXT NOT NULL,"
        " sha256 TEXT NOT NULL, mtime_ns INTEGER NOT NULL, inode INTEGER NOT NULL,"
        " PRIMARY KEY (folder, name))"
    )


# Append only: step N brings the schema from version N to N+1. Never edit a released step.
MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_v1, _v2, _v3, _v4]
# The remote mirror's records as stored (syncd/sync/remote.py MirrorFolder / MirrorFile):
FolderRow = tuple[str, str, int]  # id, name, rev
FileRow = tuple[str, str, str, int, str, int, int]  # id, folder_id, name, size, sha256, mtime, rev
RemoteRow = tuple[str, str, FolderRow | FileRow | None]  # kind, id, record (None: deleted)


def migrate(db: sqlite3.Connection, path: Path) -> None:
    db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    row = db.execute("SELECT version FROM schema_version").fetchone()
    version = 0 if row is None else int(row[0])
    if version > len(MIGRATIONS):
        raise LocalError(
            f"state database {path} has schema version {version}, newer than this syncd "
            f"understands ({len(MIGRATIONS)}): upgrade syncd or move the file away"
        )
    for step in range(version, len(MIGRATIONS)):
        db.execute("BEGIN IMMEDIATE")
        try:
            MIGRATIONS[step](db)
            db.execute("DELETE FROM schema_version")
            db.execute("INSERT INTO schema_version (version) VALUES (?)", (step + 1,))
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        log.info("state_db_migrated", path=str(path), version=step + 1)


__all__ = ["MIGRATIONS", "FileRow", "FolderRow", "RemoteRow", "migrate"]
