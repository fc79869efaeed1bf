"""Blobs in an S3-compatible bucket through obstore (imported only with `--blobs s3://`):
a verified spool file is put under `<prefix>/ab/cd/<sha256>` (multipart above PART_BYTES;
a put is atomic, so no partial object is ever visible), reads are windowed Range GETs, each
request bounded by a timeout; an unreachable store raises Unavailable (503)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import TYPE_CHECKING, BinaryIO, TypeVar

import obstore
from obstore.exceptions import (
    BaseError,
    NotFoundError,
    PermissionDeniedError,
    UnauthenticatedError,
)
from obstore.store import S3Store

from syncd.errors import Unavailable
from syncd.log import get_logger
from syncd.server.blobs.backend import CHUNK_BYTES, Reachability, StoredBlob
from syncd.server.blobs.settings import S3Settings
from syncd.server.blobs.spool import TempBlob

if TYPE_CHECKING:
    from obstore.store import ClientConfig, RetryConfig, S3Config

log = get_logger(__name__)
T = TypeVar("T")
PART_BYTES = 8 << 20  # multipart above this; also the size of each part
PART_CONCURRENCY = 4  # parts in flight per upload (memory: this x PART_BYTES at most)
WINDOW_BYTES = 16 << 20  # one GET per window, so each request's timeout stays meaningful
CHECK_TIMEOUT_S = 3.0
RETRY_AFTER_S = 5  # what a 503 tells clients to wait (the daemon honours Retry-After)
CLIENT: ClientConfig = {"connect_timeout": timedelta(seconds=5), "timeout": timedelta(seconds=120)}
RETRY: RetryConfig = {
    "max_retries": 2,
    "retry_timeout": timedelta(seconds=10),
    "backoff": {"init_backoff": timedelta(milliseconds=100), "max_backoff": timedelta(seconds=2)},
}


class S3Backend:
    name = "s3"
    keeps_spool_file = False

    def __init__(self, settings: S3Settings) -> None:
        self.settings = settings
        client: ClientConfig = {**CLIENT}
        if settings.endpoint is not None and settings.endpoint.startswith("http://"):
            client["allow_http"] = True
        config: S3Config = {
            "region": settings.region,
            "access_key_id": settings.access_key_id,
            "secret_access_key": settings.secret_access_key,
            "virtual_hosted_style_request": False,  # endpoints on loopback or an IP have no DNS
        }
        if settings.endpoint is not None:
            config["endpoint"] = settings.endpoint
        if settings.session_token is not None:
            config["session_token"] = settings.session_token
        self.bucket = S3Store(
            settings.bucket,
            prefix=settings.prefix or None,
            config=config,
            client_options=client,
            retry_config=RETRY,
        )

    @staticmethod
    def key(sha256: str) -> str:
        return f"{sha256[:2]}/{sha256[2:4]}/{sha256}"

    async def exists(self, sha256: str) -> bool:
        try:
            await _call(obstore.head_async(self.bucket, self.key(sha256)))
        except FileNotFoundError:
            return False
        return True

    async def store(self, temp: TempBlob) -> None:
        try:
            await _call(
                obstore.put_async(
                    self.bucket,
                    self.key(temp.sha256),
                    temp.path,
                    chunk_size=PART_BYTES,
                    max_concurrency=PART_CONCURRENCY,
                )
            )
        finally:
            temp.path.unlink(missing_ok=True)

    def open_file(self, sha256: str) -> BinaryIO | None:
        return None  # no local file: read() streams the object

    async def delete(self, sha256: str) -> None:
        await _call(obstore.delete_async(self.bucket, self.key(sha256)))

    @asynccontextmanager
    async def read(
        self, sha256: str, start: int, length: int
    ) -> AsyncIterator[AsyncIterator[bytes]]:
        first = await self._window(sha256, start, length) if length > 0 else None
        yield self._chunks(sha256, start, length, first)

    async def _window(self, sha256: str, start: int, length: int) -> obstore.GetResult:
        end = start + min(length, WINDOW_BYTES)
        options: obstore.GetOptions = {"range": (start, end)}
        return await _call(obstore.get_async(self.bucket, self.key(sha256), options=options))

    async def _chunks(
        self, sha256: str, start: int, length: int, window: obstore.GetResult | None
    ) -> AsyncIterator[bytes]:
        offset, end = start, start + length
        broken_at = -1
        while window is not None:
            try:
                async for chunk in window.stream(min_chunk_size=CHUNK_BYTES):
                    data = bytes(chunk)
                    offset += len(data)
                    yield data
            except BaseError as exc:
                # A window cut short (a slow client outlasting the request timeout, a reset
                # connection) resumes where it stopped; twice at one offset is a real fault.
                if offset == broken_at:
                    raise _unavailable(exc) from exc
                broken_at = offset
                log.info("blob_read_resumed", sha256=sha256, offset=offset)
            if offset >= end:
                return
            window = await self._window(sha256, offset, end - offset)

    async def list(self) -> AsyncIterator[StoredBlob]:
        stream = obstore.list(self.bucket, chunk_size=1000)
        try:
            async for batch in stream:
                for meta in batch:
                    sha256 = meta["path"].rsplit("/", 1)[-1]
                    if meta["path"] == self.key(sha256):  # only our own key layout
                        yield StoredBlob(sha256, meta["last_modified"])
        except BaseError as exc:
            raise _unavailable(exc) from exc

    async def check(self) -> Reachability:
        """List one key: fails for an unreachable store, refused credentials and a missing
        bucket alike (a HEAD of an absent key would call a missing bucket fine)."""
        try:
            await asyncio.wait_for(self._list_one(), CHECK_TIMEOUT_S)
        except Unavailable as exc:
            return Reachability(self.name, False, str(exc.details.get("reason", exc.message)))
        except TimeoutError:
            return Reachability(self.name, False, f"no answer within {CHECK_TIMEOUT_S:g} s")
        return Reachability(self.name, True)

    async def _list_one(self) -> None:
        try:
            async for _batch in obstore.list(self.bucket, chunk_size=1):
                return
        except BaseError as exc:
            raise _unavailable(exc) from exc

    async def close(self) -> None:
        return None  # obstore's client pool has no close; it goes with the process


async def _call(awaitable: Awaitable[T]) -> T:
    """Driver errors other than 'not found' become Unavailable (503, retryable)."""
    try:
        return await awaitable
    except (NotFoundError, FileNotFoundError):
        raise
    except BaseError as exc:
        raise _unavailable(exc) from exc


def _unavailable(exc: BaseException) -> Unavailable:
    # The driver's message names the request (endpoint, bucket, key) and its cause, never
    # credentials: it goes to the log; answers (health is public) get only its kind.
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    log.warning("blob_store_failed", error=first)
    return Unavailable(
        "blob storage unreachable; try again later",
        reason=_kind_of(exc, first),
        retry_after_s=RETRY_AFTER_S,
    )


def _kind_of(exc: BaseException, message: str) -> str:
    if isinstance(exc, PermissionDeniedError | UnauthenticatedError) or " 403 " in message:
        return "credentials refused (403)"
    if " 404 " in message:
        return "bucket not found (404)"
    status = re.search(r"status code: (\d{3})", message)
    if status:
        return f"store answered {status.group(1)}"
    return "no connection to the store"
