"""Blobs in a local folder, `<data>/blobs/ab/cd/<sha256>`: a verified spool file is renamed
into place and its folder fsynced (the spool is on the same file system, so a blob is
always complete); answers are sent from the open file with sendfile (content.py), other
reads use pread in a worker thread."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from syncd.durable import fsync_dir
from syncd.server.blobs.backend import CHUNK_BYTES, Reachability, StoredBlob
from syncd.server.blobs.spool import TempBlob


class LocalBackend:
    name = "local"
    keeps_spool_file = True

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def path_for(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256[2:4] / sha256

    async def exists(self, sha256: str) -> bool:
        return self.path_for(sha256).exists()

    async def store(self, temp: TempBlob) -> None:
        final = self.path_for(temp.sha256)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(temp.path, final)
        fsync_dir(final.parent)

    async def delete(self, sha256: str) -> None:
        self.path_for(sha256).unlink(missing_ok=True)

    @asynccontextmanager
    async def read(
        self, sha256: str, start: int, length: int
    ) -> AsyncIterator[AsyncIterator[bytes]]:
        with open(self.path_for(sha256), "rb") as handle:
            yield _pread_chunks(handle.fileno(), start, length)

    def open_file(self, sha256: str) -> BinaryIO:
        return open(self.path_for(sha256), "rb")  # the caller closes it

    async def list(self) -> AsyncIterator[StoredBlob]:
        for blob in self.root.glob("??/??/*"):
            try:
                mtime = blob.stat().st_mtime
            except FileNotFoundError:
                continue
            if blob == self.path_for(blob.name) and blob.is_file():
                yield StoredBlob(blob.name, datetime.fromtimestamp(mtime, UTC))

    async def check(self) -> Reachability:
        if os.access(self.root, os.W_OK | os.X_OK):
            return Reachability(self.name, True)
        return Reachability(self.name, False, "blob folder not writable")

    async def close(self) -> None:
        return None


async def _pread_chunks(fd: int, offset: int, remaining: int) -> AsyncIterator[bytes]:
    while remaining > 0:
        chunk = await asyncio.to_thread(os.pread, fd, min(CHUNK_BYTES, remaining), offset)
        if not chunk:
            raise OSError("blob shorter than its recorded size")
        yield chunk
        offset += len(chunk)
        remaining -= len(chunk)
