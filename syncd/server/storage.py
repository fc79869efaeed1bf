"""Content-addressed blob store: `<data>/blobs/ab/cd/<sha256>`, written by temp file + fsync +
rename, hashed while streamed; a blob is removed when no file row or trash entry refers to it."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from syncd.log import get_logger
from syncd.server.db import Db, new_id

log = get_logger(__name__)


@dataclass
class TempBlob:
    """Bytes received into a temp file: not yet part of the store."""

    path: Path
    size: int
    sha256: str  # hex
    digest: bytes  # raw sha-256, for Repr-Digest comparison


class ShortBody(Exception):
    """The body ended before the announced length (client went away)."""


class BlobStore:
    def __init__(self, data_dir: Path, db: Db) -> None:
        self.root = data_dir / "blobs"
        self.tmp = data_dir / "tmp"
        self.db = db
        self.root.mkdir(parents=True, exist_ok=True)
        self.tmp.mkdir(parents=True, exist_ok=True)
        # Blobs renamed into place whose file row is not committed yet: never collected.
        self._pins: Counter[str] = Counter()

    def path_for(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256[2:4] / sha256

    async def receive(self, chunks: AsyncIterator[bytes], expected_bytes: int | None) -> TempBlob:
        """Stream chunks to a temp file, hashing as they come; fsync before returning.
        Raises ShortBody when fewer than `expected_bytes` arrive; the temp file never
        outlives a failure."""
        path = self.tmp / f"{new_id('up')}.part"
        hasher = hashlib.sha256()
        size = 0
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            async for chunk in chunks:
                hasher.update(chunk)
                size += len(chunk)
                if expected_bytes is not None and size > expected_bytes:
                    raise ShortBody("body longer than Content-Length")
                _write_all(fd, chunk)
            if expected_bytes is not None and size != expected_bytes:
                raise ShortBody(f"body ended after {size} of {expected_bytes} bytes")
            await asyncio.to_thread(os.fsync, fd)
        except BaseException:
            os.close(fd)
            path.unlink(missing_ok=True)
            raise
        os.close(fd)
        return TempBlob(path, size, hasher.hexdigest(), hasher.digest())

    def discard(self, temp: TempBlob) -> None:
        temp.path.unlink(missing_ok=True)

    def adopt(self, temp: TempBlob) -> None:
        """Move a received temp file into the store under its hash and pin it until the
        caller's file row is committed (then call `unpin`)."""
        final = self.path_for(temp.sha256)
        self._pins[temp.sha256] += 1
        if final.exists():
            temp.path.unlink(missing_ok=True)  # identical content is stored once
            return
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(temp.path, final)
        _fsync_dir(final.parent)

    def unpin(self, sha256: str) -> None:
        self._pins[sha256] -= 1
        if self._pins[sha256] <= 0:
            del self._pins[sha256]

    def collect(self, sha256: str) -> bool:
        """Remove the blob if no file row, no trash entry (of any user) and no pending upload
        refers to it. Synchronous on purpose: the check and the unlink happen without yielding."""
        if self._pins.get(sha256) or self.db.one(
            "SELECT 1 FROM files WHERE sha256=? UNION ALL SELECT 1 FROM trash WHERE sha256=?",
            sha256,
            sha256,
        ):
            return False
        self.path_for(sha256).unlink(missing_ok=True)
        return True

    def sweep(self) -> int:
        """Start-up clean-up after a crash: drop temp files and unreferenced blobs."""
        removed = 0
        for leftover in self.tmp.iterdir():
            leftover.unlink(missing_ok=True)
            removed += 1
        for blob in self.root.glob("??/??/*"):
            if blob.is_file() and self.collect(blob.name):
                removed += 1
        if removed:
            log.info("storage_swept", removed=removed)
        return removed


def _write_all(fd: int, chunk: bytes) -> None:
    view = memoryview(chunk)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
