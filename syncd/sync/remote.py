"""The daemon's picture of the remote library, built from the change feed: apply feed pages,
then derive the RemoteTree the planner compares. Also the feed reader: a delta is applied only
once all its pages are in, and a full re-read (first start, 410) fills a staging mirror that
replaces the live one only when complete, so a pass never plans against a partial view."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, NamedTuple

from syncd.errors import CursorExpired, TransportError
from syncd.log import get_logger
from syncd.protocol import Change, File, Folder
from syncd.sync.client import ApiClient
from syncd.sync.memory import collection_paused
from syncd.sync.model import RelPath, RemoteFile, RemoteFolder, RemoteTree

if TYPE_CHECKING:
    from syncd.sync.statedb_schema import FileRow, FolderRow, RemoteRow

log = get_logger("syncd.remote")


# The mirror keeps one compact record per server object, not the wire model: a pydantic
# File with its dict, fields-set and eleven strings costs ~2 KiB, ~5x these (issue 10 item 6).
# Tuples in the state DB's column order (statedb.py remote_folders / remote_files): a start
# makes each from its row in one call.
class MirrorFolder(NamedTuple):
    id: str
    name: str
    rev: int


class MirrorFile(NamedTuple):
    id: str
    folder_id: str  # interned: thousands of files share a few folder ids
    name: str
    size: int
    sha256: str
    mtime_ns: int
    rev: int


Kind = Literal["folder", "file"]
Record = MirrorFolder | MirrorFile
# One feed change as the mirror applies it: kind, id, the object's record (None: deleted).
Entry = tuple[Kind, str, Record | None]


def compact(obj: File | Folder) -> Record:
    if isinstance(obj, Folder):
        return MirrorFolder(obj.id, obj.name, obj.rev)
    intern = sys.intern  # the base (statedb.py) holds the same names, ids and hashes
    return MirrorFile(
        intern(obj.id),
        intern(obj.folder_id),
        intern(obj.name),
        obj.size,
        intern(obj.sha256),
        obj.mtime_ns,
        obj.rev,
    )


def entry_of(change: Change) -> Entry:
    gone = change.op == "delete" or change.object is None
    return change.type, change.id, None if gone or change.object is None else compact(change.object)


def remote_file(file: File | MirrorFile, folder_name: str) -> RemoteFile:
    # (positional: a tree of 20,000 files is built ~20 % faster than with keywords)
    path = RelPath(folder_name, file.name)
    return RemoteFile(
        path, file.id, file.folder_id, file.size, file.sha256, file.mtime_ns, file.rev
    )


@dataclass
class Touched:
    """What changed in the mirror since the engine last looked: file paths (old and new place),
    folder names (old and new) of folders that changed, or everything (a re-read, a restore)."""

    paths: set[RelPath] = field(default_factory=set)
    folders: set[str] = field(default_factory=set)
    everything: bool = True


@dataclass
class RemoteMirror:
    """Folders and files by id, kept current by applying the change feed in order.

    The executor records its own writes (`remember_*`, `forget_*`) at once, before the feed
    confirms them. While a re-read is under way those writes are also journaled, and replayed
    onto the staging mirror when it is swapped in (it may have been read before them)."""

    cursor: int = 0
    epoch: str | None = None  # the server's feed epoch the cursor belongs to
    folders: dict[str, MirrorFolder] = field(default_factory=dict)
    files: dict[str, MirrorFile] = field(default_factory=dict)
    _journal: list[Entry] | None = field(default=None, repr=False)
    touched: Touched = field(default_factory=Touched, repr=False)
    _tree: RemoteTree | None = field(default=None, repr=False)  # kept current file by file

    def apply(self, change: Change | Entry) -> None:
        """Apply one feed change. An upsert older than what we hold (a page computed before
        our own write) is ignored: revs only grow, so it would roll the mirror back."""
        kind, obj_id, record = entry_of(change) if isinstance(change, Change) else change
        table: dict[str, MirrorFolder] | dict[str, MirrorFile] = (
            self.folders if kind == "folder" else self.files
        )
        held = table.get(obj_id)
        if held is not None and record is not None and held.rev > record.rev:
            return
        self._touch(held, record)
        if record is None:
            table.pop(obj_id, None)
            if kind == "folder":
                for file_id in [f.id for f in self.files.values() if f.folder_id == obj_id]:
                    del self.files[file_id]
        elif isinstance(record, MirrorFolder):
            self.folders[obj_id] = record
        else:
            self.files[obj_id] = record

    def _touch(self, held: Record | None, new: Record | None) -> None:
        """Record where a change lands (before it is applied) and keep the cached tree."""
        if (
            isinstance(held, MirrorFolder)
            and isinstance(new, MirrorFolder)
            and held.name == new.name
        ):
            if self._tree is not None:  # a new rev of the same folder (counters)
                self._tree.folders[new.name] = RemoteFolder(new.name, new.id, new.rev)
            return
        if isinstance(held, MirrorFolder) or isinstance(
            new, MirrorFolder
        ):  # made, renamed, deleted
            self.touched.folders.update(o.name for o in (held, new) if isinstance(o, MirrorFolder))
            self._tree = None
            return
        for file, add in ((held, False), (new, True)):
            if not isinstance(file, MirrorFile) or file.folder_id not in self.folders:
                continue
            entry = remote_file(file, self.folders[file.folder_id].name)
            self.touched.paths.add(entry.path)
            if self._tree is None:
                continue
            there = self._tree.files.get(entry.path)
            if add and there is not None and there.file_id != file.id:
                self._tree = None  # two files at one path for a moment: rebuild when asked
            elif add:
                self._tree.files[entry.path] = entry
            elif there is not None and there.file_id == file.id:
                del self._tree.files[entry.path]

    def take_touched(self) -> Touched:
        """What changed since the last call (the engine plans those paths)."""
        touched, self.touched = self.touched, Touched(everything=False)
        return touched

    # ---- our own writes (the executor) ----------------------------------------------------

    def _own(self, entry: Entry) -> None:
        self.apply(entry)
        if self._journal is not None:
            self._journal.append(entry)

    def remember_file(self, file: File) -> None:
        self._own(("file", file.id, compact(file)))

    def forget_file(self, file_id: str) -> None:
        self._own(("file", file_id, None))

    def remember_folder(self, folder: Folder) -> None:
        self._own(("folder", folder.id, compact(folder)))

    def forget_folder(self, folder_id: str) -> None:
        self._own(("folder", folder_id, None))

    # ---- staging --------------------------------------------------------------------------

    def start_journal(self) -> None:
        self._journal = []

    def stop_journal(self) -> None:
        self._journal = None

    def replace_with(self, staging: RemoteMirror) -> None:
        """Take over a complete staging mirror in one step (no await in between), replaying
        our own writes made while it was read."""
        for entry in self._journal or ():
            staging.apply(entry)
        self._journal = None
        self.cursor, self.epoch = staging.cursor, staging.epoch
        self.folders, self.files = staging.folders, staging.files
        self.touched, self._tree = Touched(), None

    # ---- the durable copy (state DB rows: kind, id, record) -------------------------------

    def restore(
        self,
        cursor: int,
        epoch: str | None,
        folders: Iterable[FolderRow],
        files: Iterable[FileRow],
    ) -> None:
        """Fill from the state DB's copy (the server's state at `cursor`)."""
        self.cursor, self.epoch = cursor, epoch or None
        self.folders = {row[0]: MirrorFolder(*row) for row in folders}
        intern = sys.intern
        self.files = mirror_files = {}
        with collection_paused():
            for i, folder_id, name, size, sha, mtime_ns, rev in files:
                key = intern(i)
                mirror_files[key] = MirrorFile(
                    key, intern(folder_id), intern(name), size, intern(sha), mtime_ns, rev
                )
        self.touched, self._tree = Touched(), None

    def rows(self, touched: Iterable[tuple[str, str]] | None = None) -> list[RemoteRow]:
        """Rows for the state DB: of `touched` (kind, id) pairs, or of everything (None)."""
        if touched is None:
            touched = [("folder", i) for i in self.folders] + [("file", i) for i in self.files]
        out: list[RemoteRow] = []
        for kind, obj_id in touched:
            obj = (self.folders if kind == "folder" else self.files).get(obj_id)
            out.append((kind, obj_id, obj))
        return out

    # ---- views ----------------------------------------------------------------------------

    def files_in(self, folder_id: str) -> list[MirrorFile]:
        return [f for f in self.files.values() if f.folder_id == folder_id]

    def folder_by_name(self, name: str) -> MirrorFolder | None:
        return next((f for f in self.folders.values() if f.name == name), None)

    def file_at(self, path: RelPath) -> RemoteFile | None:
        if self._tree is None:
            self._tree = self._build_tree()
        return self._tree.files.get(path)

    def tree(self) -> RemoteTree:
        """A snapshot for the planner: a copy of the tree kept current change by change (built
        again only after a folder changed), so later changes do not alter it."""
        if self._tree is None:
            self._tree = self._build_tree()
        return RemoteTree(files=dict(self._tree.files), folders=dict(self._tree.folders))

    def _build_tree(self) -> RemoteTree:
        folders = {
            f.name: RemoteFolder(name=f.name, folder_id=f.id, rev=f.rev)
            for f in self.folders.values()
        }
        files: dict[RelPath, RemoteFile] = {}
        for file in self.files.values():
            folder = self.folders.get(file.folder_id)
            if folder is not None:
                entry = remote_file(file, folder.name)
                files[entry.path] = entry
        return RemoteTree(files=files, folders=folders)


@dataclass(frozen=True)
class FeedDelta:
    """What one pull brought: how many changes, whether a re-read found the server *behind*
    our cursor (restored from an older backup), and the rows the state DB must learn. The
    paths the changes touch are recorded by the mirror itself (`take_touched`)."""

    applied: int
    rewound: bool = False
    rows: tuple[RemoteRow, ...] = ()  # what the state DB's copy must learn
    snapshot: bool = False  # rows are the whole library: replace the copy

    def __bool__(self) -> bool:
        return self.applied > 0


MAX_EXPIRED_RESTARTS = 5
PAGE_LIMIT = 1000


@dataclass
class _Read:
    changes: list[Entry]  # compact at once: a re-read holds the whole library here
    cursor: int
    epoch: str | None


async def _read_pages(
    client: ApiClient, cursor: int, epoch: str | None, wait_s: int, page_limit: int
) -> _Read:
    """Every change after `cursor` (long-polling up to wait_s for the first page), the cursor
    after them and the feed epoch. Raises CursorExpired on a 410, on any page. A full read
    (cursor 0) asks for snapshot pages: each within page_limit, even after compaction."""
    read = _Read([], cursor, epoch)
    snapshot = 0 if cursor == 0 else None
    while True:
        page = await client.changes(
            read.cursor, limit=page_limit, wait_s=wait_s, epoch=read.epoch, snapshot=snapshot
        )
        snapshot = None if snapshot is None else page.snapshot
        wait_s = 0
        read.changes += [entry_of(change) for change in page.changes]
        read.cursor, read.epoch = page.cursor, page.epoch
        if not page.more:
            return read


async def pull_changes(
    client: ApiClient, mirror: RemoteMirror, *, wait_s: int = 0, page_limit: int = PAGE_LIMIT
) -> FeedDelta:
    """Apply every change after mirror.cursor, all pages at once. A mirror never read, or a
    compacted cursor (410), is rebuilt from cursor 0 by `reread`."""
    if mirror.cursor == 0:
        return await reread(client, mirror, page_limit)
    try:
        read = await _read_pages(client, mirror.cursor, mirror.epoch, wait_s, page_limit)
    except CursorExpired as exc:
        rewound = bool(exc.details.get("rewound"))
        log.warning("cursor_expired", cursor=mirror.cursor, rewound=rewound)
        return await reread(client, mirror, page_limit, rewound=rewound)
    objects: dict[tuple[str, str], None] = {}  # touched (kind, id), in order
    for entry in read.changes:  # no await from here on: passes see all of it or none
        kind, obj_id, record = entry
        objects[(kind, obj_id)] = None
        if kind == "folder" and record is None:  # its files go with it
            objects.update({("file", f.id): None for f in mirror.files_in(obj_id)})
        mirror.apply(entry)
    mirror.cursor, mirror.epoch = read.cursor, read.epoch
    return FeedDelta(len(read.changes), rows=tuple(mirror.rows(objects)))


async def reread(
    client: ApiClient, mirror: RemoteMirror, page_limit: int = PAGE_LIMIT, *, rewound: bool = False
) -> FeedDelta:
    """Read the whole library into a staging mirror and swap it in once its last page is
    read; until then (and if the read fails) the live mirror stays the last complete one.
    A read that itself expires (compaction between its pages) starts over, a few times.
    `rewound`: the server said it went back in time; also found when its head is behind us."""
    for attempt in range(1, MAX_EXPIRED_RESTARTS + 1):
        if attempt > 1:
            await asyncio.sleep(2.0 ** (attempt - 2))  # 1, 2, 4, 8 s
        staging = RemoteMirror()
        mirror.start_journal()
        try:
            read = await _read_pages(client, 0, None, 0, page_limit)
        except CursorExpired:
            log.warning("cursor_expired", cursor=0, attempt=attempt)
            mirror.stop_journal()
            continue
        except BaseException:
            mirror.stop_journal()
            raise
        for entry in read.changes:
            staging.apply(entry)
        staging.cursor, staging.epoch = read.cursor, read.epoch
        rows = tuple(staging.rows())  # before our own writes are replayed onto it
        rewound = rewound or read.cursor < mirror.cursor
        if rewound:
            log.warning("server_rewound", cursor=mirror.cursor, server_cursor=staging.cursor)
        mirror.replace_with(staging)
        log.info("library_reread", files=len(mirror.files), folders=len(mirror.folders))
        return FeedDelta(len(read.changes), rewound, rows=rows, snapshot=True)
    raise TransportError("the change feed keeps expiring; retrying later")
