"""The SQLite schema (versioned migrations, append only) and the id and time helpers every
server module uses; the connection itself is syncd/server/meta/sqlite.py (and PostgreSQL's
schema meta/pg_schema.py, kept in step with this list)."""

from __future__ import annotations

import base64
import functools
import secrets
import time

# Each entry migrates from version i to i+1 (PRAGMA user_version). Append only.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE users (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        name_key TEXT NOT NULL UNIQUE,
        token_hash TEXT NOT NULL UNIQUE,
        library_id TEXT NOT NULL,
        limit_bytes INTEGER NOT NULL,
        max_file_bytes INTEGER NOT NULL,
        used_bytes INTEGER NOT NULL DEFAULT 0,
        last_seq INTEGER NOT NULL DEFAULT 0,
        floor_seq INTEGER NOT NULL DEFAULT 0,
        created_ns INTEGER NOT NULL
    );
    CREATE TABLE folders (
        id TEXT PRIMARY KEY,
        user_id TEXT NOT NULL REFERENCES users(id),
        name TEXT NOT NULL,
        name_key TEXT NOT NULL,
        kind TEXT NOT NULL,
        participant_id TEXT,
        phone TEXT,
        display_name TEXT,
        rev INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        created_ns INTEGER NOT NULL,
        UNIQUE (user_id, name_key)
    );
    CREATE UNIQUE INDEX folders_participant ON folders(user_id, participant_id)
        WHERE participant_id IS NOT NULL;
    CREATE INDEX folders_seq ON folders(user_id, seq);
    CREATE TABLE files (
        id TEXT PRIMARY KEY,
        user_id TEXT NOT NULL REFERENCES users(id),
        folder_id TEXT NOT NULL REFERENCES folders(id),
        name TEXT NOT NULL,
        name_key TEXT NOT NULL,
        size INTEGER NOT NULL,
        sha256 TEXT NOT NULL,
        mime TEXT NOT NULL,
        kind TEXT NOT NULL,
        source TEXT NOT NULL,
        created_ns INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        rev INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        UNIQUE (folder_id, name_key)
    );
    CREATE INDEX files_seq ON files(user_id, seq);
    CREATE INDEX files_sha ON files(sha256);
    CREATE TABLE tombstones (
        user_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        type TEXT NOT NULL,
        obj_id TEXT NOT NULL,
        PRIMARY KEY (user_id, seq)
    );
    """,
    # v2 (ingest, share links): webhook hooks with their secrets, the persistent fetch queue
    # which is also the (hook, message id) dedupe record, ingest outcomes, server secrets.
    """
    CREATE TABLE ingest_hooks (
        id TEXT PRIMARY KEY,
        user_id TEXT NOT NULL REFERENCES users(id),
        type TEXT NOT NULL,
        config TEXT NOT NULL,
        created_ns INTEGER NOT NULL
    );
    CREATE TABLE ingest_jobs (
        hook_id TEXT NOT NULL,
        message_id TEXT NOT NULL,
        raw_id TEXT NOT NULL,
        user_id TEXT NOT NULL,
        state TEXT NOT NULL,
        job TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_ns INTEGER NOT NULL,
        file_id TEXT,
        revoked_ns INTEGER,
        created_ns INTEGER NOT NULL,
        PRIMARY KEY (hook_id, message_id)
    );
    CREATE INDEX ingest_jobs_due ON ingest_jobs(state, next_ns);
    CREATE INDEX ingest_jobs_raw ON ingest_jobs(hook_id, raw_id);
    CREATE INDEX ingest_jobs_file ON ingest_jobs(file_id);
    CREATE TABLE ingest_events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        user_id TEXT NOT NULL,
        hook_id TEXT,
        message_id TEXT,
        outcome TEXT NOT NULL,
        reason TEXT,
        file_id TEXT,
        sender TEXT,
        created_ns INTEGER NOT NULL
    );
    CREATE INDEX ingest_events_user ON ingest_events(user_id, id);
    CREATE TABLE server_secrets (
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    """,
    # v3 (undo window): deleted files kept per user until purged; the blob stays while an
    # entry refers to it. Not counted in quota. folder_name lets a restore re-create a
    # folder that was deleted too.
    """
    CREATE TABLE trash (
        id TEXT PRIMARY KEY,
        user_id TEXT NOT NULL REFERENCES users(id),
        file_id TEXT NOT NULL,
        folder_id TEXT NOT NULL,
        folder_name TEXT NOT NULL,
        name TEXT NOT NULL,
        size INTEGER NOT NULL,
        sha256 TEXT NOT NULL,
        mime TEXT NOT NULL,
        kind TEXT NOT NULL,
        source TEXT NOT NULL,
        created_ns INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        rev INTEGER NOT NULL,
        deleted_ns INTEGER NOT NULL
    );
    CREATE INDEX trash_user ON trash(user_id, deleted_ns);
    CREATE INDEX trash_deleted ON trash(deleted_ns);
    CREATE INDEX trash_sha ON trash(sha256);
    """,
    # v4 (O(1) counters): per-folder file count and bytes, per-user files and bytes by kind,
    # kept by triggers on every insert, delete and change of `files` (whatever code path
    # makes it), so GET /v1/account and each feed page no longer aggregate all files.
    """
    ALTER TABLE folders ADD COLUMN file_count INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE folders ADD COLUMN bytes INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE user_kind_stats (
        user_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        files INTEGER NOT NULL DEFAULT 0,
        bytes INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (user_id, kind)
    );
    UPDATE folders SET
        file_count = (SELECT COUNT(*) FROM files WHERE files.folder_id = folders.id),
        bytes = (SELECT COALESCE(SUM(size), 0) FROM files WHERE files.folder_id = folders.id);
    INSERT INTO user_kind_stats (user_id, kind, files, bytes)
        SELECT user_id, kind, COUNT(*), SUM(size) FROM files GROUP BY user_id, kind;
    CREATE TRIGGER files_counted_insert AFTER INSERT ON files BEGIN
        UPDATE folders SET file_count = file_count + 1, bytes = bytes + NEW.size
            WHERE id = NEW.folder_id;
        INSERT INTO user_kind_stats (user_id, kind, files, bytes)
            VALUES (NEW.user_id, NEW.kind, 1, NEW.size)
            ON CONFLICT (user_id, kind) DO UPDATE
            SET files = files + 1, bytes = bytes + excluded.bytes;
    END;
    CREATE TRIGGER files_counted_delete AFTER DELETE ON files BEGIN
        UPDATE folders SET file_count = file_count - 1, bytes = bytes - OLD.size
            WHERE id = OLD.folder_id;
        UPDATE user_kind_stats SET files = files - 1, bytes = bytes - OLD.size
            WHERE user_id = OLD.user_id AND kind = OLD.kind;
    END;
    CREATE TRIGGER files_counted_update AFTER UPDATE OF folder_id, size, kind ON files BEGIN
        UPDATE folders SET file_count = file_count - 1, bytes = bytes - OLD.size
            WHERE id = OLD.folder_id;
        UPDATE folders SET file_count = file_count + 1, bytes = bytes + NEW.size
            WHERE id = NEW.folder_id;
        UPDATE user_kind_stats SET files = files - 1, bytes = bytes - OLD.size
            WHERE user_id = OLD.user_id AND kind = OLD.kind;
        INSERT INTO user_kind_stats (user_id, kind, files, bytes)
            VALUES (NEW.user_id, NEW.kind, 1, NEW.size)
            ON CONFLICT (user_id, kind) DO UPDATE
            SET files = files + 1, bytes = bytes + excluded.bytes;
    END;
    """,
    # v5 (find): each file keeps the caption and original file name of the message it came
    # in (copied from its ingest job when the job finishes, again when restored from the
    # trash); `search_docs` holds one searchable document per folder and per file, kept by
    # triggers whatever code path writes, and `search` is its FTS5 index (case- and
    # accent-insensitive words; phones as digits, also matched as substrings by the query).
    """
    ALTER TABLE files ADD COLUMN caption TEXT;
    ALTER TABLE files ADD COLUMN original_name TEXT;
    CREATE TABLE search_docs (
        id INTEGER PRIMARY KEY,
        obj_id TEXT NOT NULL UNIQUE,
        user_id TEXT NOT NULL,
        type TEXT NOT NULL,
        name TEXT NOT NULL,
        original_name TEXT,
        caption TEXT,
        folder TEXT,
        phone TEXT
    );
    CREATE INDEX search_docs_user ON search_docs(user_id, type);
    CREATE VIRTUAL TABLE search USING fts5(
        name, original_name, caption, folder, phone,
        content='search_docs', content_rowid='id',
        tokenize="unicode61 remove_diacritics 2"
    );
    CREATE TRIGGER search_docs_ai AFTER INSERT ON search_docs BEGIN
        INSERT INTO search (rowid, name, original_name, caption, folder, phone)
            VALUES (NEW.id, NEW.name, NEW.original_name, NEW.caption, NEW.folder, NEW.phone);
    END;
    CREATE TRIGGER search_docs_ad AFTER DELETE ON search_docs BEGIN
        INSERT INTO search (search, rowid, name, original_name, caption, folder, phone)
            VALUES ('delete', OLD.id, OLD.name, OLD.original_name, OLD.caption, OLD.folder,
                    OLD.phone);
    END;
    CREATE TRIGGER search_docs_au AFTER UPDATE ON search_docs BEGIN
        INSERT INTO search (search, rowid, name, original_name, caption, folder, phone)
            VALUES ('delete', OLD.id, OLD.name, OLD.original_name, OLD.caption, OLD.folder,
                    OLD.phone);
        INSERT INTO search (rowid, name, original_name, caption, folder, phone)
            VALUES (NEW.id, NEW.name, NEW.original_name, NEW.caption, NEW.folder, NEW.phone);
    END;
    CREATE TRIGGER search_folder_insert AFTER INSERT ON folders BEGIN
        INSERT INTO search_docs (obj_id, user_id, type, name, folder, phone)
            VALUES (NEW.id, NEW.user_id, 'folder', NEW.name, NEW.display_name,
                    ltrim(NEW.phone, '+'));
    END;
    CREATE TRIGGER search_folder_delete AFTER DELETE ON folders BEGIN
        DELETE FROM search_docs WHERE obj_id = OLD.id;
    END;
    CREATE TRIGGER search_folder_update AFTER UPDATE OF name, display_name, phone ON folders
    BEGIN
        UPDATE search_docs SET name = NEW.name, folder = NEW.display_name,
            phone = ltrim(NEW.phone, '+') WHERE obj_id = NEW.id;
        UPDATE search_docs SET folder = NEW.name || ' ' || COALESCE(NEW.display_name, ''),
            phone = ltrim(NEW.phone, '+')
            WHERE obj_id IN (SELECT id FROM files WHERE folder_id = NEW.id);
    END;
    CREATE TRIGGER search_file_insert AFTER INSERT ON files BEGIN
        INSERT INTO search_docs (obj_id, user_id, type, name, original_name, caption, folder,
                                 phone)
            SELECT NEW.id, NEW.user_id, 'file', NEW.name, NEW.original_name, NEW.caption,
                   f.name || ' ' || COALESCE(f.display_name, ''), ltrim(f.phone, '+')
            FROM folders f WHERE f.id = NEW.folder_id;
        UPDATE files SET
            caption = (SELECT json_extract(job, '$.caption') FROM ingest_jobs
                       WHERE file_id = NEW.id),
            original_name = (SELECT json_extract(job, '$.filename') FROM ingest_jobs
                             WHERE file_id = NEW.id)
            WHERE id = NEW.id AND NEW.caption IS NULL AND NEW.original_name IS NULL
            AND EXISTS (SELECT 1 FROM ingest_jobs WHERE file_id = NEW.id);
    END;
    CREATE TRIGGER search_file_delete AFTER DELETE ON files BEGIN
        DELETE FROM search_docs WHERE obj_id = OLD.id;
    END;
    CREATE TRIGGER search_file_update
        AFTER UPDATE OF name, folder_id, caption, original_name ON files BEGIN
        UPDATE search_docs SET name = NEW.name, original_name = NEW.original_name,
            caption = NEW.caption,
            folder = (SELECT f.name || ' ' || COALESCE(f.display_name, '') FROM folders f
                      WHERE f.id = NEW.folder_id),
            phone = (SELECT ltrim(f.phone, '+') FROM folders f WHERE f.id = NEW.folder_id)
            WHERE obj_id = NEW.id;
    END;
    CREATE TRIGGER search_job_filed AFTER UPDATE OF file_id ON ingest_jobs
        WHEN NEW.file_id IS NOT NULL BEGIN
        UPDATE files SET caption = json_extract(NEW.job, '$.caption'),
            original_name = json_extract(NEW.job, '$.filename')
            WHERE id = NEW.file_id;
    END;
    UPDATE files SET
        caption = (SELECT json_extract(j.job, '$.caption') FROM ingest_jobs j
                   WHERE j.file_id = files.id),
        original_name = (SELECT json_extract(j.job, '$.filename') FROM ingest_jobs j
                         WHERE j.file_id = files.id);
    INSERT INTO search_docs (obj_id, user_id, type, name, folder, phone)
        SELECT id, user_id, 'folder', name, display_name, ltrim(phone, '+') FROM folders;
    INSERT INTO search_docs (obj_id, user_id, type, name, original_name, caption, folder, phone)
        SELECT fi.id, fi.user_id, 'file', fi.name, fi.original_name, fi.caption,
               f.name || ' ' || COALESCE(f.display_name, ''), ltrim(f.phone, '+')
        FROM files fi JOIN folders f ON f.id = fi.folder_id;
    """,
    # v6 (send): files sent to a contact through a gateway hook; the persistent send queue
    # (queued -> sending -> sent | failed, retried with backoff) and its record (GET /v1/sent).
    """
    CREATE TABLE sent (
        id TEXT PRIMARY KEY,
        user_id TEXT NOT NULL REFERENCES users(id),
        file_id TEXT NOT NULL,
        file_name TEXT NOT NULL,
        hook_id TEXT NOT NULL,
        to_phone TEXT NOT NULL,
        caption TEXT,
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_ns INTEGER NOT NULL,
        gateway_status INTEGER,
        gateway_message_id TEXT,
        error TEXT,
        created_ns INTEGER NOT NULL,
        updated_ns INTEGER NOT NULL
    );
    CREATE INDEX sent_user ON sent(user_id, created_ns);
    CREATE INDEX sent_due ON sent(state, next_ns);
    """,
    # v7 (web page): browser sessions and one-time sign-in links. Only SHA-256 hashes of
    # their secrets are stored; `csrf` is the session's anti-forgery token (useless without
    # the cookie). Plain portable SQL (also meant for the PostgreSQL port).
    """
    CREATE TABLE web_sessions (
        id_hash TEXT PRIMARY KEY,
        user_id TEXT NOT NULL REFERENCES users(id),
        csrf TEXT NOT NULL,
        created_ns INTEGER NOT NULL,
        expires_ns INTEGER NOT NULL
    );
    CREATE INDEX web_sessions_user ON web_sessions(user_id);
    CREATE INDEX web_sessions_expires ON web_sessions(expires_ns);
    CREATE TABLE web_login_links (
        token_hash TEXT PRIMARY KEY,
        user_id TEXT NOT NULL REFERENCES users(id),
        created_ns INTEGER NOT NULL,
        expires_ns INTEGER NOT NULL,
        used_ns INTEGER
    );
    CREATE INDEX web_login_links_user ON web_login_links(user_id);
    """,
]


def new_id(prefix: str) -> str:
    """Opaque random id, e.g. `fi_k5q...`: unguessable, so ids leak nothing across tenants."""
    raw = base64.b32encode(secrets.token_bytes(10)).decode("ascii").lower()
    return f"{prefix}_{raw}"


def now_ns() -> int:
    return time.time_ns()


def rfc3339(ns: int) -> str:
    """RFC 3339 UTC with microseconds, e.g. `2026-11-24T09:12:44.123456Z`. Not through
    datetime.strftime: a feed page formats two per file, and strftime was a quarter of the
    server's time reading a 20,000-file library."""
    seconds, rest_ns = divmod(ns, 1_000_000_000)
    return f"{_rfc3339_second(seconds)}.{rest_ns // 1000:06d}Z"


@functools.lru_cache(maxsize=4096)  # files received or written together share their seconds
def _rfc3339_second(seconds: int) -> str:
    t = time.gmtime(seconds)
    return "%04d-%02d-%02dT%02d:%02d:%02d" % t[:6]  # noqa: UP031 (a tuple: the fastest here)
