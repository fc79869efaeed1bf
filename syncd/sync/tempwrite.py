"""A download's temp file: resumed after what a cut transfer left (cut back to a 4 KiB boundary),
then written and hashed from the receiving thread (stream.py), with O_DIRECT where the file
system allows it."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import threading
from pathlib import Path

from syncd.sync.rootfs import start_writeback

ALIGN = 4096  # O_DIRECT wants offsets, lengths and buffer addresses on the block size
READ_BYTES = 1 << 20
O_DIRECT = getattr(os, "O_DIRECT", 0)


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
    """Called with each piece of the body in the receiving thread: writes it at the next offset
    and hashes it. With O_DIRECT the bytes go from the receive buffer (page-aligned) to the
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

    def __call__(self, data: memoryview) -> None:
        self.digest.update(data)  # a piece that then fails to be written drops the temp file
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
