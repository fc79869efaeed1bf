"""Routes for files: paged listing, streamed upload (PUT), metadata, ranged download,
rename/move and delete (DESIGN §3)."""

from __future__ import annotations

import asyncio
import os
from typing import BinaryIO

from aiohttp import web

from syncd.errors import BadRequest, LengthRequired
from syncd.protocol import MTIME_HEADER, etag_for_rev
from syncd.server import files, uploads
from syncd.server.http import (
    auth,
    content_disposition,
    json_body,
    model_response,
    optional_str,
    parse_range,
    precondition,
    query_int,
    state_of,
)

routes = web.RouteTableDef()
CHUNK_BYTES = 1 << 20


@routes.get("/v1/folders/{folder_id}/files", name="list_files")
async def list_files(request: web.Request) -> web.Response:
    user = auth(request)
    limit = query_int(request, "limit", 1000, 1, files.MAX_PAGE)
    page = files.list_files(
        state_of(request),
        user["id"],
        request.match_info["folder_id"],
        limit,
        request.query.get("after") or None,
    )
    return model_response(page)


@routes.put("/v1/folders/{folder_id}/files/{name}", name="upload_file")
async def upload_file(request: web.Request) -> web.Response:
    user = auth(request)
    length = request.content_length
    if length is None:
        raise LengthRequired("Content-Length is required (chunked uploads are not accepted)")
    file, created = await uploads.upload(
        state_of(request),
        user["id"],
        request.match_info["folder_id"],
        request.match_info["name"],
        content_length=length,
        body=request.content.iter_any(),
        digest=uploads.parse_repr_digest(request.headers.get("Repr-Digest")),
        pre=precondition(request),
        mtime_ns=_mtime_header(request),
    )
    return model_response(file, 201 if created else 200, {"ETag": etag_for_rev(file.rev)})


@routes.get("/v1/files/{file_id}", name="get_file")
async def get_file(request: web.Request) -> web.Response:
    user = auth(request)
    file = files.get_file(state_of(request), user["id"], request.match_info["file_id"])
    return model_response(file, headers={"ETag": etag_for_rev(file.rev)})


@routes.get("/v1/files/{file_id}/content", name="file_content")
async def file_content(request: web.Request) -> web.StreamResponse:
    user = auth(request)
    state = state_of(request)
    row = files.file_row(state, user["id"], request.match_info["file_id"])
    size, etag = int(row["size"]), f'"{row["sha256"]}"'
    headers = {
        "ETag": etag,
        "Accept-Ranges": "bytes",
        "Content-Type": row["mime"],
        "Content-Disposition": content_disposition(row["name"]),
    }
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
    with open(state.blobs.path_for(row["sha256"]), "rb") as handle:
        await resp.prepare(request)
        await _send(resp, handle, start, end - start + 1)
    await resp.write_eof()
    state.count(user["id"], "downloads")
    state.count(user["id"], "download_bytes", end - start + 1)
    return resp


async def _send(resp: web.StreamResponse, handle: BinaryIO, offset: int, remaining: int) -> None:
    fd = handle.fileno()
    while remaining > 0:
        chunk = await asyncio.to_thread(os.pread, fd, min(CHUNK_BYTES, remaining), offset)
        if not chunk:
            raise OSError("blob shorter than its recorded size")
        await resp.write(chunk)
        offset += len(chunk)
        remaining -= len(chunk)


@routes.patch("/v1/files/{file_id}", name="patch_file")
async def patch_file(request: web.Request) -> web.Response:
    user = auth(request)
    pre = precondition(request)
    body = await json_body(request)
    name, folder_id = optional_str(body, "name"), optional_str(body, "folder_id")
    if name is None and folder_id is None:
        raise BadRequest("give 'name' and/or 'folder_id'")
    file = files.patch_file(
        state_of(request),
        user["id"],
        request.match_info["file_id"],
        name=name,
        folder_id=folder_id,
        pre=pre,
    )
    return model_response(file, headers={"ETag": etag_for_rev(file.rev)})


@routes.delete("/v1/files/{file_id}", name="delete_file")
async def delete_file(request: web.Request) -> web.Response:
    user = auth(request)
    files.delete_file(
        state_of(request), user["id"], request.match_info["file_id"], precondition(request)
    )
    return web.Response(status=204)


def _mtime_header(request: web.Request) -> int | None:
    raw = request.headers.get(MTIME_HEADER)
    if raw is None:
        return None
    try:
        return int(raw.strip())
    except ValueError as exc:
        raise BadRequest(f"{MTIME_HEADER} must be an integer (ns since the epoch)") from exc
