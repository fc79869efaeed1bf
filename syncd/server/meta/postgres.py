"""The metadata store on PostgreSQL (psycopg 3, synchronous like the SQLite one): one connection
per process, re-made when lost; migrations under a lock; every write transaction takes the one
write advisory lock; driver errors translated once here into syncd's error tree."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NoReturn

import psycopg
from psycopg import errors as pg_errors

from syncd import log as syncd_log
from syncd.errors import ConfigError, ConstraintViolation, Unavailable
from syncd.server.meta.base import (
    BLOB_LOCK_SPACE,
    JOBS_LOCK,
    MIGRATE_LOCK,
    RETRY_AFTER_S,
    WRITE_LOCK,
    Conn,
    Cursor,
    Db,
    DbReach,
    Row,
)
from syncd.server.meta.dialect import to_pyformat
from syncd.server.meta.pg_schema import PG_MIGRATIONS
from syncd.server.meta.settings import SETTING, PgSettings

log = syncd_log.get_logger(__name__)
CHECK_TIMEOUT_S = 3.0
FEED_CHANNEL = "syncd_feed"  # NOTIFY payload: the user id whose library changed
# Every word of the query as a prefix (`'word':*`), all required, folded like the documents
# (syncd_words: case, accents, punctuation); weights {D, C, B, A} as bm25's on SQLite.
_RANKED = """
WITH q AS (
    SELECT to_tsquery('simple', string_agg(quote_literal(w) || ':*', ' & ')) AS q
    FROM unnest(string_to_array(syncd_words(?), ' ')) AS w WHERE w <> ''
)
SELECT d.obj_id, d.type, -ts_rank('{0.2, 0.4, 0.6, 1.0}', d.doc, q.q) AS rank
FROM search_docs d, q WHERE d.user_id = ? AND d.doc @@ q.q ORDER BY rank, d.id LIMIT ?
"""


class PgRow:
    """A row by name and by position, like sqlite3.Row."""

    __slots__ = ("_names", "_values")

    def __init__(self, values: tuple[Any, ...], names: dict[str, int]) -> None:
        self._values, self._names = values, names

    def __getitem__(self, key: int | str, /) -> Any:
        return self._values[self._names[key] if isinstance(key, str) else key]

    def keys(self) -> list[str]:
        return list(self._names)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


def _row_factory(cursor: psycopg.Cursor[Any]) -> Callable[[Sequence[Any]], PgRow]:
    names = {column.name: i for i, column in enumerate(cursor.description or ())}
    return lambda values: PgRow(tuple(values), names)


def translate(exc: psycopg.Error) -> NoReturn:
    """The one translation of the driver's errors: a broken constraint for the caller to map,
    busy / timed out / unreachable as 503 (retryable); anything else is a bug, re-raised."""
    if isinstance(exc, pg_errors.IntegrityError):
        raise ConstraintViolation(str(exc).strip()) from exc
    if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
        log.warning("database_call_failed", error=str(exc).strip(), kind=type(exc).__name__)
        raise Unavailable(
            "the metadata database is busy or unreachable; try again",
            retry_after_s=RETRY_AFTER_S,
        ) from exc
    raise exc


def _blob_key(sha256: str) -> int:
    """A signed int4 from the hash's first 8 hex digits."""
    return int(sha256[:8], 16) - (1 << 31)


class _Conn:
    """psycopg's connection with `?` placeholders and translated errors."""

    def __init__(self, conn: psycopg.Connection[PgRow]) -> None:
        self._conn = conn

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> Cursor:
        try:
            return self._conn.execute(to_pyformat(sql), tuple(parameters))
        except psycopg.Error as exc:
            translate(exc)


class PostgresDb(Db):
    backend = "postgresql"
    shared = True

    def __init__(self, settings: PgSettings) -> None:
        self.settings = settings
        try:
            self._conn = self._connect()
        except psycopg.Error as exc:
            raise ConfigError(
                f"{SETTING}: cannot reach {settings.describe()}: {str(exc).strip()}"
            ) from None
        try:
            self._migrate()
        except psycopg.Error as exc:  # e.g. no right to create a table or the extension
            raise ConfigError(
                f"{SETTING}: cannot migrate the schema of {settings.describe()}: {str(exc).strip()}"
            ) from None

    def _connect(self) -> psycopg.Connection[PgRow]:
        conn: psycopg.Connection[PgRow] = psycopg.connect(
            **self.settings.conninfo(),  # type: ignore[arg-type]
            autocommit=True,
            row_factory=_row_factory,
        )
        return conn

    def _live(self) -> psycopg.Connection[PgRow]:
        """The connection, re-made once it was lost (a database restart, a failover)."""
        if self._conn.closed or self._conn.broken:
            try:
                self._conn = self._connect()
            except psycopg.Error as exc:
                translate(exc)
            log.info("database_reconnected", db=self.describe())
        return self._conn

    def _migrate(self) -> None:
        conn = self._conn
        # Instances starting together: one migrates, the others wait and see the result.
        conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATE_LOCK,))
        try:
            conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)")
            row = conn.execute("SELECT version FROM schema_version").fetchone()
            version = int(row[0]) if row is not None else 0
            if version > len(PG_MIGRATIONS):
                raise ConfigError(
                    f"{SETTING}: database schema v{version} is newer than this program"
                    f" (v{len(PG_MIGRATIONS)})"
                )
            for target, script in enumerate(PG_MIGRATIONS[version:], start=version + 1):
                with conn.transaction():
                    conn.execute(script.encode())  # no parameters: `%` and `$$` stay as written
                    conn.execute("DELETE FROM schema_version")
                    conn.execute("INSERT INTO schema_version VALUES (%s)", (target,))
                log.info("database_migrated", version=target)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATE_LOCK,))

    @contextmanager
    def tx(self) -> Iterator[Conn]:
        """A write transaction behind the write lock: writers never interleave, on this
        instance or another; rolled back on any exception."""
        conn = self._live()
        try:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
                yield _Conn(conn)
        except psycopg.Error as exc:
            translate(exc)

    def one(self, sql: str, *args: object) -> Row | None:
        row: PgRow | None = _Conn(self._live()).execute(sql, args).fetchone()
        return row

    def all(self, sql: str, *args: object) -> list[Row]:
        return list(_Conn(self._live()).execute(sql, args).fetchall())

    def ranked_search(self, user_id: str, words: list[str], limit: int) -> list[Row]:
        return self.all(_RANKED, " ".join(words), user_id, limit)

    @contextmanager
    def try_jobs_lock(self) -> Iterator[bool]:
        conn = _Conn(self._live())
        got = bool(conn.execute("SELECT pg_try_advisory_lock(?)", (JOBS_LOCK,)).fetchone()[0])
        try:
            yield got
        finally:
            if got and not self._conn.closed:
                conn.execute("SELECT pg_advisory_unlock(?)", (JOBS_LOCK,))

    def hold_blob(self, sha256: str, *, exclusive: bool) -> bool:
        # A session lock on the instance's connection (outside any transaction): it lasts
        # from the pin to the row's commit, across awaits. 32 bits of the hash: a collision
        # only defers a delete (the blob stays an orphan until a later collect or sweep).
        kind = "" if exclusive else "_shared"
        row = (
            _Conn(self._live())
            .execute(
                f"SELECT pg_try_advisory_lock{kind}(?, ?)", (BLOB_LOCK_SPACE, _blob_key(sha256))
            )
            .fetchone()
        )
        return bool(row[0])

    def release_blob(self, sha256: str, *, exclusive: bool) -> None:
        kind = "" if exclusive else "_shared"
        # A lost connection released it already (Unavailable is logged by translate).
        with contextlib.suppress(Unavailable):
            if not self._conn.closed:
                _Conn(self._conn).execute(
                    f"SELECT pg_advisory_unlock{kind}(?, ?)", (BLOB_LOCK_SPACE, _blob_key(sha256))
                )

    def announce(self, user_id: str) -> None:
        # Unavailable is logged by translate; the other instances' long polls time out instead.
        with contextlib.suppress(Unavailable):
            _Conn(self._live()).execute("SELECT pg_notify(?, ?)", (FEED_CHANNEL, user_id))

    async def listen(self, wake: Callable[[str | None], None]) -> None:
        while True:
            try:
                await self._listen_once(wake)
            except psycopg.Error as exc:
                log.warning("feed_listener_lost", error=str(exc).strip(), retry_s=RETRY_AFTER_S)
            await asyncio.sleep(RETRY_AFTER_S)

    async def _listen_once(self, wake: Callable[[str | None], None]) -> None:
        conn = await psycopg.AsyncConnection.connect(
            **self.settings.conninfo(),  # type: ignore[arg-type]
            autocommit=True,
        )
        async with conn:
            await conn.execute(f"LISTEN {FEED_CHANNEL}")
            wake(None)  # changes made while not listening: every long poll re-reads
            async for note in conn.notifies():
                wake(note.payload)

    async def check(self) -> DbReach:
        def probe() -> None:
            info = {**self.settings.conninfo(), "connect_timeout": int(CHECK_TIMEOUT_S)}
            with psycopg.connect(**info) as conn:  # type: ignore[arg-type]
                conn.execute("SELECT 1")

        try:
            await asyncio.wait_for(asyncio.to_thread(probe), CHECK_TIMEOUT_S + 1)
        except (psycopg.Error, TimeoutError) as exc:
            return DbReach(self.backend, False, str(exc).strip() or "timed out")
        return DbReach(self.backend, True)

    def describe(self) -> str:
        return self.settings.describe()

    def close(self) -> None:
        self._conn.close()
