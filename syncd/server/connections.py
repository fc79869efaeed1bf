"""Connection-level limits of the library server: request-header timeout, idle keep-alive,
a stall timeout on answers, a cap on concurrent connections (the rest are answered 503), and
aiohttp's own error answers (malformed framing) in the JSON error format."""

from __future__ import annotations

import asyncio
import json
import resource
import socket
import struct
from http import HTTPStatus
from typing import Any

from aiohttp import web

from syncd.errors import ApiError, RequestTimeout, ServerError, Unavailable
from syncd.log import get_logger
from syncd.server.http import error_for_status, error_response, http_exception_response
from syncd.server.state import Limits

log = get_logger(__name__)
# aiohttp reads (and drops) the unread rest of a refused body this long before it closes,
# so the client gets the answer instead of a reset; 10 s (aiohttp's default) let one
# client keep the loop busy discarding.
LINGER_S = 1.0
REFUSAL_LINGER_S = 1.0  # a refused connection is closed after its 503, at most this late
BACKLOG = 128  # listen queue; asyncio also accepts up to this many sockets in one burst
MAX_REFUSING = 16  # refused connections lingering at once; beyond that: closed at once
# Descriptors kept free besides the connections: one accept burst, lingering refusals, and
# the process's own (database, listener, event loop, ingest fetches).
FD_RESERVE = BACKLOG + MAX_REFUSING + 48
REFUSAL_RETRY_AFTER_S = 5
ACCEPT_LOG_S = 10.0


def raw_answer(error: ApiError, headers: dict[str, str] | None = None) -> bytes:
    """A complete `Connection: close` answer, for writing straight to a transport when no
    aiohttp response exists (refusal, header timeout)."""
    body = json.dumps(error.body()).encode()
    status = error.http_status
    lines = [
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}",
        "Content-Type: application/json; charset=utf-8",
        f"Content-Length: {len(body)}",
        "Connection: close",
        *(f"{k}: {v}" for k, v in (headers or {}).items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class ConnectionGuard:
    """Counts this server's connections against `max_connections`."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.active = 0
        self.refusing = 0
        self.refused_total = 0


class GuardedHandler(web.RequestHandler):
    """aiohttp's per-connection protocol plus our limits. The header timer runs from the
    connection's start, and from the first byte of each later request, until the request's
    headers are complete; the write timer runs while the client reads nothing of an answer."""

    def __init__(self, guard: ConnectionGuard, manager: web.Server, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self.guard = guard
        self.refused = False
        self.refusal_lingers = False  # counted in guard.refusing until connection_lost
        self.answered = 0  # requests whose answer was sent (or failed)
        self.last_body: Any = None  # StreamReader of the last request
        self.header_timer: asyncio.TimerHandle | None = None
        self.header_bytes = False  # bytes arrived while the header timer ran
        self.write_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self.guard.active >= self.guard.limits.max_connections:
            self._refuse(transport)
            return
        self.guard.active += 1
        super().connection_made(transport)
        self._arm_header_timer()

    def _refuse(self, transport: asyncio.BaseTransport) -> None:
        """503 and close: a client gets a clear answer instead of a hang or a reset."""
        self.refused = True
        guard = self.guard
        guard.refused_total += 1
        if guard.refused_total == 1 or guard.refused_total % 1000 == 0:
            log.warning(
                "connections_refused",
                refused_total=guard.refused_total,
                max_connections=guard.limits.max_connections,
            )
        assert isinstance(transport, asyncio.Transport)
        error = Unavailable(
            "too many connections; retry later", retry_after_s=REFUSAL_RETRY_AFTER_S
        )
        transport.write(raw_answer(error, {"Retry-After": str(REFUSAL_RETRY_AFTER_S)}))
        if guard.refusing >= MAX_REFUSING or not transport.can_write_eof():
            transport.close()  # a flood: no lingering (a late request may see a reset)
            return
        # Half-close and drain what the client sends until it closes (closing with unread
        # data would reset the connection and could destroy the answer), briefly.
        guard.refusing += 1
        self.refusal_lingers = True
        transport.write_eof()
        self._loop.call_later(REFUSAL_LINGER_S, transport.abort)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self.refused:
            return
        if self.header_timer is None and self._between_requests():
            self._arm_header_timer()  # these are the first bytes of a new request
        if self.header_timer is not None:
            self.header_bytes = self.header_bytes or bool(data)
        seen = self._request_count
        super().data_received(data)
        if self._request_count != seen:
            self._cancel_header_timer()  # headers complete

    def eof_received(self) -> None:
        if self.refused and self.transport is not None:
            self.transport.close()
            return
        super().eof_received()

    def connection_lost(self, exc: BaseException | None) -> None:
        if self.refused:
            self.guard.refusing -= int(self.refusal_lingers)
            self.refusal_lingers = False
            self.transport = None
            return
        self.guard.active -= 1
        self._cancel_header_timer()
        self._cancel_write_timer()
        super().connection_lost(exc)

    def _between_requests(self) -> bool:
        body_done = self.last_body is None or self.last_body.is_eof()
        return self.answered == self._request_count and body_done

    def _arm_header_timer(self) -> None:
        self.header_bytes = False
        self.header_timer = self._loop.call_later(
            self.guard.limits.header_timeout_s, self._header_timed_out
        )

    def _cancel_header_timer(self) -> None:
        if self.header_timer is not None:
            self.header_timer.cancel()
            self.header_timer = None

    def _header_timed_out(self) -> None:
        """Silence on a new connection: just close. Half a request: 408, then close."""
        self.header_timer = None
        if self.transport is None:
            return
        if self.header_bytes:
            timeout_s = self.guard.limits.header_timeout_s
            error = RequestTimeout(f"request headers not complete within {timeout_s:g} s")
            self.transport.write(raw_answer(error))
        log.debug("connection_timed_out", phase="headers", partial=self.header_bytes)
        self.force_close()

    async def finish_response(
        self, request: web.BaseRequest, resp: web.StreamResponse, start_time: float | None
    ) -> tuple[web.StreamResponse, bool]:
        if isinstance(resp, web.HTTPException) and resp.status >= 400:
            # An answer aiohttp made outside our middleware (e.g. 417 to an unknown Expect).
            resp = http_exception_response(resp)
        try:
            return await super().finish_response(request, resp, start_time)
        finally:
            self.answered += 1
            self.last_body = request.content

    def pause_writing(self) -> None:
        super().pause_writing()
        if self.write_timer is None:
            self.write_timer = self._loop.call_later(
                self.guard.limits.body_timeout_s, self._write_timed_out
            )

    def resume_writing(self) -> None:
        super().resume_writing()
        self._cancel_write_timer()

    def _cancel_write_timer(self) -> None:
        if self.write_timer is not None:
            self.write_timer.cancel()
            self.write_timer = None

    def _write_timed_out(self) -> None:
        """The client read nothing of an answer for body_timeout_s: reset the connection."""
        self.write_timer = None
        log.info("connection_timed_out", phase="answer")
        if self.transport is not None:
            reset(self.transport)

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """aiohttp's answer to a request it could not parse, in our JSON format."""
        if request.writer.output_size > 0:
            raise ConnectionError("answer already started; cannot send an error")
        error: ApiError
        if status >= 500:
            log.error("request_failed", status=status, exc_info=exc)
            error = ServerError("internal error; see the server log")
            error.http_status = status
        else:
            reason = message or (str(exc) if exc else HTTPStatus(status).phrase)
            log.info("request_malformed", status=status, reason=reason[:200])
            error = error_for_status(status, f"malformed request: {reason[:200]}")
        resp = error_response(error)
        resp.force_close()
        return resp


def reset(transport: asyncio.Transport) -> None:
    """Drop a connection at once with a reset: a close would wait for the unread buffer, and
    even an abort leaves the kernel feeding its send buffer to a stalled client."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


def fit_to_open_files(max_connections: int) -> int:
    """Raise the soft open-files limit so every allowed connection (a socket, and a blob
    file while it downloads) fits; if the hard limit forbids it, allow fewer connections."""
    needed = 2 * max_connections + FD_RESERVE
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return max_connections
    fitted = max(1, (soft - FD_RESERVE) // 2)
    log.warning(
        "max_connections_lowered",
        requested=max_connections,
        max_connections=fitted,
        open_files_limit=soft,
    )
    return fitted


async def listen(runner: web.AppRunner, host: str, port: int, limits: Limits) -> asyncio.Server:
    """Serve `runner`'s app on host:port with GuardedHandler connections."""
    manager = runner.server
    assert manager is not None, "runner.setup() first"
    guard = ConnectionGuard(limits)
    loop = asyncio.get_running_loop()
    options: dict[str, Any] = {
        "loop": loop,
        "keepalive_timeout": limits.idle_timeout_s,
        "lingering_time": LINGER_S,
        "access_log": None,
    }
    return await loop.create_server(
        lambda: GuardedHandler(guard, manager, **options),
        host or None,
        port,
        reuse_address=True,
        backlog=BACKLOG,
    )


def quiet_accept_errors(loop: asyncio.AbstractEventLoop) -> None:
    """asyncio logs a full traceback each time accept() fails (e.g. out of descriptors)
    and retries a second later; log one line instead, at most every ACCEPT_LOG_S."""
    last = [-ACCEPT_LOG_S]

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if not str(context.get("message", "")).startswith("socket.accept() out of"):
            loop.default_exception_handler(context)
            return
        if loop.time() - last[0] >= ACCEPT_LOG_S:
            last[0] = loop.time()
            log.warning("accept_failed", error=str(context.get("exception")), retry_s=1)

    loop.set_exception_handler(handler)
