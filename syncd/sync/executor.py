"""Carries out one planned action against the local tree and the server, re-checking before it
destroys anything, and commits the resulting base entry only after the action succeeded. Disk
names come from DiskNames (the same as remote names except on exFAT/FAT/NTFS-like roots)."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from send2trash import send2trash

from syncd.durable import fsync_dir
from syncd.errors import DigestMismatch, NameTaken, NotFound, RevMismatch, RootLimitError
from syncd.log import get_logger
from syncd.protocol import File, name_key
from syncd.sync import model as m
from syncd.sync.batches import Batches, Reporter
from syncd.sync.client import ApiClient
from syncd.sync.disknames import DiskNames
from syncd.sync.landing import Landing, base_entry
from syncd.sync.localnames import fold
from syncd.sync.remote import RemoteMirror, remote_file
from syncd.sync.rootfs import place_new
from syncd.sync.statedb import SentUpload, StateDB
from syncd.sync.transfer import (
    Fetched,
    StaleError,
    fetch_file,
    require_unchanged,
    temp_path_for,
)

log = get_logger("syncd.executor")
__all__ = ["RETRY_LATER", "Executor", "Reporter"]
SMALL_FILE_BYTES = 1 << 20  # default: files up to this size travel many per request


@dataclass
class Executor:
    root: Path
    client: ApiClient
    db: StateDB
    mirror: RemoteMirror
    reporter: Reporter
    trash: Callable[[str], None] = send2trash
    # Held by a download only while it streams: waiting for its batch to land takes no slot.
    slots: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(4))
    small_file_bytes: int = SMALL_FILE_BYTES
    names: DiskNames = field(init=False)  # set per pass by the engine
    landing: Landing = field(init=False)
    batches: Batches = field(init=False)
    # Folders of new downloads made (or found) during the pass of these DiskNames.
    _made_folders: tuple[DiskNames | None, set[str]] = field(
        init=False, default_factory=lambda: (None, set())
    )

    def __post_init__(self) -> None:
        self.names = DiskNames(self.root, self.db)
        self.landing = Landing(self.db, lambda: self.traits)
        self.batches = Batches(self.client, self.slots, self.reporter, self.small_file_bytes)

    def holds_own_slot(self, action: m.Action) -> bool:
        """True for the actions that take a transfer slot themselves, and only while bytes
        move: downloads (not while their batch lands) and small uploads (one per group)."""
        if isinstance(action, m.Upload):
            return self.batches.small(action.local.size)
        return isinstance(action, m.Download | m.KeepBoth)

    @property
    def traits(self) -> m.RootTraits:
        return self.names.traits

    def path(self, rel: m.RelPath) -> Path:
        """On-disk location of an existing file (on-disk spellings, mapped names)."""
        return self.names.file_path(rel)

    def folder_id(self, name: str, given: str | None) -> str:
        if given is not None:
            return given
        base = self.db.load_base().folders.get(name)
        if base is not None:
            return base.folder_id
        folder = self.mirror.folder_by_name(name)
        if folder is None:
            raise StaleError(f"folder {name!r} is not on the server yet")
        return folder.id

    async def run(self, action: m.Action) -> None:
        handler = getattr(self, "_" + type(action).__name__)
        await handler(action)

    # ---- files --------------------------------------------------------------------------

    def _progress(
        self, rel: m.RelPath, direction: Literal["up", "down"], total: int
    ) -> Callable[[int], None]:
        self.reporter.transfer_started(str(rel), direction, total)
        done = 0

        def tick(n: int) -> None:
            nonlocal done
            done += n
            self.reporter.transfer_progress(str(rel), done)

        return tick

    async def _download(self, remote: m.RemoteFile, replaces: m.LocalFile | None) -> None:
        limit = self.traits.max_file_bytes
        if limit is not None and remote.size > limit:
            raise RootLimitError(
                f"too big for this disk ({self.traits.fs_type} holds files up to "
                f"{(limit + 1) // 1024**3} GiB): not downloaded"
            )
        if replaces is not None:
            target = self.path(remote.path)
        else:
            self._folder_ready(remote.path.folder)
            target = self.names.new_file_path(remote.path)
        with self.landing.fetching():
            fetched = await self._fetch(remote, target, replaces)
        await self.landing.land(fetched)  # durable, placed and in the base (batched)

    async def _fetch(
        self, remote: m.RemoteFile, target: Path, replaces: m.LocalFile | None
    ) -> Fetched:
        if self.batches.small(remote.size):
            return await self.batches.fetch(remote, target, replaces)
        async with self.slots:
            tick = self._progress(remote.path, "down", remote.size)
            try:
                return await fetch_file(self.client, remote, target, replaces, tick)
            finally:
                self.reporter.transfer_finished(str(remote.path))

    def _folder_ready(self, folder: str) -> None:
        """mkdir a new download's folder once per pass, not once per file: a syscall on the
        loop that waited for the folder's lock while a landing batch placed files in it."""
        names, made = self._made_folders
        if names is not self.names:
            names, made = self._made_folders = (self.names, set())
        if folder not in made:
            self.names.folder_path(folder).mkdir(exist_ok=True)
            made.add(folder)

    def _commit_file(self, remote: m.RemoteFile, mtime_ns: int, inode: int) -> None:
        self.db.put_file(base_entry(remote, mtime_ns, inode))

    async def _Download(self, action: m.Download) -> None:
        await self._download(action.remote, action.replaces)

    async def _Upload(self, action: m.Upload) -> None:
        local = action.local
        source = self.path(local.path)
        require_unchanged(source, local, self.traits)
        if local.sha256 is None:
            raise StaleError(f"{local.path} was not hashed")
        folder_id = self.folder_id(local.path.folder, action.folder_id)
        # Should the answer never reach us, the server's copy is still known as ours (own.py).
        self.db.note_upload(SentUpload(local.path, local.sha256, local.mtime_ns, local.inode))
        if self.batches.small(local.size):
            file = await self.batches.upload(local, source, folder_id, action.base_rev)
        else:
            file = await self._upload_alone(action, source, folder_id)
        self._remember(file)
        self._commit_file(remote_file(file, local.path.folder), local.mtime_ns, local.inode)
        log.debug("upload_finished", path=str(local.path), size=local.size)

    async def _upload_alone(self, action: m.Upload, source: Path, folder_id: str) -> File:
        local = action.local
        assert local.sha256 is not None
        tick = self._progress(local.path, "up", local.size)
        try:
            return await self.client.upload(
                folder_id,
                local.path.name,
                source,
                size=local.size,
                sha256_hex=local.sha256,
                mtime_ns=local.mtime_ns,
                base_rev=action.base_rev,
                progress=tick,
            )
        finally:
            self.reporter.transfer_finished(str(local.path))

    def _remember(self, file: File) -> None:
        """Record our own write in the mirror at once; the feed confirms it later."""
        self.mirror.remember_file(file)

    async def _DeleteLocal(self, action: m.DeleteLocal) -> None:
        target = self.path(action.local.path)
        require_unchanged(target, action.local, self.traits)
        self.trash(str(target))
        self.names.moved(target, None)
        self.names.forget(*action.local.path)
        self.db.delete_file(action.local.path)
        log.debug("local_file_trashed", path=str(action.local.path))

    async def _DeleteRemote(self, action: m.DeleteRemote) -> None:
        # The scan saw it gone; an editor's save-by-rename or a move may have put it back
        # since. Re-check just before the server deletes it (what remains is this await).
        if os.path.lexists(self.path(action.base.path)):
            raise StaleError(f"{action.base.path} is back since it was scanned")
        with contextlib.suppress(NotFound):
            await self.client.delete_file(action.base.file_id, action.base.rev)
        self.mirror.forget_file(action.base.file_id)
        self.db.delete_file(action.base.path)
        log.debug("remote_file_deleted", path=str(action.base.path))

    async def _RenameLocal(self, action: m.RenameLocal) -> None:
        source = self.path(action.local.path)
        require_unchanged(source, action.local, self.traits)
        self.names.folder_path(action.remote.path.folder).mkdir(exist_ok=True)
        target = self.names.new_file_path(action.remote.path, leaving=source)
        if target != source:
            self._rename_file(source, target, action.remote.file_id)
        self.names.moved(source, target)
        if action.local.path.folder != action.remote.path.folder or target.name != source.name:
            self.names.forget(*action.local.path)
        self.db.delete_file(action.local.path)
        self._commit_file(action.remote, action.local.mtime_ns, action.local.inode)
        log.debug("local_file_renamed", src=str(action.local.path), dst=str(action.remote.path))

    async def _RenameRemote(self, action: m.RenameRemote) -> None:
        base, local = action.base, action.local
        folder_id = self.folder_id(local.path.folder, action.folder_id)
        file = await self.client.move_file(
            base.file_id,
            base.rev,
            name=local.path.name if local.path.name != base.path.name else None,
            folder_id=folder_id if folder_id != base.folder_id else None,
        )
        self._remember(file)
        self.db.delete_file(base.path)
        self._commit_file(remote_file(file, local.path.folder), local.mtime_ns, local.inode)
        log.debug("remote_file_renamed", src=str(base.path), dst=str(local.path))

    def _rename_file(self, source: Path, target: Path, file_id: str) -> None:
        """Rename without clobbering. A case-only rename on a case-insensitive root goes through
        the file's download temp name: were we killed in between, the next download of this
        file finds it complete there (hash checked) and places it; nothing is lost."""
        if source.parent == target.parent and fold(source.name, self.traits) == fold(
            target.name, self.traits
        ):
            temp = temp_path_for(target, file_id)
            os.rename(source, temp)
            source = temp
        place_new(source, target, self.traits.placement)
        fsync_dir(target.parent)

    async def _KeepBoth(self, action: m.KeepBoth) -> None:
        source = self.path(action.local.path)
        require_unchanged(source, action.local, self.traits)
        conflict = m.RelPath(action.local.path.folder, action.conflict_name)
        copy = self.names.new_file_path(conflict, leaving=source)
        place_new(source, copy, self.traits.placement)
        self.names.moved(source, copy)
        log.warning("conflict_copy_made", path=str(action.local.path), copy=action.conflict_name)
        await self._download(action.remote, None)

    async def _RecordBase(self, action: m.RecordBase) -> None:
        self._commit_file(action.remote, action.local.mtime_ns, action.local.inode)

    async def _ForgetBase(self, action: m.ForgetBase) -> None:
        self.db.delete_file(action.path)

    # ---- folders ------------------------------------------------------------------------

    async def _MakeLocalFolder(self, action: m.MakeLocalFolder) -> None:
        target = self.names.new_folder_path(action.remote.name)
        target.mkdir(exist_ok=True)
        inode = os.lstat(target).st_ino
        self.db.put_folder(m.BaseFolder(action.remote.name, action.remote.folder_id, inode))

    async def _MakeRemoteFolder(self, action: m.MakeRemoteFolder) -> None:
        name = action.local.name
        try:
            folder = await self.client.create_folder(name)
        except NameTaken:
            existing = next(
                (f for f in await self.client.folders() if name_key(f.name) == name_key(name)),
                None,
            )
            if existing is None or fold(existing.name, self.traits) != fold(name, self.traits):
                raise
            if existing.name != name:  # the server's folder, in another case on this drive
                self.names.adopt_folder(action.local.disk_name or name, existing.name)
                name = existing.name
            folder = existing
        self.mirror.remember_folder(folder)
        self.db.put_folder(m.BaseFolder(name, folder.id, action.local.inode))
        log.info("remote_folder_created", folder=name)

    async def _RenameLocalFolder(self, action: m.RenameLocalFolder) -> None:
        source = self.names.folder_path(action.base.name)
        target = self.names.new_folder_path(action.remote.name, leaving=source.name)
        if fold(source.name, self.traits) == fold(target.name, self.traits):
            # Case-only: one rename (through a temp name, a crash in between would read as a
            # deleted folder; a deleted folder is deleted on the server).
            os.rename(source, target)
        elif target != source:
            place_new(source, target, self.traits.placement)
        self.names.moved(source, target)
        self.names.forget("", action.base.name)
        inode = os.lstat(target).st_ino
        self.db.rename_folder(
            action.base.name, m.BaseFolder(action.remote.name, action.base.folder_id, inode)
        )
        self.names.folder_renamed(action.base.name, action.remote.name)
        log.info("local_folder_renamed", src=action.base.name, dst=action.remote.name)

    async def _RenameRemoteFolder(self, action: m.RenameRemoteFolder) -> None:
        folder = await self.client.rename_folder(action.base.folder_id, action.local.name, None)
        self.mirror.remember_folder(folder)
        self.db.rename_folder(
            action.base.name, m.BaseFolder(action.local.name, folder.id, action.local.inode)
        )
        self.names.folder_renamed(action.base.name, action.local.name)
        log.info("remote_folder_renamed", src=action.base.name, dst=action.local.name)

    async def _DeleteLocalFolder(self, action: m.DeleteLocalFolder) -> None:
        target = self.names.folder_path(action.name)
        try:
            target.rmdir()
        except FileNotFoundError:
            pass
        except OSError:
            # Not empty: something local that was never synced lives there; keep it.
            log.info("local_folder_kept", folder=action.name, reason="not empty")
        self.db.delete_folder(action.name)

    async def _DeleteRemoteFolder(self, action: m.DeleteRemoteFolder) -> None:
        if os.path.lexists(self.names.folder_path(action.base.name)):  # as for a file
            raise StaleError(f"folder {action.base.name!r} is back since it was scanned")
        with contextlib.suppress(NotFound):
            await self.client.delete_folder(action.base.folder_id)
        self.mirror.forget_folder(action.base.folder_id)
        with self.db.transaction():
            for file in action.files:
                self.db.delete_file(file.path)
            self.db.delete_folder(action.base.name)
        log.info("remote_folder_deleted", folder=action.base.name, files=len(action.files))

    async def _RecordFolder(self, action: m.RecordFolder) -> None:
        self.db.put_folder(
            m.BaseFolder(action.local.name, action.remote.folder_id, action.local.inode)
        )

    async def _ForgetFolder(self, action: m.ForgetFolder) -> None:
        self.db.delete_folder(action.name)


# Not failures: the next pass re-plans from a fresh scan (changed file, changed remote rev).
RETRY_LATER = (StaleError, RevMismatch, DigestMismatch)
