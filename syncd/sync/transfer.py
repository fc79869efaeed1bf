"""Local file mechanics of transfers: a download lands in a temp file in the same folder, is
hashed while written and verified, gets the remote mtime, and (once durable, landing.py) is
placed, never over a file that appeared; a cut download resumes from its temp file. Also the
re-check helpers used before destroying."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from syncd.errors import StaleError, TransportError
from syncd.sync.client import ApiClient, Progress
from syncd.sync.ignore import TEMP_PREFIX
from syncd.sync.model import LocalFile, RemoteFile, RootTraits
from syncd.sync.rootfs import place_new, start_writeback

__all__ = [
    "TEMP_PREFIX",
    "Fetched",
    "StaleError",
    "fetch_file",
    "matches",
    "place",
    "require_unchanged",
]


def temp_path_for(target: Path, file_id: str) -> Path:
    return target.parent / f"{TEMP_PREFIX}{file_id}.part"


def matches(path: Path, expected: LocalFile, traits: RootTraits) -> bool:
    """True when `path` is still the very file the plan saw (size, mtime, inode, as far as the
    root can tell them apart)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    return traits.same_stat(
        (st.st_size, st.st_mtime_ns, st.st_ino),
        (expected.size, expected.mtime_ns, expected.inode),
    )


def require_unchanged(path: Path, expected: LocalFile, traits: RootTraits) -> None:
    if not matches(path, expected, traits):
        raise StaleError(f"{path} changed since it was scanned")


def _open_temp(temp: Path, size: int) -> tuple[hashlib._Hash, int, BinaryIO | None]:
    """The digest and length of what a cut download left in `temp` (to resume after it), and
    the temp file open for the rest (None: complete already, nothing to fetch)."""
    digest, done = hashlib.sha256(), 0
    with contextlib.suppress(FileNotFoundError), temp.open("rb") as handle:
        if os.fstat(handle.fileno()).st_size <= size:
            while chunk := handle.read(1024 * 1024):
                digest.update(chunk)
                done += len(chunk)
    if done and done == size:
        return digest, done, None
    return digest, done, temp.open("ab" if done else "wb")


@dataclass(frozen=True)
class Fetched:
    """A download whose content sits complete and verified in `temp`, not yet durable or placed
    (landing.py makes a batch of them durable and places them)."""

    remote: RemoteFile
    temp: Path
    target: Path
    replaces: LocalFile | None


async def fetch_file(
    client: ApiClient,
    remote: RemoteFile,
    target: Path,
    replaces: LocalFile | None,
    progress: Progress | None = None,
) -> Fetched:
    """Download `remote` into its temp file beside `target`, verify size and digest, and give it
    the remote mtime. On any failure the target is untouched; the temp file stays only to
    resume a cut transfer."""
    temp = temp_path_for(target, remote.file_id)
    # Off the loop: a stat or create in a folder waits while a landing batch places files there.
    digest, offset, handle = await asyncio.to_thread(_open_temp, temp, remote.size)
    if handle is not None:
        await _stream(client, remote, target, handle, temp, digest, offset, progress)
    await asyncio.to_thread(_verify, temp, target, remote, digest.hexdigest())
    return Fetched(remote, temp, target, replaces)


class TempWriter:
    """Writes and hashes a download's bytes in a worker thread about 1 MiB at a time, one write
    in flight, so the event loop only receives: SHA-256 runs at well under 1 GB/s, and a big
    file's hashing on the loop held up every other transfer. A small file is written at once."""

    FLUSH_BYTES = 1024 * 1024
    INLINE_BYTES = 256 * 1024  # a whole small file: cheaper on the loop than a thread hop

    def __init__(self, handle: BinaryIO, digest: hashlib._Hash) -> None:
        self.handle, self.digest = handle, digest
        self.chunks: list[bytes] = []
        self.buffered = 0
        self.pending: asyncio.Future[None] | None = None
        self.error: OSError | None = None  # a local write failure: ours, not the network's

    async def write(self, chunk: bytes) -> None:
        self.chunks.append(chunk)
        self.buffered += len(chunk)
        if self.buffered >= self.FLUSH_BYTES:
            await self._flush()

    async def close(self) -> None:
        """Write what is buffered and wait for it (raises a write error)."""
        if self.pending is None and self.buffered <= self.INLINE_BYTES:
            self._write(b"".join(self.chunks))
            self.chunks, self.buffered = [], 0
            return
        await self._flush()
        await self.settle()

    async def settle(self) -> None:
        if self.pending is not None:
            pending, self.pending = self.pending, None
            await pending

    async def _flush(self) -> None:
        await self.settle()  # one write in flight keeps the bytes and the digest in order
        data = b"".join(self.chunks)
        self.chunks, self.buffered = [], 0
        self.pending = asyncio.ensure_future(asyncio.to_thread(self._write, data))

    def _write(self, data: bytes) -> None:
        try:
            self.handle.write(data)
        except OSError as exc:  # disk full, I/O error
            self.error = exc
            raise
        self.digest.update(data)
        if len(data) >= self.FLUSH_BYTES:  # a big file: its first MiBs go to disk meanwhile
            self.handle.flush()
            # Only the range just written: the whole file each MiB re-walked its dirty pages
            # (on large: client CPU -0.4 s and a little faster, both of two A/B rounds).
            start_writeback(self.handle.fileno(), self.handle.tell() - len(data), len(data))


async def _stream(
    client: ApiClient,
    remote: RemoteFile,
    target: Path,
    handle: BinaryIO,
    temp: Path,
    digest: hashlib._Hash,
    offset: int,
    progress: Progress | None,
) -> None:
    writer = TempWriter(handle, digest)
    try:
        _status, resumed = await client.download_to(
            remote.file_id, writer.write, offset=offset, etag=f'"{remote.sha256}"',
            progress=progress,
        )  # fmt: skip
        if offset and not resumed:
            # Server sent the whole body (or 416): start again from scratch next time.
            handle.close()
            temp.unlink(missing_ok=True)
            raise StaleError(f"resume of {target.name} refused; restarting")
        await writer.close()  # the data fsync comes later, for a whole batch (landing.py)
        handle.flush()
    except asyncio.CancelledError:
        # Shutdown aborts cleanly; only a crash (kill -9) leaves a temp file to resume.
        handle.close()  # waits for a write in flight (the buffered writer's lock)
        temp.unlink(missing_ok=True)
        raise
    except (OSError, TransportError) as exc:
        local = writer.error or (exc if isinstance(exc, OSError) else None)
        if local is None:
            with contextlib.suppress(OSError):
                await writer.close()  # keep what arrived: the resume starts after it
            if writer.error is None:
                raise  # a cut connection: the temp file stays to resume from
            local = writer.error
        # A local write failed (disk full...): report that, and drop the partial temp file,
        # which would only keep the disk full and fail every resume the same way.
        handle.close()
        temp.unlink(missing_ok=True)
        raise local from None
    finally:
        handle.close()


def _verify(temp: Path, target: Path, remote: RemoteFile, sha256_hex: str) -> None:
    fd = os.open(temp, os.O_RDONLY | os.O_CLOEXEC)
    try:
        size = os.fstat(fd).st_size
        if sha256_hex == remote.sha256 and size == remote.size:
            os.utime(fd, ns=(remote.mtime_ns, remote.mtime_ns))
            start_writeback(fd)  # on disk, mostly, by the time its batch is made durable
            return
    finally:
        os.close(fd)
    temp.unlink(missing_ok=True)
    raise StaleError(f"{target.name}: content does not match the server's digest")


def write_verified(
    remote: RemoteFile, target: Path, replaces: LocalFile | None, content: bytes
) -> Fetched:
    """Worker thread: a small file's whole content (from a batch read) into its temp file,
    verified before a byte is written, with the remote mtime; like `fetch_file`'s result.
    No writeback hint per file: landing's syncfs writes a batch's files back together (a
    sync_file_range per small file cost more kernel time than it saved)."""
    if len(content) != remote.size or hashlib.sha256(content).hexdigest() != remote.sha256:
        raise StaleError(f"{target.name}: content does not match the server's digest")
    temp = temp_path_for(target, remote.file_id)
    try:  # a cut earlier try left a part: start again (O_TRUNC)
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o666)
        try:
            view = memoryview(content)
            while view:
                view = view[os.write(fd, view) :]
            os.utime(fd, ns=(remote.mtime_ns, remote.mtime_ns))
        finally:
            os.close(fd)
    except OSError:
        temp.unlink(missing_ok=True)  # disk full...: no partial temp file to keep it full
        raise
    return Fetched(remote, temp, target, replaces)


def place(item: Fetched, traits: RootTraits) -> os.stat_result:
    """Put a durable, verified temp file at its final name: never over a file the user just
    created, and over the replaced file only if it is still the one the plan saw. The caller
    fsyncs the folder."""
    if item.replaces is None:
        place_new(item.temp, item.target, traits.placement)
    else:
        require_unchanged(item.target, item.replaces, traits)
        os.replace(item.temp, item.target)
    return os.lstat(item.target)
