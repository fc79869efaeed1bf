"""A small WAHA-compatible gateway for demos and tests: serves media files under
`/api/files/<session>/<name>` behind `X-Api-Key` on 127.0.0.1, and posts HMAC-signed `message`
webhooks for them, shaped like WAHA's (compact JSON, `X-Webhook-Hmac` SHA-512 hex).

    gw = SampleGateway(media_dir); await gw.start()
    await gw.deliver(hook_url, hmac_key, "+4915112345678", "Alice", path, "image/jpeg", "3EB0A1")
    await gw.stop()
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from syncd.server.ingest.naming import extension_for

Fault = int | str  # an HTTP status to answer instead, or "stall" (never answer)


class SampleGateway:
    """`faults[name]` is a list of answers consumed one per request before the file is
    served (tests: 404 twice, then the bytes); `fetches[name]` counts requests."""

    def __init__(
        self,
        media_dir: Path,
        *,
        api_key: str | None = None,
        session: str = "default",
        me_phone: str = "15550001111",
    ) -> None:
        self.media_dir = media_dir
        self.api_key = api_key or secrets.token_urlsafe(16)
        self.session = session
        self.me_phone = me_phone
        self.faults: dict[str, list[Fault]] = {}
        self.fetches: Counter[str] = Counter()
        self._files: dict[str, Path] = {}
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/api/files/{session}/{name}", self._serve)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def add_file(self, path: Path, name: str) -> str:
        """Serve `path` as `name`; returns its media URL (as WAHA puts in `media.url`)."""
        self._files[name] = path
        return f"{self.url}/api/files/{self.session}/{name}"

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("X-Api-Key") != self.api_key:
            return web.json_response({"message": "Unauthorized", "statusCode": 401}, status=401)
        name = request.match_info["name"]
        self.fetches[name] += 1
        pending = self.faults.get(name)
        if pending:
            fault = pending.pop(0)
            if fault == "stall":
                await asyncio.sleep(3600)
            return web.json_response({"message": "fault"}, status=int(fault))
        path = self._files.get(name) or self.media_dir / name
        if request.match_info["session"] != self.session or not path.is_file():
            return web.json_response({"message": "Not Found", "statusCode": 404}, status=404)
        return web.FileResponse(path)

    async def deliver(
        self,
        hook_url: str,
        hmac_key: str | None,
        sender_phone: str,
        sender_name: str | None,
        path: Path,
        mime: str,
        message_id: str,
        *,
        group_id: str | None = None,
        filename: str | None = None,
        caption: str = "",
    ) -> tuple[int, Any]:
        """Serve `path` and post a signed WAHA `message` webhook about it. Returns the
        hook's (status, JSON answer)."""
        media_name = f"{message_id}.{extension_for(mime)}"
        url = self.add_file(path, media_name)
        event = message_event(
            media={"url": url, "mimetype": mime, "filename": filename, "error": None},
            sender=f"{sender_phone.lstrip('+')}@c.us",
            sender_name=sender_name,
            message_id=message_id,
            group_id=group_id,
            me_phone=self.me_phone,
            session=self.session,
            body=caption,
        )
        return await post_webhook(hook_url, event, hmac_key)


def message_event(
    *,
    media: dict[str, Any] | None,
    sender: str,
    sender_name: str | None,
    message_id: str,
    group_id: str | None = None,
    me_phone: str = "15550001111",
    session: str = "default",
    from_me: bool = False,
    event: str = "message",
    timestamp_s: int | None = None,
    body: str = "",
) -> dict[str, Any]:
    """A WAHA (NOWEB engine) `message` event. `sender` is a WhatsApp id (`<digits>@c.us` or
    `<id>@lid`); with `group_id` the message is posted in that group by `sender`."""
    chat = group_id or sender
    full_id = (
        message_id
        if message_id.startswith(("true_", "false_"))
        else (
            f"{'true' if from_me else 'false'}_{chat}_{message_id}"
            + (f"_{sender}" if group_id else "")
        )
    )
    key: dict[str, Any] = {"remoteJid": chat, "fromMe": from_me, "id": message_id}
    if group_id:
        key["participant"] = sender
    payload: dict[str, Any] = {
        "id": full_id,
        "timestamp": timestamp_s or int(time.time()),
        "from": chat,
        "fromMe": from_me,
        "source": "app",
        "to": f"{me_phone}@c.us",
        "body": body,
        "hasMedia": media is not None,
        "media": media,
        "ack": 2,
        "ackName": "DEVICE",
        "_data": {"key": key, "pushName": sender_name, "messageTimestamp": timestamp_s},
    }
    if group_id:
        payload["participant"] = sender
    return envelope(event, payload, me_phone=me_phone, session=session)


def envelope(
    event: str, payload: dict[str, Any], *, me_phone: str = "15550001111", session: str = "default"
) -> dict[str, Any]:
    return {
        "id": "evt_" + secrets.token_hex(13),
        "timestamp": int(time.time() * 1000),
        "event": event,
        "session": session,
        "metadata": {},
        "me": {"id": f"{me_phone}@c.us", "pushName": "Shop"},
        "payload": payload,
        "engine": "NOWEB",
        "environment": {"version": "2026.7.1", "engine": "NOWEB", "tier": "CORE"},
    }


def sign(body: bytes, hmac_key: str) -> str:
    return hmac.new(hmac_key.encode("utf-8"), body, hashlib.sha512).hexdigest()


async def post_webhook(
    hook_url: str, event: dict[str, Any], hmac_key: str | None, *, signature: str | None = None
) -> tuple[int, Any]:
    """POST the event as compact JSON (what WAHA signs), with `X-Webhook-Hmac` when a key
    is given (or `signature` verbatim, for tests of wrong signatures)."""
    body = json.dumps(event, separators=(",", ":")).encode("utf-8")
    headers = {
        "Content-Type": "application/json",
        "X-Webhook-Request-Id": secrets.token_hex(8),
        "X-Webhook-Timestamp": str(int(time.time() * 1000)),
    }
    if signature is not None or hmac_key:
        headers["X-Webhook-Hmac"] = (
            signature if signature is not None else sign(body, hmac_key or "")
        )
        headers["X-Webhook-Hmac-Algorithm"] = "sha512"
    async with (
        aiohttp.ClientSession() as client,
        client.post(hook_url, data=body, headers=headers) as resp,
    ):
        answer = await resp.json(content_type=None)
        return resp.status, answer
