"""The metadata store's interface, the same for SQLite and PostgreSQL: `tx()`, `one`, `all`,
ranked search, reachability; the row, cursor and connection shapes both backends give."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

# Transaction-scoped advisory lock keys (PostgreSQL; SQLite's BEGIN IMMEDIATE is the same
# guarantee for its one writer). Every write transaction takes WRITE_LOCK first: quota, seq
# and name checks never interleave, on one instance or many.
WRITE_LOCK = 0x7379_6E63_6401  # "syncd" 01
MIGRATE_LOCK = 0x7379_6E63_6402  # session lock while one process migrates the schema
JOBS_LOCK = 0x7379_6E63_6403  # trash purge, feed compaction: one instance at a time
BLOB_LOCK_SPACE = 0x7379_6E63  # first key of a blob's (int4, int4) lock: a space of its own
RETRY_AFTER_S = 2  # a busy or unreachable database: the client retries after this


class Row(Protocol):
    """A result row: by column name (`row["id"]`) and by position (`row[0]`), like
    sqlite3.Row; `dict(row)` works."""

    def __getitem__(self, key: int | str, /) -> Any: ...

    def keys(self) -> list[str]: ...

    def __iter__(self) -> Iterator[Any]: ...

    def __len__(self) -> int: ...


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class Conn(Protocol):
    """The connection a transaction yields: `?` placeholders on both backends."""

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> Cursor: ...


@dataclass(frozen=True)
class DbReach:
    backend: str  # "sqlite" or "postgresql"
    reachable: bool
    detail: str = ""  # why not, for health and the log (never credentials)


class Db(ABC):
    """One connection per process; writes go through `tx()` (rolled back on any exception),
    reads through `one` / `all` (autocommit outside a transaction, inside it within it)."""

    backend: ClassVar[str]
    # Several server instances may share it: queues then claim work with leases instead of
    # taking back every claimed job at start (another instance may be working on it).
    shared: ClassVar[bool]

    @abstractmethod
    def tx(self) -> AbstractContextManager[Conn]:
        """A write transaction, serialized with every other writer of the database."""

    @abstractmethod
    def one(self, sql: str, *args: object) -> Row | None: ...

    @abstractmethod
    def all(self, sql: str, *args: object) -> list[Row]: ...

    @abstractmethod
    def ranked_search(self, user_id: str, words: list[str], limit: int) -> list[Row]:
        """Search documents of `user_id` holding every word as a prefix, best first: rows
        of (obj_id, type, rank), lower rank = better."""

    @abstractmethod
    def try_jobs_lock(self) -> AbstractContextManager[bool]:
        """Hold the single-runner jobs lock if free (True), for trash purge and compaction;
        False while another instance holds it."""

    @abstractmethod
    def hold_blob(self, sha256: str, *, exclusive: bool) -> bool:
        """A hold on one blob across instances: shared while an upload's row is not yet
        committed (a pin), exclusive while deleting it. False when another instance holds a
        conflicting one. Each True needs its `release_blob`. SQLite: always True."""

    @abstractmethod
    def release_blob(self, sha256: str, *, exclusive: bool) -> None: ...

    @abstractmethod
    def announce(self, user_id: str) -> None:
        """Tell every other instance that `user_id`'s library changed (after the commit);
        never raises: a lost announcement only delays their long polls to their timeout."""

    @abstractmethod
    async def listen(self, wake: Callable[[str | None], None]) -> None:
        """Run until cancelled: call `wake(user_id)` for each announcement of another
        instance, `wake(None)` (every user) after a reconnect that may have missed some."""

    @abstractmethod
    async def check(self) -> DbReach:
        """Reachability, for `/v1/health` (bounded by a few seconds)."""

    @abstractmethod
    def describe(self) -> str:
        """For logs: the backend and where, never a password."""

    @abstractmethod
    def close(self) -> None: ...
