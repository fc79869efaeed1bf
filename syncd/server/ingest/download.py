"""One fetch attempt of a media job: WAHA (`X-Api-Key`, URL under the gateway), Cloud API
(direct URL, else re-resolve the media id via the Graph API; host on the allowlist; sha256
verified) or Evolution API (inline spool file, `mediaUrl` on the allowlist, else the
gateway's getBase64FromMediaMessage), streamed into the sender's folder with the per-kind
size cap enforced."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp

from syncd.server.ingest import cloudapi, evolution, participants, waha
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
        if job.provider == "evolution":
            return await self._fetch_evolution(job, user_id)
        return await self._fetch_cloud(job, user_id)

    async def _fetch_evolution(self, job: MediaJob, user_id: str) -> str:
        config = self.hook.config
        if job.inline_path:
            path = Path(job.inline_path)
            if not path.is_file():
                raise Refused("the spooled inline media is gone (server crash or disk loss)")
            self._check_cap(job, path.stat().st_size)
            return await self._store_from(_read_file(path), job, user_id)
        if job.url and cloudapi.host_allowed(job.url, config.media_hosts):
            return await self._get_and_store(job.url, {}, job, user_id, "media host")
        if job.url and not job.instance:
            raise Refused("the mediaUrl host is not allowed (--media-host) and no instance")
        data = await self._evolution_base64(job)
        self._check_cap(job, len(data))
        return await self._store_from(_one_chunk(data), job, user_id)

    async def _evolution_base64(self, job: MediaJob) -> bytes:
        """POST {gateway}/chat/getBase64FromMediaMessage/{instance} with the gateway's apikey;
        the answer is read up to the cap (as base64) and no further."""
        config = self.hook.config
        instance = quote(job.instance or "", safe="")
        url = f"{config.gateway_url}/chat/getBase64FromMediaMessage/{instance}"
        body = {"message": {"key": {"id": job.message_id}}, "convertToMp4": False}
        cap = config.cap_for(cap_kind(job.kind))
        headers = {"apikey": config.api_key or ""}
        try:
            async with self.session.post(
                url, json=body, headers=headers, allow_redirects=False
            ) as resp:
                if resp.status not in (200, 201):
                    raise Retryable(f"the gateway answered {resp.status} for the media")
                raw = bytearray()
                async for chunk in resp.content.iter_chunked(CHUNK_BYTES):
                    raw += chunk
                    if len(raw) > cap * 4 // 3 + (1 << 16):  # base64 + the JSON around it
                        raise Refused(f"too_large: media above the cap of {human_bytes(cap)}")
                answer = json.loads(raw)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            what = type(exc).__name__
            raise Retryable(f"the gateway did not answer with the media: {what}") from exc
        encoded = answer.get("base64") if isinstance(answer, dict) else None
        if not isinstance(encoded, str) or not encoded:
            raise Retryable("the gateway's answer has no base64 media")
        try:
            return evolution.decode_media(encoded)
        except ValueError as exc:
            raise Refused("the gateway's media is not valid base64") from exc

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
        return await self._store_from(resp.content.iter_chunked(CHUNK_BYTES), job, user_id)

    async def _store_from(self, source: AsyncIterator[bytes], job: MediaJob, user_id: str) -> str:
        folder_id = participants.folder_for(self.state, user_id, job.sender)
        name = media_name(job.kind, job.mime, job.filename, job.timestamp_s or _now_s())
        chunks = self._guarded(source, job)
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


async def _one_chunk(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def _read_file(path: Path) -> AsyncIterator[bytes]:
    with path.open("rb") as handle:
        while chunk := await asyncio.to_thread(handle.read, 1 << 20):
            yield chunk


def _now_s() -> int:
    return int(time.time())
