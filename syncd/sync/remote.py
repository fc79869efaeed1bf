"""The daemon's picture of the remote library, built from the change feed: apply feed pages,
then derive the RemoteTree the planner compares. Also the feed reader (full re-read on 410)."""

from __future__ import annotations

from dataclasses import dataclass, field

from syncd.errors import CursorExpired
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


async def pull_changes(client: ApiClient, mirror: RemoteMirror, *, wait_s: int = 0) -> int:
    """Apply every change after mirror.cursor (long-polling up to wait_s for the first page).
    Returns how many changes were applied. A compacted cursor (410) re-reads from 0."""
    applied = 0
    first = True
    while True:
        try:
            page = await client.changes(mirror.cursor, wait_s=wait_s if first else 0)
        except CursorExpired:
            log.warning("cursor_expired", cursor=mirror.cursor)
            mirror.reset()
            first = False
            continue
        first = False
        for change in page.changes:
            mirror.apply(change)
        applied += len(page.changes)
        mirror.cursor = page.cursor
        if not page.more:
            return applied
