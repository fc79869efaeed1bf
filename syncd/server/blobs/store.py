"""`BlobStore`: the server's one way to media bytes. Content-addressed (a sha256 is stored
once, whoever sends it), received through the spool and verified before it is stored, and
removed only when no file row, trash entry or upload in flight refers to it."""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from syncd.errors import ApiError, Unavailable
from syncd.log import get_logger
from syncd.server.blobs.backend import BlobBackend, Reachability
from syncd.server.blobs.local import LocalBackend
from syncd.server.blobs.settings import parse_blobs_url
from syncd.server.blobs.spool import Spool, TempBlob
from syncd.server.meta import Db

log = get_logger(__name__)
SHA256_HEX = re.compile(r"[0-9a-f]{64}")
HOLD_WAIT_S = 10.0  # another instance deleting this blob: wait this long for it, then 503
HOLD_POLL_S = 0.05


def open_blob_store(data_dir: Path, db: Db, blobs_url: str | None = None) -> BlobStore:
    """The local folder under `data_dir`, or the bucket `blobs_url` names (ConfigError when
    it is bad). The S3 driver is imported only here, only for an s3:// URL."""
    if not blobs_url:
        return BlobStore(data_dir, db, LocalBackend(data_dir / "blobs"))
    settings = parse_blobs_url(blobs_url)
    from syncd.server.blobs.s3 import S3Backend

    log.info("blob_store_opened", backend="s3", where=settings.describe())
    return BlobStore(data_dir, db, S3Backend(settings))


class BlobStore:
    def __init__(self, data_dir: Path, db: Db, backend: BlobBackend) -> None:
        self.backend = backend
        self.spool = Spool(data_dir / "tmp", fsync=self.backend.keeps_spool_file)
        self.db = db
        # Blobs stored whose file row is not committed yet: never collected.
        self._pins: Counter[str] = Counter()
        # Pin-or-store and check-then-delete of one sha256 never interleave (a delete must
        # not land after an upload found the blob present and skipped storing it). One lock
        # per hash in use: a long put never holds up another hash.
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}
        self.opened_at = datetime.now(UTC)

    @asynccontextmanager
    async def _lock(self, sha256: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(sha256, (asyncio.Lock(), 0))
        self._locks[sha256] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[sha256]
            if users == 1:
                del self._locks[sha256]
            else:
                self._locks[sha256] = (lock, users - 1)

    async def receive(self, chunks: AsyncIterator[bytes], expected_bytes: int | None) -> TempBlob:
        """Spool a body while hashing it (ShortBody when it is not `expected_bytes` long)."""
        return await self.spool.receive(chunks, expected_bytes)

    def discard(self, temp: TempBlob) -> None:
        self.spool.discard(temp)

    async def adopt(self, temp: TempBlob) -> None:
        """Store a received, verified spool file under its hash and pin it until the
        caller's file row is committed (then call `unpin`). Identical content is stored once.
        The pin holds on every instance of a shared database (a shared hold there)."""
        async with self._lock(temp.sha256):
            try:
                await self._hold_shared(temp.sha256)
            except BaseException:
                self.spool.discard(temp)
                raise
            self._pins[temp.sha256] += 1
            try:
                if await self.backend.exists(temp.sha256):
                    self.spool.discard(temp)
                else:
                    await self.backend.store(temp)
            except BaseException:
                self.spool.discard(temp)
                self.unpin(temp.sha256)
                raise

    async def _hold_shared(self, sha256: str) -> None:
        """Wait (without blocking the loop) while another instance deletes this blob."""
        deadline = time.monotonic() + HOLD_WAIT_S
        while not self.db.hold_blob(sha256, exclusive=False):
            if time.monotonic() > deadline:
                raise Unavailable("the blob store is busy with this content; try again")
            await asyncio.sleep(HOLD_POLL_S)

    def unpin(self, sha256: str) -> None:
        self._pins[sha256] -= 1
        if self._pins[sha256] <= 0:
            del self._pins[sha256]
        self.db.release_blob(sha256, exclusive=False)

    def read(
        self, sha256: str, start: int, length: int
    ) -> AbstractAsyncContextManager[AsyncIterator[bytes]]:
        """`async with store.read(sha, start, length) as chunks:` (the first request is
        made on entry, so failures come before an answer is started)."""
        return self.backend.read(sha256, start, length)

    def open_file(self, sha256: str) -> BinaryIO | None:
        """The blob as a local file to send with sendfile (the caller closes it), or None
        when the backend has none (S3: use `read`). FileNotFoundError when it is missing."""
        return self.backend.open_file(sha256)

    async def read_whole(self, blobs: list[tuple[str, int]]) -> list[bytes | OSError | ApiError]:
        """Each blob's whole content, given (sha256, recorded size), or why not (a failure
        is that blob's alone): local files in one worker thread hop for all, the others
        (S3) streamed with `read`. Content of another length than recorded is an OSError."""
        out = await asyncio.to_thread(_read_local_files, self.backend, blobs)
        for i, (sha256, size) in enumerate(blobs):
            if out[i] is None:
                try:
                    async with self.read(sha256, 0, size) as chunks:
                        out[i] = _exactly(b"".join([chunk async for chunk in chunks]), size)
                except (OSError, ApiError) as exc:
                    out[i] = exc
        return [item for item in out if item is not None]

    async def collect(self, sha256: str) -> bool:
        """Remove the blob if no file row, no trash entry (of any user) and no pending upload
        refers to it. Returns whether it was removed. Runs after the caller's commit, so a
        store that fails now only leaves an orphan (logged; the next start sweeps it): the
        caller's answer does not turn into an error."""
        async with self._lock(sha256):
            if self._pins.get(sha256) or self._referenced(sha256):
                return False
            if not self.db.hold_blob(sha256, exclusive=True):
                return False  # pinned by another instance: its row is about to refer to it
            try:
                if self._referenced(sha256):  # committed meanwhile by another instance
                    return False
                await self.backend.delete(sha256)
            except (ApiError, OSError) as exc:
                log.warning("blob_collect_failed", sha256=sha256, error=str(exc))
                return False
            finally:
                self.db.release_blob(sha256, exclusive=True)
        return True

    def _referenced(self, sha256: str) -> bool:
        return (
            self.db.one(
                "SELECT 1 FROM files WHERE sha256=? UNION ALL SELECT 1 FROM trash WHERE sha256=?",
                sha256,
                sha256,
            )
            is not None
        )

    def sweep_spool(self) -> int:
        """Before serving: spool files left by a crash belong to requests that are gone."""
        return self.spool.sweep()

    async def sweep(self) -> int:
        """After a crash: remove the blobs nothing refers to. Blobs written since this store
        was opened are left alone (uploads in flight, here or on another instance)."""
        removed = 0
        async for blob in self.backend.list():
            if not SHA256_HEX.fullmatch(blob.sha256):
                continue  # not ours (someone else's object under the prefix): never touched
            if blob.modified < self.opened_at and await self.collect(blob.sha256):
                removed += 1
        if removed:
            log.info("storage_swept", removed=removed, backend=self.backend.name)
        return removed

    async def check(self) -> Reachability:
        return await self.backend.check()

    async def close(self) -> None:
        await self.backend.close()


def _exactly(data: bytes, size: int) -> bytes:
    if len(data) != size:
        raise OSError(f"blob of {len(data)} bytes, recorded as {size}")
    return data


def _read_local_files(
    backend: BlobBackend, blobs: list[tuple[str, int]]
) -> list[bytes | OSError | ApiError | None]:
    """Worker thread: the blobs that are local files, read whole (None: not a local file)."""
    out: list[bytes | OSError | ApiError | None] = []
    for sha256, size in blobs:
        try:
            handle = backend.open_file(sha256)
            if handle is None:
                out.append(None)
                continue
            with handle:
                out.append(_exactly(handle.read(size + 1), size))
        except OSError as exc:
            out.append(exc)
    return out
