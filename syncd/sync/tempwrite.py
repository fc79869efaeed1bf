"""A download's temp file: resumed after what a cut transfer left (cut back to a 4 KiB boundary),
then fed by the receiving thread (stream.py): hashed there, written behind it by a writer
thread, with O_DIRECT where the file system allows it."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from syncd.sync.rootfs import start_writeback

ALIGN = 4096  # O_DIRECT wants offsets, lengths and buffer addresses on the block size
READ_BYTES = 1 << 20
O_DIRECT = getattr(os, "O_DIRECT", 0)
# One write in flight per download; threads start only when first used.
_WRITERS = ThreadPoolExecutor(32, "syncd-write")


def open_temp(temp: Path, size: int) -> tuple[hashlib._Hash, int, TempWriter | None]:
    """The digest and length of what a cut download left in `temp` (to resume after it), and
    the temp file open for the rest (None: complete already, nothing to fetch). Unless it is
    complete, what is past the last 4 KiB boundary is fetched again, so writes stay aligned."""
    digest, done = hashlib.sha256(), 0
    with contextlib.suppress(FileNotFoundError), temp.open("rb") as handle:
        length = os.fstat(handle.fileno()).st_size
        if length <= size:
            done = length if length == size else length - length % ALIGN
            left = done
            while left and (chunk := handle.read(min(READ_BYTES, left))):
                digest.update(chunk)
                left -= len(chunk)
            done -= left  # shorter than it said: only what was read counts
    if done and done == size:
        return digest, done, None
    return digest, done, TempWriter(temp, done, digest)


class TempWriter:
    """The sink of a download's body (stream.py): each piece is hashed in the receiving thread
    and written at the next offset by a writer thread while the next piece is received, one
    write in flight. With O_DIRECT the bytes go from the receive buffer (page-aligned) to the
    disk without a copy into the page cache, which on the benchmark's VM cost more CPU than
    SHA-256, and nothing is left dirty for the batch's syncfs; a piece that is not aligned (a
    file's last) goes through the page cache. A lock keeps `close` from racing a write."""

    def __init__(self, temp: Path, offset: int, digest: hashlib._Hash) -> None:
        flags = os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | (0 if offset else os.O_TRUNC)
        self.direct = bool(O_DIRECT)
        try:
            self.fd = os.open(temp, flags | O_DIRECT)
        except OSError as exc:  # EINVAL: this file system has no O_DIRECT
            if exc.errno != errno.EINVAL or not self.direct:
                raise
            self.fd, self.direct = os.open(temp, flags), False
        try:
            os.ftruncate(self.fd, offset)  # drop an unaligned tail: it is fetched again
        except OSError:
            os.close(self.fd)
            raise
        self.offset, self.digest = offset, digest
        self.lock = threading.Lock()
        self.pending: Future[None] | None = None

    def write(self, data: memoryview) -> None:
        self.digest.update(data)  # a piece that then fails to be written drops the temp file
        self.flush()  # the previous piece is written: its buffer is the next to be filled
        self.pending = _WRITERS.submit(self._write_all, data)

    def flush(self) -> None:
        if self.pending is not None:
            pending, self.pending = self.pending, None
            pending.result()

    def _write_all(self, data: memoryview) -> None:
        with self.lock:
            if self.fd < 0:
                raise OSError(errno.EBADF, "temp file closed under a download")
            start = self.offset
            while data:
                written = self._write(data)
                data, self.offset = data[written:], self.offset + written
            if not self.direct:
                # Only the range just written goes to disk meanwhile, so the batch's syncfs
                # finds little left: the whole file each MiB re-walked its dirty pages.
                start_writeback(self.fd, start, self.offset - start)

    def _write(self, data: memoryview) -> int:
        if self.direct and (len(data) % ALIGN or self.offset % ALIGN):
            self._buffered()
        try:
            return os.pwrite(self.fd, data, self.offset)
        except OSError as exc:  # EINVAL: O_DIRECT refused here after all (FUSE...)
            if not (self.direct and exc.errno == errno.EINVAL):
                raise
            self._buffered()
            return os.pwrite(self.fd, data, self.offset)

    def _buffered(self) -> None:
        fcntl.fcntl(self.fd, fcntl.F_SETFL, fcntl.fcntl(self.fd, fcntl.F_GETFL) & ~O_DIRECT)
        self.direct = False

    def close(self) -> None:
        with self.lock:
            if self.fd >= 0:
                fd, self.fd = self.fd, -1
                os.close(fd)
