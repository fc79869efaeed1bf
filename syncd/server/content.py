"""Sending a stored file's bytes, for the API (`/v1/files/{id}/content`) and share links
(`/s/{token}`) alike: ETag = the sha256, If-None-Match -> 304, one Range -> 206 (416 when
unsatisfiable), If-Range, streamed from the blob store (a Range read of the blob)."""

from __future__ import annotations

from aiohttp import web

from syncd.errors import ApiError
from syncd.log import get_logger
from syncd.server.http import content_disposition, parse_range, state_of
from syncd.server.meta import Row

log = get_logger(__name__)
_MEDIA_ONLY = "img-src 'self'; media-src 'self'; style-src 'unsafe-inline'"


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
    resp.content_length = end - start + 1
    async with state.blobs.read(row["sha256"], start, end - start + 1) as chunks:
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
    return resp
