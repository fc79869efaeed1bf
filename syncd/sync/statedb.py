"""The daemon's durable memory (DESIGN §2, §4): base entries, change-feed cursor, library id,
name mappings and waiting/blocked/held items, in SQLite (WAL) outside the sync root, with
versioned migrations. Base changes are committed only after an action succeeded."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import platformdirs

from syncd.log import get_logger
from syncd.sync.model import BaseFile, BaseFolder, BaseTree, RelPath
from syncd.sync.statedb_schema import (
    FileRow,
    FolderRow,
    RemoteRow,
    migrate,
)

log = get_logger("syncd.statedb")

ItemState = Literal["waiting", "blocked", "held"]
ITEM_STATES: tuple[ItemState, ...] = ("waiting", "blocked", "held")


@dataclass(frozen=True)
class SentUpload:
    """An upload sent and not yet answered: the version and the local file it came from."""

    path: RelPath
    sha256: str
    mtime_ns: int
    inode: int


@dataclass(frozen=True)
class Item:
    path: str
    state: ItemState
    reason: str
    details: dict[str, Any]
    updated_at: float  # unix seconds


def default_state_path(library_id: str, state_dir: Path | None = None) -> Path:
    """`sync.state_dir/state.db` when configured, else
    `$XDG_STATE_HOME/syncd/<library-id>/state.db` (~/.local/state/... by default)."""
    if state_dir is not None:
        return state_dir.expanduser() / "state.db"
    return platformdirs.user_state_path("syncd") / library_id / "state.db"


class StateDB:
    """One connection, used from one thread at a time (the engine's event loop thread).

    Each write commits on its own unless it runs inside `transaction()`. The base is also
    held in memory, so `load_base()` is cheap; a rolled-back transaction reloads it."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._db = conn
        self.path = path
        self._depth = 0
        self._base: BaseTree | None = None
        self._sent_count: int | None = None  # rows in uploads_sent (None: read it)

    @classmethod
    def open(cls, path: Path) -> StateDB:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # isolation_level=None: we issue BEGIN/COMMIT ourselves (explicit transactions).
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            # NORMAL under WAL: a power cut may lose the last commits but never corrupts;
            # every step is idempotent, so an older base only means re-checking a few paths.
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=5000")
            migrate(conn, path)
        except BaseException:
            conn.close()
            raise
        return cls(conn, path)

    def close(self) -> None:
        self._db.close()

    def shrink_memory(self) -> None:
        """Drop SQLite's page cache (refilled on demand): the base and the mirror copy are
        read once at start and held in memory; their pages need not be held twice."""
        self._db.execute("PRAGMA shrink_memory")

    def schema_version(self) -> int:
        row = self._db.execute("SELECT version FROM schema_version").fetchone()
        return int(row[0])

    # ---- transactions -------------------------------------------------------------------

    @contextlib.contextmanager
    def transaction(self) -> Iterator[StateDB]:
        """All writes inside commit together or not at all; nests via savepoints."""
        name = f"sp{self._depth}"
        self._db.execute("BEGIN IMMEDIATE" if self._depth == 0 else f"SAVEPOINT {name}")
        self._depth += 1
        try:
            yield self
        except BaseException:
            self._depth -= 1
            if self._depth == 0:
                self._db.execute("ROLLBACK")
            else:
                self._db.execute(f"ROLLBACK TO {name}")
                self._db.execute(f"RELEASE {name}")
            self._base = None  # the in-memory copy saw writes that did not happen
            self._sent_count = None
            raise
        self._depth -= 1
        if self._depth > 0:
            self._db.execute(f"RELEASE {name}")
            return
        try:
            self._db.execute("COMMIT")
        except sqlite3.Error:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            self._base = None
            self._sent_count = None
            raise

    # ---- meta ---------------------------------------------------------------------------

    def _meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _set_meta(self, key: str, value: str) -> None:
        self._db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def cursor(self) -> int:
        """The change-feed cursor the base is consistent with (0: read everything)."""
        value = self._meta("cursor")
        return 0 if value is None else int(value)

    def set_cursor(self, cursor: int) -> None:
        self._set_meta("cursor", str(int(cursor)))

    def library_id(self) -> str | None:
        return self._meta("library_id")

    def set_library_id(self, library_id: str) -> None:
        self._set_meta("library_id", library_id)

    # ---- base ---------------------------------------------------------------------------

    def load_base(self) -> BaseTree:
        """A copy of the base (callers may keep it; later writes do not change it)."""
        base = self._cached_base()
        return BaseTree(files=dict(base.files), folders=dict(base.folders))

    def base_file(self, path: RelPath) -> BaseFile | None:
        return self._cached_base().files.get(path)

    def base_folder(self, name: str) -> BaseFolder | None:
        return self._cached_base().folders.get(name)

    def _cached_base(self) -> BaseTree:
        if self._base is None:
            # Folder names and ids repeat on every row: one string each (sys.intern), not
            # one per file (issue 10 item 6). Names, ids and hashes are interned too: the
            # remote mirror (remote.py) and the scan hold the same ones.
            intern = sys.intern
            files: dict[RelPath, BaseFile] = {}
            for (
                folder,
                name,
                file_id,
                folder_id,
                rev,
                sha,
                size,
                mtime_ns,
                inode,
            ) in self._db.execute(
                "SELECT folder, name, file_id, folder_id, rev, sha256, size, mtime_ns, inode"
                " FROM base_files"
            ):
                path = RelPath(intern(folder), intern(name))
                files[path] = BaseFile(
                    path,
                    intern(file_id),
                    intern(folder_id),
                    rev,
                    intern(sha),
                    size,
                    mtime_ns,
                    inode,
                )
            folders = {
                r[0]: BaseFolder(*r)
                for r in self._db.execute("SELECT name, folder_id, inode FROM base_folders")
            }
            self._base = BaseTree(files=files, folders=folders)
        return self._base

    def put_file(self, entry: BaseFile) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO base_files"
            " (folder, name, file_id, folder_id, rev, sha256, size, mtime_ns, inode)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                entry.path.folder,
                entry.path.name,
                entry.file_id,
                entry.folder_id,
                entry.rev,
                entry.sha256,
                entry.size,
                entry.mtime_ns,
                entry.inode,
            ),
        )
        if self._base is not None:
            self._base.files[entry.path] = entry
        self._forget_sent(entry.path)

    def delete_file(self, path: RelPath) -> None:
        self._db.execute(
            "DELETE FROM base_files WHERE folder = ? AND name = ?", (path.folder, path.name)
        )
        if self._base is not None:
            self._base.files.pop(path, None)
        self._forget_sent(path)

    def put_folder(self, folder: BaseFolder) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO base_folders (name, folder_id, inode) VALUES (?, ?, ?)",
            (folder.name, folder.folder_id, folder.inode),
        )
        if self._base is not None:
            self._base.folders[folder.name] = folder

    def delete_folder(self, name: str) -> None:
        """Drops the folder's own entry only; its files' entries go with delete_file."""
        self._db.execute("DELETE FROM base_folders WHERE name = ?", (name,))
        if self._base is not None:
            self._base.folders.pop(name, None)

    def rename_folder(self, old_name: str, new: BaseFolder) -> None:
        """The folder and every base file in it move to `new.name` (same file entries)."""
        with self.transaction():
            self._db.execute("DELETE FROM base_folders WHERE name = ?", (old_name,))
            self.put_folder(new)
            if old_name != new.name:
                self._db.execute(
                    "UPDATE base_files SET folder = ? WHERE folder = ?", (new.name, old_name)
                )
                # File mappings are keyed "folder/disk name" -> "folder/remote name".
                self._db.execute(
                    "UPDATE name_mappings SET disk_name = ? || substr(disk_name, ?),"
                    " remote_name = ? || substr(remote_name, ?)"
                    " WHERE substr(disk_name, 1, ?) = ?",
                    (
                        new.name,
                        len(old_name) + 1,
                        new.name,
                        len(old_name) + 1,
                        len(old_name) + 1,
                        old_name + "/",
                    ),
                )
            self._db.execute("DELETE FROM uploads_sent WHERE folder = ?", (old_name,))
            self._sent_count = None
            self._base = None  # cheaper to reload than to re-key in place

    # ---- uploads sent, not yet answered ---------------------------------------------------

    def note_upload(self, sent: SentUpload) -> None:
        """Before an upload is sent; its base commit (put_file) or any later base change of
        the path removes the note."""
        self._db.execute(
            "INSERT OR REPLACE INTO uploads_sent (folder, name, sha256, mtime_ns, inode)"
            " VALUES (?, ?, ?, ?, ?)",
            (sent.path.folder, sent.path.name, sent.sha256, sent.mtime_ns, sent.inode),
        )
        self._sent_count = None

    def uploads_sent(self) -> list[SentUpload]:
        if self._sent_count == 0:
            return []
        rows = self._db.execute(
            "SELECT folder, name, sha256, mtime_ns, inode FROM uploads_sent"
        ).fetchall()
        self._sent_count = len(rows)
        return [SentUpload(RelPath(r[0], r[1]), r[2], r[3], r[4]) for r in rows]

    def _forget_sent(self, path: RelPath) -> None:
        if self._sent_count == 0:
            return  # the usual case: no statement per base write
        self._db.execute(
            "DELETE FROM uploads_sent WHERE folder = ? AND name = ?", (path.folder, path.name)
        )
        self._sent_count = None

    # ---- name mappings ------------------------------------------------------------------

    def put_mapping(self, disk_name: str, remote_name: str) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO name_mappings (disk_name, remote_name) VALUES (?, ?)",
            (disk_name, remote_name),
        )

    def delete_mapping(self, disk_name: str) -> None:
        self._db.execute("DELETE FROM name_mappings WHERE disk_name = ?", (disk_name,))

    def mappings(self) -> dict[str, str]:
        """disk name -> remote name: "folder/disk" -> "folder/remote" for a file (folder: its
        remote name), "disk" -> "remote" for a folder (syncd/sync/localnames.py reads them)."""
        rows = self._db.execute("SELECT disk_name, remote_name FROM name_mappings")
        return {str(d): str(r) for d, r in rows}

    # ---- the remote mirror's durable copy -------------------------------------------------

    def remote_rows(
        self,
    ) -> tuple[int, str | None, Iterator[FolderRow], Iterator[FileRow]]:
        """(cursor, feed epoch, folder rows, file rows) of the persisted remote mirror; the
        rows are read as they are consumed (a whole library is never held twice at once)."""
        folders: Iterator[FolderRow] = self._db.execute("SELECT id, name, rev FROM remote_folders")
        files: Iterator[FileRow] = self._db.execute(
            "SELECT id, folder_id, name, size, sha256, mtime_ns, rev FROM remote_files"
        )
        return self.cursor(), self._meta("epoch") or None, folders, files

    def save_remote(
        self, rows: Iterable[RemoteRow], cursor: int, epoch: str | None, *, replace_all: bool
    ) -> None:
        """Apply one pulled delta (or, with replace_all, a whole re-read) and its cursor in one
        transaction: the copy on disk is always the server's state at a cursor it handed out."""
        with self.transaction():
            if replace_all:
                self._db.execute("DELETE FROM remote_folders")
                self._db.execute("DELETE FROM remote_files")
            for kind, obj_id, record in rows:
                table = "remote_folders" if kind == "folder" else "remote_files"
                if record is None:
                    self._db.execute(f"DELETE FROM {table} WHERE id = ?", (obj_id,))  # noqa: S608
                else:
                    marks = ", ".join("?" * len(record))
                    self._db.execute(f"INSERT OR REPLACE INTO {table} VALUES ({marks})", record)  # noqa: S608
            self.set_cursor(cursor)
            self._set_meta("epoch", epoch or "")

    # ---- items (status) -----------------------------------------------------------------

    def set_item(
        self,
        path: str | RelPath,
        state: ItemState,
        reason: str,
        details: dict[str, Any] | None = None,
    ) -> None:
        if state not in ITEM_STATES:
            raise ValueError(f"item state must be one of {ITEM_STATES}, not {state!r}")
        self._db.execute(
            "INSERT OR REPLACE INTO items (path, state, reason, details, updated_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (str(path), state, reason, json.dumps(details or {}), time.time()),
        )

    def clear_item(self, path: str | RelPath) -> None:
        self._db.execute("DELETE FROM items WHERE path = ?", (str(path),))

    def items(self, state: ItemState | None = None) -> list[Item]:
        query = "SELECT path, state, reason, details, updated_at FROM items"
        params: tuple[str, ...] = ()
        if state is not None:
            query, params = query + " WHERE state = ?", (state,)
        rows = self._db.execute(query + " ORDER BY path", params).fetchall()
        return [Item(r[0], r[1], r[2], json.loads(r[3]), r[4]) for r in rows]
