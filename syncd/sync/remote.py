"""The daemon's picture of the remote library, built from the change feed: apply feed pages,
then derive the RemoteTree the planner compares. Also the feed reader (full re-read on 410)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from syncd.errors import CursorExpired, TransportError
from syncd.log import get_logger
from syncd.protocol import Change, File, Folder
from syncd.sync.client import ApiClient
from syncd.sync.model import RelPath, RemoteFile, RemoteFolder, RemoteTree

log = get_logger("syncd.remote")


def remote_file(file: File, folder_name: str) -> RemoteFile:
    return RemoteFile(
        path=RelPath(folder_name, file.name),
        file_id=file.id,
        folder_id=file.folder_id,
        size=file.size,
        sha256=file.sha256,
        mtime_ns=file.mtime_ns,
        rev=file.rev,
    )


@dataclass
class RemoteMirror:
    """Folders and files by id, kept current by applying the change feed in order."""

    cursor: int = 0
    folders: dict[str, Folder] = field(default_factory=dict)
    files: dict[str, File] = field(default_factory=dict)

    def reset(self) -> None:
        self.cursor = 0
        self.folders.clear()
        self.files.clear()

    def apply(self, change: Change) -> None:
        table: dict[str, Folder] | dict[str, File] = (
            self.folders if change.type == "folder" else self.files
        )
        if change.op == "delete" or change.object is None:
            table.pop(change.id, None)
            if change.type == "folder":
                for file_id in [f.id for f in self.files.values() if f.folder_id == change.id]:
                    del self.files[file_id]
            return
        if change.type == "folder" and isinstance(change.object, Folder):
            self.folders[change.id] = change.object
        elif isinstance(change.object, File):
            self.files[change.id] = change.object

    def folder_by_name(self, name: str) -> Folder | None:
        return next((f for f in self.folders.values() if f.name == name), None)

    def tree(self) -> RemoteTree:
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
    """What one pull brought: how many changes, and the local folders they touch (None: a
    folder itself changed, so look at everything)."""

    applied: int
    folders: frozenset[str] | None

    def __bool__(self) -> bool:
        return self.applied > 0


def touched_folders(mirror: RemoteMirror, change: Change) -> set[str] | None:
    """Folder names a change touches (old and new place of a file), read before it is
    applied; None when a folder was created, renamed or deleted."""
    if change.type == "folder":
        known = mirror.folders.get(change.id)
        same = (
            known is not None
            and isinstance(change.object, Folder)
            and (known.name, known.rev) == (change.object.name, change.object.rev)
        )
        if same:
            return set()  # repeated for ordering (see the server's feed); no change
        return None
    names: set[str] = set()
    for file in (mirror.files.get(change.id), change.object):
        if isinstance(file, File) and file.folder_id in mirror.folders:
            names.add(mirror.folders[file.folder_id].name)
    return names


MAX_EXPIRED_RESTARTS = 5


async def pull_changes(client: ApiClient, mirror: RemoteMirror, *, wait_s: int = 0) -> FeedDelta:
    """Apply every change after mirror.cursor (long-polling up to wait_s for the first page).
    A compacted cursor (410) re-reads from 0, a few times at most, with a pause between."""
    applied, restarts = 0, 0
    folders: set[str] | None = set()
    first = True
    while True:
        try:
            page = await client.changes(mirror.cursor, wait_s=wait_s if first else 0)
        except CursorExpired as exc:
            log.warning("cursor_expired", cursor=mirror.cursor)
            restarts += 1
            if restarts > MAX_EXPIRED_RESTARTS:
                raise TransportError("the change feed keeps expiring; retrying later") from exc
            if restarts > 1:
                await asyncio.sleep(min(30.0, 2.0**restarts))
            mirror.reset()
            folders, first = None, False
            continue
        first = False
        for change in page.changes:
            touched = touched_folders(mirror, change)
            folders = None if folders is None or touched is None else folders | touched
            mirror.apply(change)
        applied += len(page.changes)
        mirror.cursor = page.cursor
        if not page.more:
            return FeedDelta(applied, None if folders is None else frozenset(folders))
