"""HTTP client of the library API for the daemon: typed errors translated once here, retries
with exponential backoff + jitter on connection errors / 5xx / 429 (Retry-After honoured),
streamed uploads with Repr-Digest, resumable downloads with Range."""

from __future__ import annotations

import asyncio
import base64
import json
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

from pydantic import BaseModel, ValidationError

from syncd import __version__
from syncd.errors import (
    ApiError,
    FileChangedError,
    TransportError,
    api_error_from_answer,
)
from syncd.frames import MEDIA_TYPE
from syncd.lazyssl import import_aiohttp
from syncd.log import get_logger
from syncd.protocol import (
    MTIME_HEADER,
    Account,
    BatchWriteAnswer,
    ChangesPage,
    File,
    FilesPage,
    Folder,
    SearchPage,
    ShareLink,
    TrashItem,
    etag_for_rev,
)
from syncd.sync.stream import BodyStream, Sink, SinkFailed

if TYPE_CHECKING:
    import aiohttp
else:
    aiohttp = import_aiohttp()  # its SSL contexts load their CAs only if https is used

log = get_logger("syncd.client")
T = TypeVar("T")
CHUNK_BYTES = 256 * 1024
CONNECT_S = 10.0
Progress = Callable[[int], None]


M = TypeVar("M", bound=BaseModel)


def _parse(model: type[M], data: Any) -> M:
    """A malformed answer (wrong shape) is the server's fault, like a cut connection: a
    TransportError the daemon retries and shows, never a crash of the loop that asked."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise TransportError(
            f"malformed {model.__name__} in the server's answer: {exc.error_count()} invalid "
            f"field(s), first: {exc.errors()[0]['loc']}"
        ) from None


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6
    base_s: float = 0.25
    cap_s: float = 20.0

    def delay_s(self, attempt: int, retry_after_s: float | None = None) -> float:
        """Full-jitter exponential backoff; a server's Retry-After is a floor."""
        backoff = random.uniform(0, min(self.cap_s, self.base_s * (2**attempt)))  # noqa: S311
        return max(backoff, retry_after_s or 0.0)


async def _raise_for_answer(resp: aiohttp.ClientResponse) -> None:
    if resp.status < 400:
        return
    try:
        body: object = await resp.json(content_type=None)
    except (ValueError, aiohttp.ClientError):
        body = None
    raise api_error_from_answer(resp.status, body, resp.headers.get("Retry-After"))


class ApiClient:
    """One user's view of the library. Every method raises only syncd.errors types."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        retry: RetryPolicy | None = None,
        timeout_s: float = 30.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._headers = {
            "Authorization": f"Bearer {token}",
            "User-Agent": f"syncd/{__version__}",
        }
        self.retry = retry or RetryPolicy()
        self._timeout = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=timeout_s)
        self.timeout_s = timeout_s
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> ApiClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=32, keepalive_timeout=30)
            self._session = aiohttp.ClientSession(
                headers=self._headers, timeout=self._timeout, connector=connector
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    # ---- retry core --------------------------------------------------------------------

    async def _with_retry(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        attempt = 0
        while True:
            try:
                return await call()
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                error: Exception = TransportError(f"{what}: {type(exc).__name__}: {exc}")
                retry_after = None
            except ApiError as exc:
                if not exc.retryable:
                    raise
                error, retry_after = exc, exc.details.get("retry_after_s")
            attempt += 1
            if attempt >= self.retry.attempts:
                raise error
            delay_s = self.retry.delay_s(attempt, retry_after)
            log.info(
                "request_retried",
                what=what,
                attempt=attempt,
                delay_s=round(delay_s, 2),
                reason=str(error),
            )
            await asyncio.sleep(delay_s)

    async def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        async def call() -> Any:
            async with self.session.request(method, self.base_url + path, **kwargs) as resp:
                await _raise_for_answer(resp)
                if resp.status == 204:
                    return None
                try:
                    return await resp.json(content_type=None)
                except ValueError as exc:
                    raise TransportError(f"{method} {path}: malformed JSON answer") from exc

        return await self._with_retry(f"{method} {path}", call)

    # ---- account, folders, feed -------------------------------------------------------

    async def account(self) -> Account:
        return _parse(Account, await self._json("GET", "/v1/account"))

    async def folders(self) -> list[Folder]:
        data = await self._json("GET", "/v1/folders")
        items = data.get("folders", data) if isinstance(data, dict) else data
        return [_parse(Folder, item) for item in items]

    async def create_folder(self, name: str) -> Folder:
        return _parse(Folder, await self._json("POST", "/v1/folders", json={"name": name}))

    async def rename_folder(self, folder_id: str, name: str, rev: int | None) -> Folder:
        headers = {"If-Match": etag_for_rev(rev)} if rev is not None else {}
        data = await self._json(
            "PATCH", f"/v1/folders/{folder_id}", json={"name": name}, headers=headers
        )
        return _parse(Folder, data)

    async def delete_folder(self, folder_id: str, rev: int | None = None) -> None:
        headers = {"If-Match": etag_for_rev(rev)} if rev is not None else {}
        await self._json("DELETE", f"/v1/folders/{folder_id}", headers=headers)

    async def changes(
        self,
        cursor: int,
        *,
        limit: int = 1000,
        wait_s: int = 0,
        epoch: str | None = None,
        snapshot: int | None = None,
    ) -> ChangesPage:
        params = {"cursor": str(cursor), "limit": str(limit)}
        if snapshot is not None:
            params["snapshot"] = str(snapshot)
        if wait_s:
            params["wait"] = str(wait_s)
        if epoch and cursor:
            params["epoch"] = epoch
        # The server holds a long poll for wait_s: read timeout must outlast it.
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=wait_s + 20)
        data = await self._json("GET", "/v1/changes", params=params, timeout=timeout)
        return _parse(ChangesPage, data)

    async def file(self, file_id: str) -> File:
        return _parse(File, await self._json("GET", f"/v1/files/{file_id}"))

    async def move_file(
        self, file_id: str, rev: int, *, name: str | None = None, folder_id: str | None = None
    ) -> File:
        body: dict[str, str] = {}
        if name is not None:
            body["name"] = name
        if folder_id is not None:
            body["folder_id"] = folder_id
        data = await self._json(
            "PATCH", f"/v1/files/{file_id}", json=body, headers={"If-Match": etag_for_rev(rev)}
        )
        return _parse(File, data)

    async def delete_file(self, file_id: str, rev: int | None) -> None:
        headers = {"If-Match": etag_for_rev(rev)} if rev is not None else {}
        await self._json("DELETE", f"/v1/files/{file_id}", headers=headers)

    # ---- transfers ---------------------------------------------------------------------

    async def upload(
        self,
        folder_id: str,
        name: str,
        path: Path,
        *,
        size: int,
        sha256_hex: str,
        mtime_ns: int,
        base_rev: int | None,
        progress: Progress | None = None,
    ) -> File:
        """Stream `path` as the new content of folder/name. The server verifies the digest,
        so bytes that changed since hashing are refused (DigestMismatch), never stored."""
        digest_b64 = base64.b64encode(bytes.fromhex(sha256_hex)).decode()
        headers = {
            "Content-Length": str(size),
            "Content-Type": "application/octet-stream",
            "Repr-Digest": f"sha-256=:{digest_b64}:",
            MTIME_HEADER: str(mtime_ns),
        }
        if base_rev is None:
            headers["If-None-Match"] = "*"
        else:
            headers["If-Match"] = etag_for_rev(base_rev)
        url = f"{self.base_url}/v1/folders/{folder_id}/files/{quote(name, safe='')}"

        async def call() -> File:
            body = _file_chunks(path, size, progress)
            async with self.session.put(url, data=body, headers=headers) as resp:
                await _raise_for_answer(resp)
                return _parse(File, await resp.json(content_type=None))

        return await self._with_retry(f"PUT {folder_id}/{name}", call)

    async def download_to(
        self,
        file_id: str,
        sink: Sink,
        *,
        offset: int = 0,
        etag: str | None = None,
        progress: Progress | None = None,
    ) -> tuple[int, bool]:
        """Stream the content into `sink` starting at `offset` (Range). Returns (status,
        resumed): resumed is False when the server sent the whole body (caller restarts).
        The body is received, and `sink` called, in a worker thread (stream.py); `progress`
        is called on the loop. A sink's OSError is raised as it is, never retried."""
        headers = dict(self._headers)
        if offset:
            headers["Range"] = f"bytes={offset}-"
            if etag:
                headers["If-Range"] = etag
        url = f"{self.base_url}/v1/files/{file_id}/content"
        loop = asyncio.get_running_loop()

        def tick(n: int) -> None:
            if progress is not None:
                loop.call_soon_threadsafe(progress, n)

        async def call() -> tuple[int, bool]:
            stream = BodyStream(url, headers, connect_s=CONNECT_S, read_s=self.timeout_s)
            return await stream.run(sink, tick, resuming=bool(offset))

        # Only an error answer (503, 429 ...) is retried here: it comes before any byte went
        # to the sink. A cut body is a TransportError, resumed from the temp file by the caller.
        try:
            return await self._with_retry(f"GET {file_id}", call)
        except SinkFailed as exc:
            raise exc.error from None

    async def batch_read(self, file_ids: list[str], sink: Sink) -> None:
        """POST /v1/files:batch-read: the answer's frame stream goes to `sink` in a worker
        thread (stream.py), like download_to's body. An error answer is retried like any
        request; a cut answer is not (frames were delivered): TransportError. A file's own
        failure (digest, disk) is the sink's outcome for that file, never raised here."""
        url = f"{self.base_url}/v1/files:batch-read"
        headers = {**self._headers, "Content-Type": "application/json"}
        body = json.dumps({"ids": file_ids}).encode()

        async def call() -> None:
            stream = BodyStream(
                url,
                headers,
                connect_s=CONNECT_S,
                read_s=self.timeout_s,
                method="POST",
                body=body,
                eager=True,
            )
            await stream.run(sink, None, resuming=False)

        await self._with_retry("POST files:batch-read", call)

    async def batch_write(self, body: bytes) -> BatchWriteAnswer:
        """POST /v1/files:batch-write of a whole frame stream; one result per file."""
        url = f"{self.base_url}/v1/files:batch-write"
        headers = {"Content-Type": MEDIA_TYPE}

        async def call() -> BatchWriteAnswer:
            async with self.session.post(url, data=body, headers=headers) as resp:
                await _raise_for_answer(resp)
                return _parse(BatchWriteAnswer, await resp.json(content_type=None))

        return await self._with_retry("POST files:batch-write", call)

    # ---- listing, trash, share links (used by the client CLI commands) -----------------

    async def list_files(self, folder_id: str, *, page_size: int = 1000) -> list[File]:
        """Every file of a folder, following the server's id-ordered pages."""
        files: list[File] = []
        after = ""
        while True:
            params = {"limit": str(page_size), "after": after}
            data = await self._json("GET", f"/v1/folders/{folder_id}/files", params=params)
            page = _parse(FilesPage, data)
            files += page.files
            if page.next_after is None:
                return files
            after = page.next_after

    async def search(self, query: str, *, limit: int = 20, offset: int = 0) -> SearchPage:
        params = {"q": query, "limit": str(limit), "offset": str(offset)}
        return _parse(SearchPage, await self._json("GET", "/v1/search", params=params))

    async def send_file(
        self, file_id: str, to: str, caption: str | None, hook: str | None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"to": to}
        body |= {"caption": caption} if caption else {}
        body |= {"hook": hook} if hook else {}
        return dict(await self._json("POST", f"/v1/files/{file_id}/send", json=body))

    async def sent(self, limit: int = 50) -> list[dict[str, Any]]:
        data = await self._json("GET", "/v1/sent", params={"limit": str(limit)})
        return list(data.get("items", []))

    async def trash(self) -> list[TrashItem]:
        data = await self._json("GET", "/v1/trash")
        return [_parse(TrashItem, item) for item in data.get("items", [])]

    async def restore_trash(self, trash_id: str) -> File:
        data = await self._json("POST", f"/v1/trash/{quote(trash_id, safe='')}/restore")
        return _parse(File, data)

    async def create_link(self, file_id: str, expires_in_s: int) -> ShareLink:
        data = await self._json(
            "POST", f"/v1/files/{file_id}/links", json={"expires_in_s": expires_in_s}
        )
        return _parse(ShareLink, data)


async def _file_chunks(path: Path, size: int, progress: Progress | None) -> AsyncIterator[bytes]:
    """Read exactly `size` bytes; a file that shrank is cut short and the server refuses it."""
    remaining = size
    with path.open("rb") as handle:
        while remaining > 0:
            chunk = await asyncio.to_thread(handle.read, min(CHUNK_BYTES, remaining))
            if not chunk:
                # Abort the request: a short body would leave the server waiting for bytes.
                raise FileChangedError(f"{path} shrank during upload")
            remaining -= len(chunk)
            if progress is not None:
                progress(len(chunk))
            yield chunk
