"""The instance's upload spool (`<data>/tmp`): a request body is streamed to a temp file and
hashed on the way; only complete, verified spool files are handed to a blob backend."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from syncd.server.db import new_id


@dataclass
class TempBlob:
    """Bytes received into a spool file: not yet part of the store."""

    path: Path
    size: int
    sha256: str  # hex
    digest: bytes  # raw sha-256, for Repr-Digest comparison


class ShortBody(Exception):
    """The body ended before the announced length (client went away)."""


class Spool:
    def __init__(self, folder: Path, *, fsync: bool) -> None:
        self.folder = folder
        # A local blob folder renames the spool file into place, so it must be durable
        # here; a bucket keeps its own durable copy and the spool file is dropped.
        self.fsync = fsync
        folder.mkdir(parents=True, exist_ok=True)

    async def receive(self, chunks: AsyncIterator[bytes], expected_bytes: int | None) -> TempBlob:
        """Stream chunks to a spool file, hashing as they come. Raises ShortBody when fewer
        (or more) than `expected_bytes` arrive; the spool file never outlives a failure."""
        path = self.folder / f"{new_id('up')}.part"
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
            if self.fsync:
                await asyncio.to_thread(os.fsync, fd)
        except BaseException:
            os.close(fd)
            path.unlink(missing_ok=True)
            raise
        os.close(fd)
        return TempBlob(path, size, hasher.hexdigest(), hasher.digest())

    def discard(self, temp: TempBlob) -> None:
        temp.path.unlink(missing_ok=True)

    def sweep(self) -> int:
        """Start-up clean-up after a crash: spool files belong to requests that are gone."""
        removed = 0
        for leftover in self.folder.iterdir():
            leftover.unlink(missing_ok=True)
            removed += 1
        return removed


def _write_all(fd: int, chunk: bytes) -> None:
    view = memoryview(chunk)
    while view:
        written = os.write(fd, view)
        view = view[written:]
