"""A fake Meta Graph API on 127.0.0.1: `GET /v21.0/<media id>` (bearer) answers the media
URL + mime + sha256 + size; `GET /media/<media id>/<n>` serves the bytes, where URLs listed in
`expired` answer 404 like Meta's after 5 minutes. Plus Cloud API webhook builders."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from tests.support.loopback import serve

TOKEN = "graph-access-token"
APP_SECRET = "graph-app-secret"


@dataclass
class Media:
    data: bytes
    mime: str
    sha256_b64: str = ""
    size_override: int | None = None


@dataclass
class FakeGraph:
    media: dict[str, Media] = field(default_factory=dict)
    expired: set[str] = field(default_factory=set)
    resolves: Counter[str] = field(default_factory=Counter)
    downloads: Counter[str] = field(default_factory=Counter)
    redirect_host: str | None = None  # answer media URLs on another host (not allowlisted)
    url: str = ""
    _runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/v21.0/{media_id}", self._resolve)
        app.router.add_get("/media/{media_id}/{n}", self._download)
        self._runner, self.url = await serve(app, "127.0.0.1")

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def host(self) -> str:
        return self.url.removeprefix("http://")

    def add(self, media_id: str, data: bytes, mime: str) -> Media:
        digest = base64.b64encode(hashlib.sha256(data).digest()).decode()
        self.media[media_id] = Media(data, mime, digest)
        return self.media[media_id]

    def media_url(self, media_id: str, n: int = 0) -> str:
        return f"{self.url}/media/{media_id}/{n}"

    def _authorized(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {TOKEN}"

    async def _resolve(self, request: web.Request) -> web.Response:
        media_id = request.match_info["media_id"]
        if not self._authorized(request) or media_id not in self.media:
            return web.json_response({"error": {"message": "nope"}}, status=404)
        self.resolves[media_id] += 1
        item = self.media[media_id]
        url = self.media_url(media_id, self.resolves[media_id])
        if self.redirect_host:
            url = url.replace("127.0.0.1", self.redirect_host)
        size = item.size_override if item.size_override is not None else len(item.data)
        return web.json_response(
            {
                "messaging_product": "whatsapp",
                "url": url,
                "mime_type": item.mime,
                "sha256": item.sha256_b64,
                "file_size": str(size),
                "id": media_id,
            }
        )

    async def _download(self, request: web.Request) -> web.Response:
        media_id = request.match_info["media_id"]
        self.downloads[media_id] += 1
        if not self._authorized(request):
            return web.Response(status=401)
        if str(request.url.relative()) in self.expired or request.url.path in self.expired:
            return web.Response(status=404)
        item = self.media.get(media_id)
        if item is None:
            return web.Response(status=404)
        return web.Response(body=item.data, content_type=item.mime.split(";")[0])


def messages_webhook(
    messages: list[dict[str, Any]], contacts: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "102290129340398",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": "15550783881",
                                "phone_number_id": "106540352",
                            },
                            "contacts": contacts,
                            "messages": messages,
                        },
                    }
                ],
            }
        ],
    }


def media_message(
    kind: str, media_id: str, sender: str, item: Media, *, url: str | None = None, **extra: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "mime_type": item.mime,
        "sha256": item.sha256_b64,
        "id": media_id,
        **extra,
    }
    if url:
        body["url"] = url
    return {
        "from": sender,
        "id": f"wamid.{media_id}",
        "timestamp": str(int(time.time())),
        "type": kind,
        kind: body,
    }


def contact(wa_id: str | None, name: str, user_id: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"profile": {"name": name}}
    if wa_id:
        out["wa_id"] = wa_id
    if user_id:
        out["user_id"] = user_id
    return out


async def post_cloud(
    hook_url: str,
    event: dict[str, Any],
    secret: str | None = APP_SECRET,
) -> tuple[int, Any]:
    body = json.dumps(event).encode()
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        mac = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        headers["X-Hub-Signature-256"] = f"sha256={mac}"
    async with (
        aiohttp.ClientSession() as client,
        client.post(hook_url, data=body, headers=headers) as resp,
    ):
        return resp.status, await resp.json(content_type=None)
