"""Routes for files: paged listing, streamed upload (PUT), metadata, ranged download,
rename/move and delete (DESIGN §3)."""

from __future__ import annotations

from aiohttp import web

from syncd.errors import ApiError, BadRequest
from syncd.protocol import MTIME_HEADER, etag_for_rev
from syncd.server import files, uploads
from syncd.server.content import send_file
from syncd.server.digests import expected_digests, repr_digest_header
from syncd.server.http import (
    auth,
    body_chunks,
    content_length,
    error_for_status,
    error_response,
    header_int,
    json_body,
    last_segment_name,
    model_response,
    optional_str,
    precondition,
    query_int,
    state_of,
)

routes = web.RouteTableDef()


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


async def _expect_upload(request: web.Request) -> web.StreamResponse | None:
    """`Expect: 100-continue`: every check that needs no body runs *before* `100 Continue`,
    so a refused upload gets its final answer (401/404/411/412/413/507...) and the client
    never sends the body."""
    if request.headers.get("Expect", "").strip().lower() != "100-continue":
        return error_response(error_for_status(417, "only Expect: 100-continue is supported"))
    try:
        user = auth(request)
        expected_digests(request.headers.get("Repr-Digest"))
        uploads.precheck(
            state_of(request),
            user["id"],
            request.match_info["folder_id"],
            last_segment_name(request),
            content_length(request),
            precondition(request),
        )
        _mtime_header(request)
    except ApiError as error:
        resp = error_response(error)
        resp.force_close()  # the body stays unsent: this connection cannot be reused
        return resp
    await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    return None


@routes.put(
    "/v1/folders/{folder_id}/files/{name}", name="upload_file", expect_handler=_expect_upload
)
async def upload_file(request: web.Request) -> web.Response:
    user = auth(request)
    length = content_length(request)
    file, created = await uploads.upload(
        state_of(request),
        user["id"],
        request.match_info["folder_id"],
        last_segment_name(request),
        content_length=length,
        body=body_chunks(request),
        digest=expected_digests(request.headers.get("Repr-Digest")),
        pre=precondition(request),
        mtime_ns=_mtime_header(request),
    )
    headers = {
        "ETag": etag_for_rev(file.rev),
        "Repr-Digest": repr_digest_header(bytes.fromhex(file.sha256)),
    }
    return model_response(file, 201 if created else 200, headers)


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
    resp = await send_file(request, row)
    if resp.status in (200, 206):
        state.count(user["id"], "downloads")
        state.count(user["id"], "download_bytes", resp.content_length or 0)
    return resp


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
    await files.delete_file(
        state_of(request), user["id"], request.match_info["file_id"], precondition(request)
    )
    return web.Response(status=204)


def _mtime_header(request: web.Request) -> int | None:
    return header_int(request, MTIME_HEADER, -(2**63), 2**63 - 1)  # ns since the epoch
