"""One fetch attempt of a media job: WAHA (`X-Api-Key`, URL under the gateway) or Cloud API
(direct URL, else re-resolve the media id via the Graph API; host on the allowlist; sha256
verified), streamed into the sender's folder with the per-kind size cap enforced."""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp

from syncd.server.ingest import cloudapi, participants, waha
from syncd.server.ingest.hooks import Hook
from syncd.server.ingest.model import MediaJob
from syncd.server.ingest.naming import cap_kind, media_name
from syncd.server.state import ServerState
from syncd.server.uploads import store_incoming
from syncd.units import human_bytes

CHUNK_BYTES = 1 << 16


class Refused(Exception):
    """Final: will never succeed (too large, URL not allowed...)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Retryable(Exception):
    """May succeed later (404 while the gateway is still writing, timeout, 5xx...)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Downloader:
    def __init__(self, state: ServerState, session: aiohttp.ClientSession, hook: Hook) -> None:
        self.state = state
        self.session = session
        self.hook = hook

    async def fetch(self, job: MediaJob, user_id: str) -> str:
        """Fetch and store the job's media; returns the new file id."""
        if job.provider == "waha":
            return await self._fetch_waha(job, user_id)
        return await self._fetch_cloud(job, user_id)

    async def _fetch_waha(self, job: MediaJob, user_id: str) -> str:
        config = self.hook.config
        if not job.url or not waha.url_under_gateway(job.url, config.gateway_url or ""):
            raise Refused("media URL is outside the hook's gateway URL")
        headers = {"X-Api-Key": config.api_key or ""}
        return await self._get_and_store(job.url, headers, job, user_id, "gateway")

    async def _fetch_cloud(self, job: MediaJob, user_id: str) -> str:
        config = self.hook.config
        headers = {"Authorization": f"Bearer {config.access_token}"}
        if job.url and cloudapi.host_allowed(job.url, config.media_hosts):
            try:
                return await self._get_and_store(job.url, headers, job, user_id, "media host")
            except Retryable:
                pass  # the URL expired (5 min): resolve the media id for a fresh one
        if not job.media_id:
            raise Refused("the message carries no media id")
        meta = await self._resolve(job.media_id, headers)
        url = meta.get("url")
        if not isinstance(url, str) or not cloudapi.host_allowed(url, config.media_hosts):
            raise Refused("the Graph API returned a media URL whose host is not allowed")
        size = meta.get("file_size")
        if size is not None and str(size).isdigit():
            self._check_cap(job, int(str(size)))
        if isinstance(meta.get("sha256"), str) and not job.sha256_b64:
            job = job.model_copy(update={"sha256_b64": meta["sha256"]})
        return await self._get_and_store(url, headers, job, user_id, "media host")

    async def _resolve(self, media_id: str, headers: dict[str, str]) -> dict[str, Any]:
        graph = self.hook.config.graph_url or ""
        try:
            async with self.session.get(
                f"{graph}/{media_id}", headers=headers, allow_redirects=False
            ) as resp:
                if resp.status != 200:
                    raise Retryable(f"Graph API answered {resp.status} for the media id")
                meta = await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise Retryable(f"Graph API unreachable: {type(exc).__name__}") from exc
        if not isinstance(meta, dict):
            raise Retryable("Graph API answer is not a JSON object")
        return meta

    async def _get_and_store(
        self, url: str, headers: dict[str, str], job: MediaJob, user_id: str, what: str
    ) -> str:
        try:
            async with self.session.get(url, headers=headers, allow_redirects=False) as resp:
                if 300 <= resp.status < 400:
                    raise Refused(f"the {what} answered a redirect; redirects are not followed")
                if resp.status != 200:
                    raise Retryable(f"the {what} answered {resp.status}")
                if resp.content_length is not None:
                    self._check_cap(job, resp.content_length)
                return await self._store(resp, job, user_id)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise Retryable(
                f"the {what} did not answer in time or broke off: {type(exc).__name__}"
            ) from exc

    def _check_cap(self, job: MediaJob, size_bytes: int) -> None:
        cap = self.hook.config.cap_for(cap_kind(job.kind))
        if size_bytes > cap:
            raise Refused(
                f"too_large: {cap_kind(job.kind)} of {human_bytes(size_bytes)} is above the"
                f" cap of {human_bytes(cap)} for {cap_kind(job.kind)}"
            )

    async def _store(self, resp: aiohttp.ClientResponse, job: MediaJob, user_id: str) -> str:
        folder_id = participants.folder_for(self.state, user_id, job.sender)
        name = media_name(job.kind, job.mime, job.filename, job.timestamp_s or _now_s())
        chunks = self._guarded(resp.content.iter_chunked(CHUNK_BYTES), job)
        mtime_ns = job.timestamp_s * 1_000_000_000 if job.timestamp_s else None
        file = await store_incoming(self.state, user_id, folder_id, name, chunks, mtime_ns=mtime_ns)
        return file.id

    async def _guarded(self, chunks: AsyncIterator[bytes], job: MediaJob) -> AsyncIterator[bytes]:
        """Enforce the cap while streaming (Content-Length may be absent or lie) and check
        the Cloud API sha256 before the blob is committed (raising here discards it)."""
        cap = self.hook.config.cap_for(cap_kind(job.kind))
        hasher, total = hashlib.sha256(), 0
        async for chunk in chunks:
            total += len(chunk)
            if total > cap:
                raise Refused(
                    f"too_large: {cap_kind(job.kind)} above the cap of {human_bytes(cap)}"
                    f" for {cap_kind(job.kind)}"
                )
            hasher.update(chunk)
            yield chunk
        if job.sha256_b64 and not _digest_matches(job.sha256_b64, hasher.digest()):
            raise Retryable("the downloaded bytes do not match the webhook's sha256")


def _digest_matches(expected_b64: str, digest: bytes) -> bool:
    try:
        return base64.b64decode(expected_b64) == digest
    except ValueError:
        return bytes.fromhex(expected_b64) == digest if len(expected_b64) == 64 else False


def _now_s() -> int:
    return int(time.time())
