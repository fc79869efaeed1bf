"""The per-user change feed. State-based: every folder/file row carries the `seq` of its last
change and deletes leave tombstones, so a cursor yields the current state of everything that
changed after it. Also: long-poll waiters and compaction (tombstones older than the last N
seqs are dropped; cursors below that floor answer 410)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from syncd.errors import CursorExpired
from syncd.protocol import Change, ChangesPage, File, Folder
from syncd.server.meta import Conn, Db
from syncd.server.records import file_model, folder_model
from syncd.server.server_secrets import server_secret

DEFAULT_LIMIT = 1000
MAX_LIMIT = 5000
MAX_EPOCH_CHARS = 64


def next_seq(conn: Conn, user_id: str) -> int:
    """Allocate the user's next seq (inside the caller's write transaction)."""
    row = conn.execute(
        "UPDATE users SET last_seq = last_seq + 1 WHERE id=? RETURNING last_seq", (user_id,)
    ).fetchone()
    return int(row[0])


def tombstone(conn: Conn, user_id: str, kind: Literal["folder", "file"], obj_id: str) -> int:
    seq = next_seq(conn, user_id)
    conn.execute(
        "INSERT INTO tombstones (user_id, seq, type, obj_id) VALUES (?,?,?,?)",
        (user_id, seq, kind, obj_id),
    )
    return seq


def compact(db: Db, user_id: str, keep: int) -> int:
    """Forget deletes older than the last `keep` seqs; returns the new floor.

    The floor is the newest *dropped* tombstone, not `last_seq - keep`: a cursor is only
    stale when a delete after it was forgotten. (A floor derived from `last_seq` made every
    fresh read of a library with more than `keep` objects answer 410 on its second page, so
    new clients re-read from 0 forever.)"""
    with db.tx() as conn:
        row = conn.execute(
            "SELECT last_seq, floor_seq FROM users WHERE id=?", (user_id,)
        ).fetchone()
        cutoff = int(row["last_seq"]) - max(0, keep)
        dropped = conn.execute(
            "SELECT MAX(seq) FROM tombstones WHERE user_id=? AND seq<=?", (user_id, cutoff)
        ).fetchone()[0]
        floor = max(int(row["floor_seq"]), int(dropped or 0))
        conn.execute("UPDATE users SET floor_seq=? WHERE id=?", (floor, user_id))
        conn.execute("DELETE FROM tombstones WHERE user_id=? AND seq<=?", (user_id, cutoff))
    return floor


def compact_all(db: Db, keep: int) -> None:
    for row in db.all("SELECT id FROM users"):
        compact(db, row["id"], keep)


@dataclass
class _Item:
    seq: int
    change: Change


def read_page(
    db: Db,
    user_id: str,
    cursor: int,
    limit: int,
    epoch: str | None = None,
    snapshot: int | None = None,
) -> ChangesPage:
    """One page of changes after `cursor` (0 = the whole library, folders first).

    `snapshot` (a full read that can go on below the floor): 0 on its first page, then the
    head that page handed out. A cursor below the floor is fine for such a read as long as
    the floor is not above that head: every delete it must still learn happened after it
    started, so its tombstone is newer than the head and was kept."""
    user = db.one("SELECT last_seq, floor_seq FROM users WHERE id=?", user_id)
    if user is None:
        raise CursorExpired("the user no longer exists")
    head, floor = int(user["last_seq"]), int(user["floor_seq"])
    resumable = snapshot is not None and floor <= snapshot <= head
    if cursor < 0 or cursor > head or (0 < cursor < floor and not resumable):
        raise CursorExpired(
            f"cursor {cursor} is no longer available; re-read from cursor 0",
            cursor=cursor,
            oldest_cursor=floor,
        )
    folders = db.all(
        "SELECT * FROM folders WHERE user_id=? AND seq>? ORDER BY seq", user_id, cursor
    )
    folder_items = [
        _Item(r["seq"], _upsert("folder", r["id"], r["seq"], folder_model(r))) for r in folders
    ]
    if cursor == 0 and floor > 0 and snapshot is None:
        # A client that cannot resume a snapshot below the floor gets every file up to the
        # floor on its first page, so the cursor it hands out is never below it (a fresh
        # read is not stale: it saw the state, not the forgotten deletes). Unbounded.
        below = db.one("SELECT COUNT(*) AS n FROM files WHERE user_id=? AND seq<=?", user_id, floor)
        below_n = int(below["n"]) if below is not None else 0
        limit = max(limit, len(folder_items) + below_n + 1)
    files = db.all(
        "SELECT * FROM files WHERE user_id=? AND seq>? ORDER BY seq LIMIT ?",
        user_id,
        cursor,
        limit + 1,
    )
    file_items = [_Item(r["seq"], _upsert("file", r["id"], r["seq"], file_model(r))) for r in files]
    tombs: list[_Item] = []
    if cursor > 0:
        rows = db.all(
            "SELECT * FROM tombstones WHERE user_id=? AND seq>? ORDER BY seq LIMIT ?",
            user_id,
            cursor,
            limit + 1,
        )
        tombs = [
            _Item(r["seq"], Change(seq=r["seq"], type=r["type"], op="delete", id=r["obj_id"]))
            for r in rows
        ]
    if cursor == 0:
        page = _snapshot_page(folder_items, file_items, head, limit)
    else:
        page = _delta_page(folder_items, file_items, tombs, head, limit)
    if snapshot is not None:
        snapshot = head if cursor == 0 else snapshot
    return page.model_copy(update={"epoch": epoch, "snapshot": snapshot})


def _upsert(kind: Literal["folder", "file"], obj_id: str, seq: int, obj: Folder | File) -> Change:
    # (model_construct: every field is ours and typed; see records.file_model)
    return Change.model_construct(seq=seq, type=kind, op="upsert", id=obj_id, object=obj)


def _snapshot_page(folders: list[_Item], files: list[_Item], head: int, limit: int) -> ChangesPage:
    """Every folder on the first page (a client must know a file's folder before the
    file); files fill the page up to `limit`, in seq order so a seq cursor resumes it."""
    room = max(1, limit - len(folders))
    page_files = files[:room]
    more = len(files) > room
    cursor = page_files[-1].seq if more else head
    changes = [i.change for i in folders] + [i.change for i in page_files]
    return ChangesPage(cursor=cursor, more=more, changes=changes)


def _delta_page(
    folders: list[_Item], files: list[_Item], tombs: list[_Item], head: int, limit: int
) -> ChangesPage:
    merged = sorted(folders + files + tombs, key=lambda i: i.seq)
    page, more = merged[:limit], len(merged) > limit
    cursor = page[-1].seq if more else head
    # A changed file whose folder also changed later must not reach the client before its
    # folder does: put that folder's upsert in front of it (it repeats later; harmless).
    by_id = {i.change.id: i for i in folders}
    sent: set[str] = set()
    changes: list[Change] = []
    for item in page:
        obj = item.change.object
        folder_id = getattr(obj, "folder_id", None) if item.change.type == "file" else None
        if folder_id in by_id and folder_id not in sent:
            changes.append(by_id[folder_id].change)
            sent.add(folder_id)
        if item.change.type == "folder":
            sent.add(item.change.id)
        changes.append(item.change)
    return ChangesPage(cursor=cursor, more=more, changes=changes)


@dataclass(frozen=True)
class FeedEpoch:
    """This server run's feed epoch and each user's feed head when it started. A backup
    restore needs a restart, so a cursor from an earlier epoch beyond the head at start is a
    cursor into a history this library no longer has (even once new changes pass it)."""

    id: str = field(default_factory=lambda: "ep_" + secrets.token_hex(8))
    start_seqs: dict[str, int] = field(default_factory=dict)

    @classmethod
    def start(cls, db: Db) -> FeedEpoch:
        if db.shared:
            return cls.shared(db)
        rows = db.all("SELECT id, last_seq FROM users")
        return cls(start_seqs={r["id"]: int(r["last_seq"]) for r in rows})

    @classmethod
    def shared(cls, db: Db) -> FeedEpoch:
        """Instances of one database share one epoch (kept in it): a client moved to another
        instance by a load balancer must not read that as a rewound server. A cursor from
        another epoch (another library) is rewound from 0; a restored database keeps its
        epoch, so there only a cursor past the head answers 410 (not `rewound`)."""
        return cls(id=server_secret(db, "feed_epoch", lambda: "ep_" + secrets.token_hex(8)))

    def check(self, user_id: str, cursor: int, client_epoch: str | None) -> None:
        """Raise a rewound 410 when `cursor` (of `client_epoch`) is past this run's start."""
        if not client_epoch or client_epoch == self.id:
            return
        if cursor > self.start_seqs.get(user_id, 0):
            raise CursorExpired(
                f"cursor {cursor} is from a history this library no longer has (the server "
                "was restored from an older backup); re-read from cursor 0",
                cursor=cursor,
                rewound=True,
            )


class Notifier:
    """Wakes long polls of a user the moment any request changes that user's library: here
    at once, and on every other instance through `publish` (PostgreSQL's NOTIFY; their
    listener calls `wake`)."""

    def __init__(self, publish: Callable[[str], None] | None = None) -> None:
        self._events: dict[str, asyncio.Event] = {}
        self.closing = False
        self.publish = publish

    def event(self, user_id: str) -> asyncio.Event:
        if user_id not in self._events:
            self._events[user_id] = asyncio.Event()
        return self._events[user_id]

    def notify(self, user_id: str) -> None:
        """After a commit that changed the user's library."""
        self.wake(user_id)
        if self.publish is not None:
            self.publish(user_id)

    def wake(self, user_id: str | None) -> None:
        """Wake this instance's long polls of the user (None: of every user)."""
        for uid in list(self._events) if user_id is None else [user_id]:
            event = self._events.pop(uid, None)
            if event is not None:
                event.set()

    def close(self) -> None:
        """Shutdown: release every waiter so in-flight long polls finish at once."""
        self.closing = True
        self.wake(None)
