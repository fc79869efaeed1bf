"""The server's shared state (database, blob store, quotas, feed notifier, settings), one per
running app; handlers and the ingest code reach everything through it."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from syncd.server.blobs.store import BlobStore, open_blob_store
from syncd.server.feed import FeedEpoch, Notifier
from syncd.server.meta import Db, open_db
from syncd.server.quota import Quotas

DEFAULT_FEED_KEEP = 10_000
DEFAULT_TRASH_DAYS = 7
DEFAULT_TRASH_PERCENT = 100  # a user's trash holds at most this % of their quota


@dataclass(frozen=True)
class Limits:
    """Connection and request limits of `syncd serve` (each a CLI flag, see commands.py)."""

    header_timeout_s: float = 20.0  # connection open / first byte -> end of request headers
    idle_timeout_s: float = 75.0  # keep-alive: end of an answer -> next request
    body_timeout_s: float = 30.0  # longest gap between two bytes of a request body
    max_connections: int = 4096  # more are answered 503 and closed


@dataclass(frozen=True)
class Precondition:
    """If-Match / If-None-Match of a mutation, parsed."""

    if_match: int | None = None  # replace/modify only this rev
    if_match_any: bool = False  # `If-Match: *`: must exist
    if_none_match_any: bool = False  # `If-None-Match: *`: must not exist


NO_PRECONDITION = Precondition()


@dataclass
class ServerState:
    data_dir: Path
    db: Db
    blobs: BlobStore
    quotas: Quotas
    notifier: Notifier
    feed_keep: int = DEFAULT_FEED_KEEP
    test_hooks: bool = False
    trash_days: float = DEFAULT_TRASH_DAYS  # how long deleted files stay restorable
    trash_percent: float = DEFAULT_TRASH_PERCENT  # trash cap per user, % of their quota
    limits: Limits = field(default_factory=Limits)
    # Per-user request/transfer counters (exposed only with --test-hooks).
    counters: defaultdict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    epoch: FeedEpoch = field(default_factory=FeedEpoch)

    @classmethod
    def open(
        cls,
        data_dir: Path,
        *,
        feed_keep: int = DEFAULT_FEED_KEEP,
        test_hooks: bool = False,
        trash_days: float = DEFAULT_TRASH_DAYS,
        trash_percent: float = DEFAULT_TRASH_PERCENT,
        limits: Limits | None = None,
        blobs_url: str | None = None,
        db_url: str | None = None,
    ) -> ServerState:
        data_dir.mkdir(parents=True, exist_ok=True)
        db = open_db(data_dir, db_url)
        blobs = open_blob_store(data_dir, db, blobs_url)
        state = cls(
            data_dir,
            db,
            blobs,
            Quotas(db),
            Notifier(publish=db.announce if db.shared else None),
            feed_keep,
            test_hooks,
            trash_days,
            trash_percent,
            limits or Limits(),
        )
        state.epoch = FeedEpoch.start(db)
        return state

    def count(self, user_id: str, key: str, amount: int = 1) -> None:
        self.counters[user_id][key] += amount

    async def close(self) -> None:
        self.notifier.close()
        await self.blobs.close()
        self.db.close()
