"""Receiving file content: the quota-checked upload pipeline (reserve Content-Length, stream
to a temp file while hashing, verify Repr-Digest, commit) and `store_incoming`, the entry
point for gateway ingest (no quota check: incoming media is always stored)."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import AsyncIterator
from pathlib import Path

import aiofiles

from syncd.errors import BadRequest, DigestMismatch
from syncd.log import get_logger
from syncd.protocol import File, normalize_name
from syncd.server import files
from syncd.server.folders import check_rev, folder_row
from syncd.server.state import NO_PRECONDITION, Precondition, ServerState
from syncd.server.storage import ShortBody

log = get_logger(__name__)
_SHA256_ITEM = re.compile(r"(?:^|,)\s*sha-256\s*=\s*:([^:]*):", re.I)


def parse_repr_digest(header: str | None) -> bytes | None:
    """The sha-256 of an RFC 9530 `Repr-Digest` header, or None if it has none."""
    if not header:
        return None
    match = _SHA256_ITEM.search(header)
    if match is None:
        return None
    try:
        digest = base64.b64decode(match.group(1), validate=True)
    except binascii.Error as exc:
        raise BadRequest("Repr-Digest sha-256 is not valid base64") from exc
    if len(digest) != 32:
        raise BadRequest("Repr-Digest sha-256 must be 32 bytes")
    return digest


async def upload(
    state: ServerState,
    user_id: str,
    folder_id: str,
    raw_name: str,
    *,
    content_length: int,
    body: AsyncIterator[bytes],
    digest: bytes | None,
    pre: Precondition,
    mtime_ns: int | None,
) -> tuple[File, bool]:
    """PUT: every check that needs no body runs first; the reservation is released and the
    temp file removed on every path out (including a client that disconnects)."""
    name = normalize_name(raw_name)
    folder_row(state, user_id, folder_id)
    existing = files.row_by_name(state, folder_id, name)
    check_rev(None if existing is None else existing["rev"], pre, "file")
    reservation = state.quotas.reserve(user_id, content_length)
    try:
        try:
            temp = await state.blobs.receive(body, content_length)
        except ShortBody as exc:
            raise BadRequest(f"upload incomplete: {exc}") from exc
        if digest is not None and digest != temp.digest:
            state.blobs.discard(temp)
            raise DigestMismatch(
                "the content does not match Repr-Digest; nothing was stored",
                expected=base64.b64encode(digest).decode(),
                actual=base64.b64encode(temp.digest).decode(),
            )
        result = files.commit_blob(
            state, user_id, folder_id, name, temp, pre=pre, mtime_ns=mtime_ns, source="upload"
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
    file, _ = files.commit_blob(
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
