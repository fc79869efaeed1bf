"""Sending a stored file's bytes, for the API (`/v1/files/{id}/content`) and share links
(`/s/{token}`) alike: ETag = the sha256, If-None-Match -> 304, one Range -> 206 (416 when
unsatisfiable), If-Range; sent with sendfile from a local blob, else streamed (S3, HEAD)."""

from __future__ import annotations

import asyncio
import time
from typing import BinaryIO

from aiohttp import web

from syncd.errors import ApiError
from syncd.log import get_logger
from syncd.server.connections import reset
from syncd.server.http import content_disposition, parse_range, state_of
from syncd.server.meta import Row

log = get_logger(__name__)
_MEDIA_ONLY = "img-src 'self'; media-src 'self'; style-src 'unsafe-inline'"
# sendfile goes in pieces, each bounded by the answer stall timeout (body_timeout_s): a piece
# is about PIECE_S of the rate the last one went at, so a slow reader is not cut for being
# slow, only for reading nothing.
MIN_PIECE_BYTES = 256 << 10
MAX_PIECE_BYTES = 64 << 20
PIECE_S = 1.0


async def send_file(
    request: web.Request, row: Row, *, inline: bool = False, private: bool = False
) -> web.StreamResponse:
    """Answer with the file of `row` (a files row). Returns the prepared response."""
    state = state_of(request)
    size, etag = int(row["size"]), f'"{row["sha256"]}"'
    headers = {
        "ETag": etag,
        "Accept-Ranges": "bytes",
        "Content-Type": row["mime"],
        "Content-Disposition": content_disposition(row["name"], inline=inline),
    }
    if private:
        headers["Cache-Control"] = "private, no-store"
    # Media is served on the web page's origin: never sniffed into another type, and a file
    # shown inline (a shared HTML or SVG) runs in a sandbox, so its script cannot act with
    # a signed-in visitor's session.
    headers["X-Content-Type-Options"] = "nosniff"
    if inline:
        headers["Content-Security-Policy"] = "sandbox; default-src 'none'; " + _MEDIA_ONLY
    if request.headers.get("If-None-Match", "").strip() in (etag, "*"):
        return web.Response(status=304, headers={"ETag": etag})
    span = parse_range(request.headers.get("Range"), size)
    if_range = request.headers.get("If-Range")
    if span is not None and if_range is not None and if_range.strip() != etag:
        span = None  # the client's partial copy is of other content: send it all
    start, end = span if span is not None else (0, size - 1)
    resp = web.StreamResponse(status=206 if span is not None else 200, headers=headers)
    if span is not None:
        resp.headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    resp.content_length = length = end - start + 1
    # Opened before the answer starts: a missing blob is still an error answer.
    handle = state.blobs.open_file(row["sha256"]) if request.method != "HEAD" else None
    if handle is None:
        await _stream(request, resp, row, start, length)
        return resp
    with handle:
        await resp.prepare(request)
        if length > 0:
            await _sendfile(request, handle, start, length, state.limits.body_timeout_s)
    await resp.write_eof()
    return resp


async def _stream(
    request: web.Request, resp: web.StreamResponse, row: Row, start: int, length: int
) -> None:
    """The answer's body read from the blob store in chunks (S3; HEAD sends none)."""
    async with state_of(request).blobs.read(row["sha256"], start, length) as chunks:
        await resp.prepare(request)
        sent = 0
        try:
            async for chunk in chunks:
                await resp.write(chunk)
                sent += len(chunk)
        except ApiError as exc:
            # The status line is sent: the only honest answer left is a cut connection (the
            # client sees a short body and resumes with Range).
            log.warning("download_cut", file_id=row["id"], sent_bytes=sent, error=str(exc))
            raise ConnectionResetError("blob store failed mid-answer") from exc
    await resp.write_eof()


async def _sendfile(
    request: web.Request, handle: BinaryIO, offset: int, count: int, stall_s: float
) -> None:
    """`count` bytes of `handle` from `offset` straight from the page cache to the socket
    (the headers are sent already). A piece not taken within `stall_s` resets the connection,
    as the answer stall timeout does for streamed answers."""
    loop = asyncio.get_running_loop()
    transport = request.transport
    if transport is None:
        raise ConnectionResetError("client gone before the body")
    piece = MIN_PIECE_BYTES * 4
    while count > 0:
        piece = min(piece, count)
        started = time.monotonic()
        try:
            async with asyncio.timeout(stall_s):
                await loop.sendfile(transport, handle, offset, piece)
        except TimeoutError:
            log.info("connection_timed_out", phase="answer", sendfile=True)
            reset(transport)
            raise ConnectionResetError("client stalled mid-answer") from None
        offset, count = offset + piece, count - piece
        rate = piece / max(time.monotonic() - started, 1e-3)
        piece = int(min(MAX_PIECE_BYTES, max(MIN_PIECE_BYTES, rate * PIECE_S)))
