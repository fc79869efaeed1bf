"""One send attempt of a file through a hook's gateway: WAHA (`/api/send{Image,Voice,Video,
File}`), Meta Cloud API (upload to `/{phone-number-id}/media`, then `/messages`) or
Evolution API (`/message/sendMedia/{instance}`). Each gateway's answer is translated once
here into a message id or a `SendFailed` that says whether a retry may help."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp

from syncd.server.ingest.hooks import Hook

MAX_REASON_CHARS = 300


@dataclass(frozen=True)
class Outgoing:
    to_phone: str  # E.164, `+<digits>`
    name: str
    mime: str
    kind: str  # the file's kind: image, audio, video, document
    caption: str | None
    data: bytes

    @property
    def digits(self) -> str:
        return self.to_phone.lstrip("+")

    @property
    def voice(self) -> bool:
        """WhatsApp plays Ogg/Opus audio as a voice note."""
        return self.kind == "audio" and self.mime.split(";")[0].strip() == "audio/ogg"


class SendFailed(Exception):
    def __init__(self, reason: str, *, retry: bool, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason, self.retry, self.status = reason[:MAX_REASON_CHARS], retry, status


async def send(session: aiohttp.ClientSession, hook: Hook, out: Outgoing) -> str | None:
    """Send `out`; returns the gateway's message id (None if it gave none)."""
    try:
        if hook.type == "waha":
            return await _waha(session, hook, out)
        if hook.type == "cloudapi":
            return await _cloudapi(session, hook, out)
        return await _evolution(session, hook, out)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise SendFailed(f"the gateway did not answer: {type(exc).__name__}", retry=True) from exc


def waha_request(hook: Hook, out: Outgoing) -> tuple[str, dict[str, Any]]:
    """(URL, JSON body) of WAHA's send route for the file's kind."""
    route = {"image": "sendImage", "video": "sendVideo"}.get(out.kind, "sendFile")
    route = "sendVoice" if out.voice else route
    body: dict[str, Any] = {
        "session": hook.config.session or "default",
        "chatId": f"{out.digits}@c.us",
        "file": {
            "mimetype": out.mime,
            "filename": out.name,
            "data": base64.b64encode(out.data).decode(),
        },
    }
    if out.caption and not out.voice:
        body["caption"] = out.caption
    return f"{hook.config.gateway_url}/api/{route}", body


async def _waha(session: aiohttp.ClientSession, hook: Hook, out: Outgoing) -> str | None:
    url, body = waha_request(hook, out)
    headers = {"X-Api-Key": hook.config.api_key or ""}
    answer = await _post(session, url, headers, json=body)
    return _first_str(answer, ("id",), ("id", "_serialized"), ("key", "id"))


def cloud_message(out: Outgoing, media_id: str) -> dict[str, Any]:
    kind = out.kind if out.kind in ("image", "video", "audio") else "document"
    media: dict[str, Any] = {"id": media_id}
    if out.caption and kind != "audio":
        media["caption"] = out.caption
    if kind == "document":
        media["filename"] = out.name
    return {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": out.digits,
        "type": kind,
        kind: media,
    }


async def _cloudapi(session: aiohttp.ClientSession, hook: Hook, out: Outgoing) -> str | None:
    config = hook.config
    base = f"{config.graph_url}/{quote(config.phone_number_id or '', safe='')}"
    headers = {"Authorization": f"Bearer {config.access_token}"}
    form = aiohttp.FormData()
    form.add_field("messaging_product", "whatsapp")
    form.add_field("type", out.mime)
    form.add_field("file", out.data, filename=out.name, content_type=out.mime)
    uploaded = await _post(session, f"{base}/media", headers, data=form)
    media_id = _first_str(uploaded, ("id",))
    if media_id is None:
        raise SendFailed("the Graph API gave no media id for the upload", retry=True)
    answer = await _post(session, f"{base}/messages", headers, json=cloud_message(out, media_id))
    messages = answer.get("messages") if isinstance(answer, dict) else None
    first = messages[0] if isinstance(messages, list) and messages else {}
    return _first_str(first, ("id",))


def evolution_request(hook: Hook, out: Outgoing) -> tuple[str, dict[str, Any]]:
    instance = quote(hook.config.instance or "", safe="")
    body: dict[str, Any] = {
        "number": out.digits,
        "mediatype": out.kind if out.kind in ("image", "video", "audio") else "document",
        "mimetype": out.mime,
        "media": base64.b64encode(out.data).decode(),
        "fileName": out.name,
    }
    if out.caption:
        body["caption"] = out.caption
    return f"{hook.config.gateway_url}/message/sendMedia/{instance}", body


async def _evolution(session: aiohttp.ClientSession, hook: Hook, out: Outgoing) -> str | None:
    url, body = evolution_request(hook, out)
    answer = await _post(session, url, {"apikey": hook.config.api_key or ""}, json=body)
    return _first_str(answer, ("key", "id"))


async def _post(
    session: aiohttp.ClientSession, url: str, headers: dict[str, str], **kwargs: Any
) -> Any:
    async with session.post(url, headers=headers, allow_redirects=False, **kwargs) as resp:
        text = await resp.text(errors="replace")
        if 200 <= resp.status < 300:
            try:
                return await resp.json(content_type=None)
            except ValueError:
                return {}
        retry = resp.status in (408, 425, 429) or resp.status >= 500
        raise SendFailed(
            f"the gateway answered {resp.status}: {text.strip()}", retry=retry, status=resp.status
        )


def _first_str(answer: Any, *paths: tuple[str, ...]) -> str | None:
    for path in paths:
        value = answer
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if isinstance(value, str) and value:
            return value
    return None
