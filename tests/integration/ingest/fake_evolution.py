"""A fake Evolution API (2.3.x) gateway on a loopback address: `POST
/chat/getBase64FromMediaMessage/{instance}` (header `apikey`) answers the media of a message
id as base64; `GET /files/{name}` serves a `mediaUrl`; every request is recorded. Plus
builders of `messages.upsert` v2 envelopes and HS256 JWTs as the gateway signs them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.support.loopback import serve

API_KEY = "evolution-instance-token"
INSTANCE = "shop"


@dataclass
class FakeEvolution:
    host: str = "127.0.0.1"
    media: dict[str, tuple[bytes, str]] = field(default_factory=dict)  # message id -> (data, mime)
    files: dict[str, bytes] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    url: str = ""
    _runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/chat/getBase64FromMediaMessage/{instance}", self._base64)
        app.router.add_get("/files/{name}", self._file)
        self._runner, self.url = await serve(app, self.host)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _base64(self, request: web.Request) -> web.Response:
        self.calls.append(f"base64 {request.match_info['instance']}")
        if request.headers.get("apikey") != API_KEY:
            return web.json_response({"error": "Unauthorized"}, status=401)
        body = await request.json()
        message_id = body["message"]["key"]["id"]
        if message_id not in self.media:
            return web.json_response({"error": "Message not found"}, status=400)
        data, mime = self.media[message_id]
        answer = {"mediaType": "documentMessage", "mimetype": mime, "fileName": "x"}
        return web.json_response(answer | {"base64": base64.b64encode(data).decode()}, status=201)

    async def _file(self, request: web.Request) -> web.Response:
        self.calls.append(f"file {request.match_info['name']}")
        data = self.files.get(request.match_info["name"])
        return web.Response(body=data) if data is not None else web.Response(status=404)


def upsert(
    message_id: str,
    media_type: str,
    media: dict[str, Any],
    *,
    sender: str = "4915112345678@s.whatsapp.net",
    push_name: str = "Alice Martin",
    group: str | None = None,
    from_me: bool = False,
    inline: bytes | None = None,
    media_url: str | None = None,
    apikey: str = API_KEY,
) -> dict[str, Any]:
    """A `messages.upsert` v2 envelope as Evolution API 2.3 posts it."""
    key: dict[str, Any] = {"remoteJid": group or sender, "fromMe": from_me, "id": message_id}
    if group:
        key["participant"] = sender
    message: dict[str, Any] = {media_type: media}
    if inline is not None:
        message["base64"] = base64.b64encode(inline).decode()
    if media_url is not None:
        message["mediaUrl"] = media_url
    data = {
        "key": key,
        "pushName": push_name,
        "status": "DELIVERY_ACK",
        "message": message,
        "messageType": media_type,
        "messageTimestamp": 1_764_000_000,
        "instanceId": "6f1c-instance",
        "source": "android",
    }
    return {
        "event": "messages.upsert",
        "instance": INSTANCE,
        "data": data,
        "destination": "http://syncd/hooks/...",
        "date_time": "2026-12-02T10:00:00.000Z",
        "sender": "15550001111@s.whatsapp.net",
        "server_url": "http://evolution:8080",
        "apikey": apikey,
    }


def jwt(key: str, *, iat: int | None = None, exp: int | None = None, alg: str = "HS256") -> str:
    """The token Evolution API puts in `Authorization: Bearer` for a `jwt_key` header."""
    now = int(time.time())
    issued = now if iat is None else iat
    claims = {"iat": issued, "exp": issued + 600 if exp is None else exp, "app": "evolution"}
    header = {"alg": alg, "typ": "JWT"}
    parts = [_b64url(json.dumps(p).encode()) for p in (header, claims | {"action": "webhook"})]
    signed = ".".join(parts).encode()
    signature = hmac.new(key.encode(), signed, hashlib.sha256).digest()
    return ".".join([*parts, _b64url(signature)])


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
