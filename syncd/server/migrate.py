"""`syncd admin migrate`: copy an embedded library (SQLite + blob folder under --from) into
PostgreSQL + an S3 bucket. Blobs first, each verified by its digest, then rows by upsert, so a
copied row never names a missing blob and an interrupted run is finished by running it again."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from syncd.errors import ApiError, SyncdError
from syncd.log import get_logger
from syncd.server.blobs.store import BlobStore, open_blob_store
from syncd.server.meta import Db, open_db
from syncd.server.server_secrets import server_secret

log = get_logger(__name__)
# In dependency order. Not copied: user_kind_stats and search_docs (the target's triggers
# rebuild them as files arrive) and SQLite's FTS shadow tables.
COPIED_TABLES = (
    "users",
    "folders",
    "files",
    "tombstones",
    "ingest_hooks",
    "ingest_jobs",
    "ingest_events",
    "server_secrets",
    "trash",
    "sent",
    "web_sessions",
    "web_login_links",
)
# Kept by the target's triggers on `files`: copying them too would count every file twice.
DERIVED_COLUMNS = {"folders": frozenset({"file_count", "bytes"})}
# Each database has its own feed epoch: a daemon re-reads its feed once (a staged, safe
# re-read) instead of trusting cursors of another history.
SKIPPED_SECRETS = frozenset({"feed_epoch", "migration_id"})
MARKER = "migrated_from"  # target's server_secrets: which source it is a copy of
BATCH_ROWS = 500


class MigrateError(SyncdError):
    """The migration cannot go on; the message says why and what to do."""


@dataclass
class Tally:
    blobs_copied: int = 0
    blobs_present: int = 0
    bytes_copied: int = 0
    rows: dict[str, int] = field(default_factory=dict)


def refuse_running_server(source_dir: Path) -> None:
    """The source must not change while it is copied: refuse while its server runs."""
    try:
        pid = int(json.loads((source_dir / "server.json").read_text())["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return  # no server.json: no server running (it is removed at a clean stop)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return  # left behind by a server that was killed
    raise MigrateError(f"the server on {source_dir} is running (pid {pid}): stop it first")


def claim_target(source: Db, target: Db) -> None:
    """The target is empty, or a copy of this very source (a resumed run): never mix two
    libraries in one database."""
    source_id = server_secret(source, "migration_id", lambda: "mig_" + secrets.token_hex(8))
    marker = target.one("SELECT value FROM server_secrets WHERE name=?", MARKER)
    users = target.one("SELECT COUNT(*) AS n FROM users")
    if marker is not None and str(marker["value"]) != source_id:
        raise MigrateError("the target database is a copy of another library: use an empty one")
    if marker is None and users is not None and int(users["n"]) > 0:
        raise MigrateError("the target database already has users: migrate into an empty one")
    with target.tx() as conn:
        conn.execute(
            "INSERT INTO server_secrets (name, value) VALUES (?, ?) ON CONFLICT DO NOTHING",
            (MARKER, source_id),
        )


def blobs_in_use(source: Db) -> list[tuple[str, int]]:
    """Every blob a file or a trash entry refers to, with its size."""
    rows = source.all(
        "SELECT sha256, MAX(size) AS size FROM (SELECT sha256, size FROM files"
        " UNION ALL SELECT sha256, size FROM trash) GROUP BY sha256 ORDER BY sha256"
    )
    return [(str(r["sha256"]), int(r["size"])) for r in rows]


async def copy_blob(source: BlobStore, target: BlobStore, sha256: str, size: int) -> bool:
    """Copy one blob unless the target has it; True when copied. The bytes are hashed on the
    way and stored only when they match their name."""
    if await target.backend.exists(sha256):
        return False
    try:
        async with source.read(sha256, 0, size) as chunks:
            temp = await target.spool.receive(chunks, size)
    except (OSError, ApiError) as exc:
        raise MigrateError(f"blob {sha256} cannot be read from the source: {exc}") from exc
    if temp.sha256 != sha256:
        target.spool.discard(temp)
        raise MigrateError(
            f"blob {sha256} in the source does not match its digest (damaged on disk): "
            "nothing of the library was copied to the database; restore it from a backup"
        )
    await target.backend.store(temp)
    return True


async def copy_blobs(
    source: BlobStore, target: BlobStore, wanted: list[tuple[str, int]], tally: Tally
) -> None:
    for sha256, size in wanted:
        if await copy_blob(source, target, sha256, size):
            tally.blobs_copied += 1
            tally.bytes_copied += size
        else:
            tally.blobs_present += 1


def _key_columns(source: Db, table: str) -> list[str]:
    rows = source.all("SELECT name FROM pragma_table_info(?) WHERE pk > 0 ORDER BY pk", table)
    return [str(r["name"]) for r in rows]


def _upsert_sql(table: str, columns: list[str], keys: list[str]) -> str:
    names = ", ".join(columns)
    marks = ", ".join("?" for _ in columns)
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in keys)
    action = f"DO UPDATE SET {updates}" if updates else "DO NOTHING"
    conflict = ", ".join(keys)
    # Names from COPIED_TABLES and the source's own schema, never from input.
    return f"INSERT INTO {table} ({names}) VALUES ({marks}) ON CONFLICT ({conflict}) {action}"  # noqa: S608


def copy_table(source: Db, target: Db, table: str) -> int:
    """Upsert every row of `table` (keyset pages by rowid, one transaction per page)."""
    keys = _key_columns(source, table)
    derived = DERIVED_COLUMNS.get(table, frozenset())
    copied, after = 0, -1
    while True:
        rows = source.all(
            f"SELECT rowid AS rowid_, * FROM {table} WHERE rowid > ? ORDER BY rowid LIMIT ?",  # noqa: S608
            after,
            BATCH_ROWS,
        )
        if not rows:
            return copied
        # A row iterates its values: the names are its keys().
        columns = [c for c in rows[0].keys() if c != "rowid_" and c not in derived]  # noqa: SIM118
        sql = _upsert_sql(table, columns, keys)
        with target.tx() as conn:
            for row in rows:
                if table == "server_secrets" and row["name"] in SKIPPED_SECRETS:
                    continue
                conn.execute(sql, [row[c] for c in columns])
                copied += 1
        after = int(rows[-1]["rowid_"])


def continue_identities(target: Db) -> None:
    """Explicit ids were copied into an identity column: new rows must start after them."""
    if target.backend == "postgresql":
        target.one(
            "SELECT setval(pg_get_serial_sequence('ingest_events', 'id'),"
            " GREATEST((SELECT MAX(id) FROM ingest_events), 1))"
        )


def verify_counts(source: Db, target: Db) -> None:
    """Same number of rows on both sides (the target can hold only what was copied)."""
    for table in COPIED_TABLES:
        skip = ""
        if table == "server_secrets":
            skip = " WHERE name NOT IN ('feed_epoch', 'migration_id', 'migrated_from')"
        count_sql = f"SELECT COUNT(*) AS n FROM {table}{skip}"  # noqa: S608
        have, want = target.one(count_sql), source.one(count_sql)
        assert have is not None and want is not None
        if int(have["n"]) != int(want["n"]):
            raise MigrateError(
                f"{table}: the target has {have['n']} rows, the source {want['n']}: the source "
                "changed since an earlier run; migrate into a new, empty database"
            )


async def migrate(
    source_dir: Path, db_url: str, blobs_url: str, say: Callable[[str], None]
) -> Tally:
    refuse_running_server(source_dir)
    if not (source_dir / "library.db").exists():
        raise MigrateError(f"{source_dir} holds no library (no library.db)")
    source_db, target_db = open_db(source_dir), open_db(source_dir, db_url)
    source = open_blob_store(source_dir, source_db)
    target = open_blob_store(source_dir, target_db, blobs_url)
    tally = Tally()
    try:
        claim_target(source_db, target_db)
        wanted = blobs_in_use(source_db)
        say(f"copying {len(wanted)} blobs (each verified by its digest)")
        await copy_blobs(source, target, wanted, tally)
        for table in COPIED_TABLES:
            tally.rows[table] = copy_table(source_db, target_db, table)
        continue_identities(target_db)
        verify_counts(source_db, target_db)
    finally:
        await source.close()
        await target.close()
        source_db.close()
        target_db.close()
    log.info("library_migrated", blobs_copied=tally.blobs_copied, rows=sum(tally.rows.values()))
    return tally
