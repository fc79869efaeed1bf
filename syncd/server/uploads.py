"""Receiving file content: the quota-checked upload pipeline (checks that need no body,
reserve Content-Length, stream to a temp file while hashing, verify Repr-Digest, commit) and
`store_incoming`, the entry point for gateway ingest (no quota check: always stored)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiofiles

from syncd.errors import BadRequest
from syncd.log import get_logger
from syncd.protocol import File, normalize_name
from syncd.server import files
from syncd.server.blobs.spool import ShortBody
from syncd.server.digests import Expected
from syncd.server.folders import check_rev, folder_row
from syncd.server.state import NO_PRECONDITION, Precondition, ServerState

log = get_logger(__name__)


def precheck(
    state: ServerState,
    user_id: str,
    folder_id: str,
    raw_name: str,
    content_length: int,
    pre: Precondition,
) -> str:
    """Every check of a PUT that needs no body (name, folder, precondition, size, quota),
    also run before `100 Continue`. Returns the normalised name."""
    name = normalize_name(raw_name)
    folder_row(state, user_id, folder_id)
    existing = files.row_by_name(state, folder_id, name)
    check_rev(None if existing is None else existing["rev"], pre, "file")
    state.quotas.check(user_id, content_length)
    return name


async def upload(
    state: ServerState,
    user_id: str,
    folder_id: str,
    raw_name: str,
    *,
    content_length: int,
    body: AsyncIterator[bytes],
    digest: Expected | None,
    pre: Precondition,
    mtime_ns: int | None,
) -> tuple[File, bool]:
    """PUT: the reservation is released and the temp file removed on every path out
    (digest mismatch, short body, body timeout, client gone, 412 at commit)."""
    name = precheck(state, user_id, folder_id, raw_name, content_length, pre)
    reservation = state.quotas.reserve(user_id, content_length)
    try:
        chunks = body if digest is None else digest.check_stream(body)
        try:
            temp = await state.blobs.receive(chunks, content_length)
        except ShortBody as exc:
            raise BadRequest(f"upload incomplete: {exc}") from exc
        if digest is not None:
            try:
                digest.verify(temp.digest)
            except Exception:
                state.blobs.discard(temp)
                raise
        result = await files.commit_blob(
            state,
            user_id,
            folder_id,
            name,
            temp,
            pre=pre,
            mtime_ns=mtime_ns,
            source="upload",
            reservation=reservation,
        )
    finally:
        state.quotas.release(reservation)
    state.count(user_id, "uploads")
    state.count(user_id, "upload_bytes", temp.size)
    log.info(
        "upload_finished",
        user_id=user_id,
        file_id=result[0].id,
        size_bytes=temp.size,
        created=result[1],
    )
    return result


async def store_incoming(
    state: ServerState,
    user_id: str,
    folder_id: str,
    name: str,
    source: Path | AsyncIterator[bytes],
    *,
    mtime_ns: int | None = None,
    max_bytes: int | None = None,
) -> File:
    """Store a gateway's incoming media in a (participant) folder. Bypasses the quota (a
    customer's message is never dropped), never replaces an existing file (a free name
    `x (2).jpg` is chosen) and appends to the feed like any upload."""
    name = normalize_name(name)
    chunks = _read_path(source) if isinstance(source, Path) else source
    temp = await state.blobs.receive(_limited(chunks, max_bytes), None)
    final_name = files.free_name(state, folder_id, name)
    file, _ = await files.commit_blob(
        state,
        user_id,
        folder_id,
        final_name,
        temp,
        pre=NO_PRECONDITION,
        mtime_ns=mtime_ns,
        source="incoming",
    )
    log.info("incoming_stored", user_id=user_id, file_id=file.id, size_bytes=file.size)
    return file


async def _read_path(path: Path, chunk_bytes: int = 1 << 20) -> AsyncIterator[bytes]:
    async with aiofiles.open(path, "rb") as handle:
        while chunk := await handle.read(chunk_bytes):
            yield chunk


async def _limited(chunks: AsyncIterator[bytes], max_bytes: int | None) -> AsyncIterator[bytes]:
    total = 0
    async for chunk in chunks:
        total += len(chunk)
        if max_bytes is not None and total > max_bytes:
            raise ShortBody(f"incoming media larger than {max_bytes} bytes")
        yield chunk
