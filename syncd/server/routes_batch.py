"""Batch routes for small files (frames: syncd.frames): `POST /v1/files:batch-read` sends many
files' bytes in one answer, `POST /v1/files:batch-write` stores many files from one body, each
file on its own (digest check, quota reservation, result); a malformed body stores nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from aiohttp import web
from pydantic import ValidationError

from syncd.errors import (
    ApiError,
    BadRequest,
    BodyTooLarge,
    DigestMismatch,
    NotFound,
    ServerError,
)
from syncd.frames import END_FRAME, MEDIA_TYPE, FrameDecoder, FrameError, encode_frame
from syncd.log import get_logger
from syncd.protocol import (
    BATCH_MAX_BYTES,
    BATCH_MAX_FILES,
    BatchRead,
    BatchReadHeader,
    BatchWriteAnswer,
    BatchWriteHeader,
    BatchWriteResult,
)
from syncd.server import files, uploads
from syncd.server.blobs.spool import TempBlob
from syncd.server.http import (
    auth,
    body_chunks,
    content_length,
    json_body,
    model_response,
    state_of,
)
from syncd.server.meta import Row
from syncd.server.quota import Reservation
from syncd.server.state import Precondition, ServerState

log = get_logger(__name__)
routes = web.RouteTableDef()
READ_GROUP_BYTES = 1 << 20  # blobs read per thread hop (local store): one hop per file cost more
MAX_BODY_BYTES = BATCH_MAX_BYTES + BATCH_MAX_FILES * 1024  # payloads plus their frame headers


@routes.post("/v1/files:batch-read", name="batch_read")
async def batch_read(request: web.Request) -> web.StreamResponse:
    user = auth(request)
    state = state_of(request)
    try:
        ids = BatchRead.model_validate(await json_body(request)).ids
    except ValidationError as exc:
        problem = exc.errors()[0]["msg"]
        raise BadRequest(f"give 'ids': 1 to {BATCH_MAX_FILES} file ids ({problem})") from None
    rows = files.rows_by_ids(state, user["id"], ids)  # another user's file: not found
    total = sum(int(rows[i]["size"]) for i in ids if i in rows)
    if total > BATCH_MAX_BYTES:
        raise BodyTooLarge(
            f"the files come to {total} bytes, over {BATCH_MAX_BYTES} per batch",
            max_bytes=BATCH_MAX_BYTES,
        )
    resp = web.StreamResponse(headers={"Content-Type": MEDIA_TYPE})
    await resp.prepare(request)
    sent: list[int] = []  # sizes of the files sent
    for group in _read_groups(ids, rows):
        contents = await _read_blobs(state, [rows.get(i) for i in group])
        frames = [_read_frame(i, rows.get(i), c) for i, c in zip(group, contents, strict=True)]
        sent += [header.size for header, _payload in frames if header.status == 200]
        await resp.write(
            b"".join(encode_frame(h.model_dump(exclude_none=True), p) for h, p in frames)
        )
    await resp.write(END_FRAME)
    await resp.write_eof()
    state.count(user["id"], "downloads", len(sent))
    state.count(user["id"], "download_bytes", sum(sent))
    log.info(
        "batch_read_sent",
        user_id=user["id"],
        files=len(sent),
        failed=len(ids) - len(sent),
        bytes=sum(sent),
    )
    return resp


def _read_groups(ids: list[str], rows: dict[str, Row]) -> list[list[str]]:
    groups: list[list[str]] = [[]]
    size = 0
    for file_id in ids:
        row_bytes = int(rows[file_id]["size"]) if file_id in rows else 0
        if groups[-1] and size + row_bytes > READ_GROUP_BYTES:
            groups.append([])
            size = 0
        groups[-1].append(file_id)
        size += row_bytes
    return groups


async def _read_blobs(
    state: ServerState, rows: list[Row | None]
) -> list[bytes | OSError | ApiError | None]:
    """Each row's blob, or the error reading it (None: no row); one failure is that file's."""
    present = [row for row in rows if row is not None]
    contents = iter(await state.blobs.read_whole([(r["sha256"], int(r["size"])) for r in present]))
    return [None if row is None else next(contents) for row in rows]


def _read_frame(
    file_id: str, row: Row | None, content: bytes | OSError | ApiError | None
) -> tuple[BatchReadHeader, bytes]:
    if row is None or isinstance(content, FileNotFoundError):  # replaced meanwhile: gone too
        error: ApiError = NotFound("no such file", file_id=file_id)
    elif isinstance(content, ApiError):  # the blob store is unreachable (503)
        error = content
    elif isinstance(content, OSError) or content is None:
        log.error("blob_unreadable", file_id=file_id, error=str(content))
        error = ServerError("the stored content cannot be read; see the server log")
    else:
        header = BatchReadHeader(
            id=file_id, status=200, size=len(content), sha256=row["sha256"], rev=row["rev"]
        )
        return header, content
    body = error.body()["error"]
    return BatchReadHeader(id=file_id, status=error.http_status, error=body), b""


@dataclass
class _Received:
    """A file of a batch-write whose bytes are in a verified temp blob, its quota reserved."""

    index: int
    header: BatchWriteHeader
    name: str
    pre: Precondition
    reservation: Reservation
    temp: TempBlob


@routes.post("/v1/files:batch-write", name="batch_write")
async def batch_write(request: web.Request) -> web.Response:
    user = auth(request)
    state = state_of(request)
    content_length(request, MAX_BODY_BYTES)
    items = await _receive_all(state, user["id"], request)
    results = [await _commit(state, user["id"], item) for item in items]
    stored = [r for r in results if r.file is not None]
    log.info(
        "batch_write_stored",
        user_id=user["id"],
        files=len(stored),
        failed=len(results) - len(stored),
        bytes=sum(r.file.size for r in stored if r.file is not None),
    )
    return model_response(BatchWriteAnswer(results=results))


async def _receive_all(
    state: ServerState, user_id: str, request: web.Request
) -> list[_Received | BatchWriteResult]:
    """Every file of the body received (or refused on its own); a body that is cut or not
    well-formed is a 400 and every file received so far is dropped: nothing is stored."""
    decoder = FrameDecoder(BATCH_MAX_BYTES)
    items: list[_Received | BatchWriteResult] = []
    payload_bytes = 0
    try:
        async for chunk in body_chunks(request):
            for frame in decoder.feed(chunk):
                if len(items) == BATCH_MAX_FILES:
                    raise FrameError(f"more than {BATCH_MAX_FILES} files")
                payload_bytes += len(frame.payload)
                if payload_bytes > BATCH_MAX_BYTES:
                    raise BodyTooLarge(
                        f"files over {BATCH_MAX_BYTES} bytes", max_bytes=BATCH_MAX_BYTES
                    )
                header = _write_header(frame.header, decoder.frames)
                items.append(await _receive(state, user_id, len(items), header, frame.payload))
        decoder.finish()
    except FrameError as exc:
        _drop(state, items)
        raise BadRequest(
            f"malformed batch, nothing stored: {exc}", frame=decoder.frames + 1
        ) from None
    except BaseException:
        _drop(state, items)
        raise
    return items


def _write_header(raw: dict[str, object], number: int) -> BatchWriteHeader:
    try:
        return BatchWriteHeader.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise FrameError(f"frame {number}: header field {where!r}: {first['msg']}") from None


async def _receive(
    state: ServerState, user_id: str, index: int, header: BatchWriteHeader, payload: bytes
) -> _Received | BatchWriteResult:
    pre = Precondition(if_match=header.if_match, if_none_match_any=header.if_none_match)
    try:
        name = uploads.precheck(state, user_id, header.folder_id, header.name, header.size, pre)
        reservation = state.quotas.reserve(user_id, header.size)
    except ApiError as error:
        return _failed(index, header.name, error)
    try:
        temp = await state.blobs.receive(_once(payload), header.size)
    except BaseException:
        state.quotas.release(reservation)
        raise
    if temp.sha256 != header.sha256:
        state.blobs.discard(temp)
        state.quotas.release(reservation)
        mismatch = DigestMismatch(
            "the content does not match its sha256; nothing was stored",
            expected=header.sha256,
            actual=temp.sha256,
        )
        return _failed(index, header.name, mismatch)
    return _Received(index, header, name, pre, reservation, temp)


async def _once(payload: bytes) -> AsyncIterator[bytes]:
    yield payload


async def _commit(
    state: ServerState, user_id: str, item: _Received | BatchWriteResult
) -> BatchWriteResult:
    if isinstance(item, BatchWriteResult):
        return item
    try:
        file, created = await files.commit_blob(
            state,
            user_id,
            item.header.folder_id,
            item.name,
            item.temp,
            pre=item.pre,
            mtime_ns=item.header.mtime_ns,
            source="upload",
            reservation=item.reservation,  # released as the row commits
        )
    except ApiError as error:
        return _failed(item.index, item.header.name, error)
    finally:
        state.quotas.release(item.reservation)  # idempotent: a failure released nothing yet
    state.count(user_id, "uploads")
    state.count(user_id, "upload_bytes", file.size)
    # Info, as for a PUT: the server's record of every stored upload.
    log.info(
        "upload_finished",
        user_id=user_id,
        file_id=file.id,
        size_bytes=file.size,
        created=created,
        batch=True,
    )
    return BatchWriteResult(
        index=item.index, name=item.name, status=201 if created else 200, file=file
    )


def _failed(index: int, name: str, error: ApiError) -> BatchWriteResult:
    return BatchWriteResult(
        index=index, name=name, status=error.http_status, error=error.body()["error"]
    )


def _drop(state: ServerState, items: list[_Received | BatchWriteResult]) -> None:
    for item in items:
        if isinstance(item, _Received):
            state.blobs.discard(item.temp)
            state.quotas.release(item.reservation)
