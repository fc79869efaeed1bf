"""The protocol every blob backend implements: raw, content-keyed storage operations. Which
blobs may be deleted (references, pins, locks) is decided above it, in store.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO, Protocol

from syncd.server.blobs.spool import TempBlob

CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class StoredBlob:
    sha256: str
    modified: datetime  # timezone-aware


@dataclass(frozen=True)
class Reachability:
    backend: str  # "local" or "s3"
    reachable: bool
    detail: str = ""  # why not, for the health answer and the log


class BlobBackend(Protocol):
    name: str
    # True when the spool file is renamed into the store (so it must be fsynced first).
    keeps_spool_file: bool

    async def exists(self, sha256: str) -> bool: ...

    async def store(self, temp: TempBlob) -> None:
        """Make the verified spool file the blob of `temp.sha256`, all or nothing, and
        remove the spool file."""

    async def delete(self, sha256: str) -> None: ...

    def read(
        self, sha256: str, start: int, length: int
    ) -> AbstractAsyncContextManager[AsyncIterator[bytes]]:
        """`length` bytes from `start`. Entering the context does the first request, so a
        missing blob or an unreachable store fails before an answer is started."""

    def open_file(self, sha256: str) -> BinaryIO | None:
        """The blob as a local file open for reading (the server then sends it with
        sendfile), or None when the backend has no local file (read() streams it)."""

    def list(self) -> AsyncIterator[StoredBlob]: ...

    async def check(self) -> Reachability: ...

    async def close(self) -> None: ...
