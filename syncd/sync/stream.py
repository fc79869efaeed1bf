"""One download's body received in a worker thread on a blocking HTTP/1.1 connection
(http.client) and handed to a sink in that same thread: a file's content straight into
page-aligned buffers, a batch read's frames piece by piece as they come. The event loop never
touches the bytes (through aiohttp, receiving 1 GB cost the loop ~1.3 s of CPU)."""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import mmap
import socket
import ssl
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol
from urllib.parse import urlsplit

from syncd.errors import TransportError, api_error_from_answer

# One thread per download receiving (threads start only when first used).
_RECEIVERS = ThreadPoolExecutor(32, "syncd-download")
_TLS: list[ssl.SSLContext] = []
BUFFER_BYTES = 1 << 20  # what the sink gets at a time (the last piece may be shorter)
# An eager body's pieces, at most: read1 allocates this much before it knows what came, and
# below glibc's mmap threshold that is reused from the heap. The 50,000-file initial sync
# peaked at 145-149 MiB RSS with 64 KiB pieces, 151-153 MiB with 256 KiB or 1 MiB.
EAGER_PIECE_BYTES = 64 << 10
ERROR_BODY_BYTES = 64 << 10


class Sink(Protocol):
    """Where a body goes, piece by piece, in the receiving thread."""

    def write(self, data: memoryview) -> None:
        """Take the next piece; `data` stays valid until the next call or `flush`."""

    def flush(self) -> None:
        """Return once every piece taken is written (raises a write's error)."""


class SinkFailed(Exception):
    """The sink raised `error` (a local write failure): the file's problem, not the network's,
    so never retried as a transport error."""

    def __init__(self, error: OSError) -> None:
        super().__init__(str(error))
        self.error = error


class BodyStream:
    """One request of `url` (GET, or `method` with `body`) whose answer's body is received. `get`
    runs in a worker thread; `abort` (any thread) makes a receive under way fail at once and
    keeps the sink from being called again."""

    def __init__(
        self,
        url: str,
        headers: dict[str, str],
        *,
        connect_s: float,
        read_s: float,
        method: str = "GET",
        body: bytes | None = None,
        eager: bool = False,
    ) -> None:
        parts = urlsplit(url)
        self.method, self.body = method, body
        # eager: the sink gets each piece as it arrives, not a full buffer at a time, so a cut
        # answer has handed over everything that came before the cut (a batch read's complete
        # frames); the pieces are not page-aligned.
        self.eager = eager
        self.what = f"{method} {parts.path}"
        self.target = parts.path + (f"?{parts.query}" if parts.query else "")
        self.conn: http.client.HTTPConnection
        if parts.scheme == "https":
            self.conn = http.client.HTTPSConnection(
                parts.hostname or "", parts.port, timeout=connect_s, context=_tls()
            )
        else:
            self.conn = http.client.HTTPConnection(
                parts.hostname or "", parts.port, timeout=connect_s
            )
        self.headers, self.read_s = headers, read_s
        self.aborted = threading.Event()

    def abort(self) -> None:
        self.aborted.set()
        sock = self.conn.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    async def run(
        self, sink: Sink, progress: Callable[[int], None] | None, *, resuming: bool
    ) -> tuple[int, bool]:
        """`get` in a download thread. Cancelled, the stream is aborted and waited for, so that
        the sink is done with its file when the caller cleans up."""
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(_RECEIVERS, self.get, sink, progress, resuming)
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            self.abort()
            with contextlib.suppress(Exception):
                await future
            raise

    def get(
        self, sink: Sink, progress: Callable[[int], None] | None, resuming: bool
    ) -> tuple[int, bool]:
        """Returns (status, resumed) like `ApiClient.download_to`; raises the ApiError of an
        error answer, TransportError for a failed or cut connection, SinkFailed."""
        try:
            answer = self._answer()
            if answer.status == 416:
                return answer.status, False
            resumed = answer.status == 206
            if resuming and not resumed:
                return answer.status, False  # whole body offered: the caller restarts
            self._receive(answer, sink, progress)
            return answer.status, resumed
        finally:
            self.conn.close()

    def _answer(self) -> http.client.HTTPResponse:
        try:
            self.conn.connect()
            if self.conn.sock is not None:  # connected: each receive may now wait read_s
                self.conn.sock.settimeout(self.read_s)
            self._check_aborted()
            self.conn.request(self.method, self.target, body=self.body, headers=self.headers)
            answer = self.conn.getresponse()
            if answer.status < 400 or answer.status == 416:
                return answer
            raw = answer.read(ERROR_BODY_BYTES)
        except (OSError, http.client.HTTPException) as exc:
            raise self._cut(exc) from exc
        try:
            body: object = json.loads(raw)
        except ValueError:
            body = None
        raise api_error_from_answer(answer.status, body, answer.getheader("Retry-After"))

    def _receive(
        self,
        answer: http.client.HTTPResponse,
        sink: Sink,
        progress: Callable[[int], None] | None,
    ) -> None:
        try:
            if self.eager:
                self._pump_eager(answer, sink)
            else:
                self._pump(answer, sink, progress)
        except BaseException:
            with contextlib.suppress(Exception):  # the sink's own error, if any, is raised
                sink.flush()  # done with this thread's buffers before it reuses them
            raise
        _to_sink(sink.flush)

    def _pump(
        self,
        answer: http.client.HTTPResponse,
        sink: Sink,
        progress: Callable[[int], None] | None,
    ) -> None:
        buffers, turn = _buffers(), 0
        while True:
            view, turn = buffers[turn], 1 - turn  # the sink may still write the other one
            try:
                # Fills the buffer (a blocking read waits for all of it) or ends the body;
                # a body cut short raises IncompleteRead.
                got = answer.readinto(view)
                self._check_aborted()
            except (OSError, http.client.HTTPException) as exc:
                raise self._cut(exc) from exc
            if not got:
                return
            _to_sink(sink.write, view[:got])
            if progress is not None:
                progress(got)

    def _pump_eager(self, answer: http.client.HTTPResponse, sink: Sink) -> None:
        while True:
            try:
                piece = answer.read1(EAGER_PIECE_BYTES)  # what has come, up to that size
                self._check_aborted()
            except (OSError, http.client.HTTPException) as exc:
                raise self._cut(exc) from exc
            if not piece:
                return
            _to_sink(sink.write, memoryview(piece))

    def _check_aborted(self) -> None:
        if self.aborted.is_set():
            raise ConnectionAbortedError("download aborted")

    def _cut(self, exc: BaseException) -> TransportError:
        return TransportError(f"{self.what}: {type(exc).__name__}: {exc}")


def _tls() -> ssl.SSLContext:
    if not _TLS:  # https only: loading the system CAs costs ~30 ms
        _TLS.append(ssl.create_default_context())
    return _TLS[0]


def _to_sink(call: Callable[..., None], *args: memoryview) -> None:
    try:
        call(*args)
    except OSError as exc:
        raise SinkFailed(exc) from exc


def _buffers() -> tuple[memoryview, memoryview]:
    """A download's two receive buffers (one filled while the sink writes the other): page-
    aligned (anonymous mmaps), so that a sink may write them with O_DIRECT. Made per download
    and unmapped when the last view of them goes: an idle daemon keeps none."""
    return memoryview(mmap.mmap(-1, BUFFER_BYTES)), memoryview(mmap.mmap(-1, BUFFER_BYTES))
