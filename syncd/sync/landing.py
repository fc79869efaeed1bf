"""Group commit of downloads: verified temp files that arrive while a batch is being landed wait
for the next one; a batch's data is made durable together (one syncfs, else parallel fsyncs),
then its files are placed, their folders made durable (a second syncfs, else one fsync per
folder), and their base rows committed in one transaction."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from syncd.durable import fsync_dir, fsync_file
from syncd.errors import StaleError
from syncd.log import get_logger
from syncd.sync import model as m
from syncd.sync.rootfs import can_syncfs, sync_filesystems
from syncd.sync.statedb import StateDB
from syncd.sync.transfer import Fetched, place

log = get_logger("syncd.landing")

MAX_BATCH_FILES = 512  # bounds the rows of one transaction and the fsyncs in flight
# Between batch starts while downloads are still arriving; a lone file (a daemon's pull) and the
# last files of a pass (no download left in flight) land at once.
MIN_BATCH_INTERVAL_S = 0.2
Outcome = os.stat_result | BaseException


def base_entry(remote: m.RemoteFile, mtime_ns: int, inode: int) -> m.BaseFile:
    return m.BaseFile(
        path=remote.path,
        file_id=remote.file_id,
        folder_id=remote.folder_id,
        rev=remote.rev,
        sha256=remote.sha256,
        size=remote.size,
        mtime_ns=mtime_ns,
        inode=inode,
    )


class Landing:
    """`await land(item)` returns once the file is at its final name, durable, and in the base;
    it raises what placing that one file raised (StaleError, OSError), never a neighbour's.

    Why batches: one data fsync and one directory fsync per file, each waiting for its own
    journal commit, bounded a mirror of small files; fsyncs issued together share commits."""

    def __init__(self, db: StateDB, traits: Callable[[], m.RootTraits]) -> None:
        self.db = db
        self.traits = traits
        self._waiting: list[tuple[Fetched, asyncio.Future[os.stat_result]]] = []
        self._drainer: asyncio.Task[None] | None = None
        self._fetching = 0  # downloads in flight: what a batch may still wait for
        self._no_more_soon = asyncio.Event()  # set: nothing is worth waiting for

    @contextlib.contextmanager
    def fetching(self) -> Iterator[None]:
        """Around a download that will be landed: while none is in flight, nothing more can join
        the next batch, so it leaves without waiting out the interval."""
        self._fetching += 1
        try:
            yield
        finally:
            self._fetching -= 1
            if not self._fetching:
                self._no_more_soon.set()

    async def land(self, item: Fetched) -> os.stat_result:
        future: asyncio.Future[os.stat_result] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if len(self._waiting) >= MAX_BATCH_FILES:
            self._no_more_soon.set()
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.create_task(self._drain())
        # shield: a cancelled waiter must not cancel the batch its file is already part of
        return await asyncio.shield(future)

    async def _drain(self) -> None:
        while self._waiting:
            batch_started = time.monotonic()
            batch = self._waiting[:MAX_BATCH_FILES]
            del self._waiting[:MAX_BATCH_FILES]
            try:
                outcomes: list[Outcome] = await self._land_batch([item for item, _f in batch])
            except asyncio.CancelledError:  # shutdown: like a crash, the next run re-checks
                for _item, future in batch:
                    future.cancel()
                raise
            except Exception as exc:  # the state DB failed: each waiter reports it
                outcomes = [exc] * len(batch)
            for (_item, future), outcome in zip(batch, outcomes, strict=True):
                if future.done():
                    continue
                if isinstance(outcome, BaseException):
                    future.set_exception(outcome)
                else:
                    future.set_result(outcome)
            # A syncfs stalls file creation on the whole file system (the journal commits), so
            # back-to-back tiny batches stalled every download's next temp file: wait a little
            # for more files to gather, unless a full batch is already waiting.
            await self._gather_more(MIN_BATCH_INTERVAL_S - (time.monotonic() - batch_started))

    async def _gather_more(self, rest_s: float) -> None:
        """Wait up to `rest_s` for more files, unless a full batch waits or none can come."""
        self._no_more_soon.clear()
        if not self._fetching or len(self._waiting) >= MAX_BATCH_FILES or rest_s <= 0:
            return
        if self._waiting:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._no_more_soon.wait(), rest_s)

    async def _land_batch(self, items: list[Fetched]) -> list[Outcome]:
        started, traits = time.monotonic(), self.traits()
        if can_syncfs(traits):
            outcomes = await asyncio.to_thread(_land_with_syncfs, items, traits)
        else:
            synced = await asyncio.gather(
                *(asyncio.to_thread(fsync_file, item.temp) for item in items),
                return_exceptions=True,
            )
            outcomes = await asyncio.to_thread(_place_all, items, synced, traits)
        placed = [
            (item, st)
            for item, st in zip(items, outcomes, strict=True)
            if isinstance(st, os.stat_result)
        ]
        # On the loop thread, with no await inside: no other action's write joins this
        # transaction. A crash before it commits leaves placed files without base rows, which
        # the next pass records after hashing them (same content as the server's).
        with self.db.transaction():
            for item, st in placed:
                self.db.put_file(base_entry(item.remote, st.st_mtime_ns, st.st_ino))
        for item, _st in placed:
            log.debug("download_finished", path=str(item.remote.path), size=item.remote.size)
        log.info(
            "downloads_landed",
            files=len(placed),
            failed=len(items) - len(placed),
            bytes=sum(item.remote.size for item, _st in placed),
            folders=len({item.target.parent for item, _st in placed}),
            took_s=round(time.monotonic() - started, 3),
        )
        return outcomes


def _failed(outcome: object) -> bool:
    return isinstance(outcome, BaseException)


def _land_with_syncfs(items: list[Fetched], traits: m.RootTraits) -> list[Outcome]:
    """Worker thread: one syncfs makes the batch's data durable, then every file is placed,
    then a second syncfs makes the new names durable (instead of one fsync per folder)."""
    try:
        sync_filesystems(sorted({item.target.parent for item in items}))
    except OSError as exc:  # nothing placed: the complete temp files are re-checked next time
        return [exc] * len(items)
    outcomes = [_place_one(item, traits) for item in items]
    try:
        sync_filesystems(sorted({item.target.parent for item in items}))
    except OSError as exc:  # placed but maybe not durable: no base row; re-checked later
        return [exc if not _failed(o) else o for o in outcomes]
    return outcomes


def _place_one(item: Fetched, traits: m.RootTraits) -> Outcome:
    try:
        return place(item, traits)
    except (OSError, StaleError) as exc:  # a file appeared or changed there; disk errors
        return exc


def _place_all(
    items: list[Fetched], synced: list[BaseException | None], traits: m.RootTraits
) -> list[Outcome]:
    """Worker thread: place every durable file, then fsync each folder that got one."""
    outcomes: list[Outcome] = [
        error if isinstance(error, BaseException) else _place_one(item, traits)
        for item, error in zip(items, synced, strict=True)
    ]  # a file whose fsync failed is never placed; its temp file is re-checked next time
    folders = {
        item.target.parent for item, o in zip(items, outcomes, strict=True) if not _failed(o)
    }
    broken: dict[Path, OSError] = {}
    for folder in sorted(folders):
        try:
            fsync_dir(folder)
        except OSError as exc:  # placed but maybe not durable: no base row; re-checked later
            broken[folder] = exc
    return [
        o if _failed(o) else broken.get(item.target.parent, o)
        for item, o in zip(items, outcomes, strict=True)
    ]
