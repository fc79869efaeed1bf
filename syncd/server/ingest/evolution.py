"""Evolution API (Baileys) webhooks: authentication (the body's `apikey`, and with a JWT key
an HS256 `Authorization: Bearer` token), and reading `messages.upsert` / `messages.delete`
(v2 envelope) into media jobs; inline `data.message.base64` media is returned beside them."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass, field
from typing import Any

from syncd.server.ingest import waha
from syncd.server.ingest.model import MediaJob, Note, Reading, Sender
from syncd.server.ingest.naming import bare_mime, kind_of

JWT_LEEWAY_S = 60  # clock skew allowed between the gateway and us
_MEDIA_TYPES = (
    "imageMessage",
    "videoMessage",
    "ptvMessage",
    "audioMessage",
    "documentMessage",
    "stickerMessage",
)
_SKIPPED_CHATS = ("status@broadcast", "@newsletter")


@dataclass
class EvolutionReading:
    reading: Reading = field(default_factory=Reading)
    inline_b64: dict[str, str] = field(default_factory=dict)  # message id -> base64 media
    instance: str | None = None


def auth_problem(
    body: dict[str, Any], api_key: str, jwt_key: str | None, authorization: str | None, now_s: int
) -> str | None:
    """Why this delivery is not from the hook's gateway, or None when it is."""
    given = body.get("apikey")
    if not isinstance(given, str) or not hmac.compare_digest(given.encode(), api_key.encode()):
        return "the body's apikey is missing or does not match the hook's --api-key"
    if jwt_key is None:
        return None
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        return "Authorization: Bearer <JWT> is missing (the hook has a --jwt-key)"
    return jwt_problem(token.strip(), jwt_key, now_s)


def jwt_problem(token: str, key: str, now_s: int) -> str | None:
    """An HS256 JWT signed with `key`, `exp` in the future and `iat` not in the future."""
    parts = token.split(".")
    if len(parts) != 3:
        return "the JWT is malformed"
    try:
        header, claims = (json.loads(_b64url(p)) for p in parts[:2])
        signature = _b64url(parts[2])
    except (ValueError, binascii.Error):
        return "the JWT is malformed"
    if not isinstance(header, dict) or header.get("alg") != "HS256":
        return "the JWT is not signed with HS256"
    signed = f"{parts[0]}.{parts[1]}".encode("ascii")
    expected = hmac.new(key.encode("utf-8"), signed, hashlib.sha256).digest()
    if not hmac.compare_digest(expected, signature):
        return "the JWT signature does not match the hook's --jwt-key"
    if not isinstance(claims, dict):
        return "the JWT claims are not an object"
    exp, iat = claims.get("exp"), claims.get("iat")
    if not isinstance(exp, int | float) or exp + JWT_LEEWAY_S <= now_s:
        return "the JWT has expired (or has no exp)"
    if isinstance(iat, int | float) and iat - JWT_LEEWAY_S > now_s:
        return "the JWT was issued in the future"
    return None


def decode_media(text: str) -> bytes:
    """Evolution's base64 media (plain, or a `data:<mime>;base64,` URL); ValueError if bad."""
    if text.startswith("data:"):
        text = text.partition(",")[2]
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error as exc:
        raise ValueError("not valid base64") from exc


def _b64url(part: str) -> bytes:
    if not part.isascii():
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def read(body: dict[str, Any]) -> EvolutionReading:
    out = EvolutionReading()
    instance = body.get("instance")
    out.instance = instance if isinstance(instance, str) and instance else None
    event = str(body.get("event") or "").lower().replace("_", ".")
    data = body.get("data")
    if event == "messages.upsert":
        for message in data if isinstance(data, list) else [data]:
            if isinstance(message, dict):
                _read_message(message, out)
    elif event == "messages.delete" and isinstance(data, dict):
        raw = _obj(data, "key").get("id") or data.get("id")
        if isinstance(raw, str) and raw:
            out.reading.revoked_raw_ids.append(raw)
    else:
        out.reading.ignored.append(f"event {body.get('event')!r}")
    return out


def _read_message(data: dict[str, Any], out: EvolutionReading) -> None:
    key = _obj(data, "key")
    chat = str(key.get("remoteJid") or "")
    message_id = key.get("id")
    if key.get("fromMe"):
        out.reading.ignored.append("fromMe")
        return
    if any(chat.endswith(s) or chat == s for s in _SKIPPED_CHATS):
        out.reading.ignored.append(f"chat {chat}")
        return
    message = _obj(data, "message")
    media_type, media = _media_of(message)
    if media is None:
        out.reading.ignored.append("no media")
        return
    if not isinstance(message_id, str) or not message_id:
        out.reading.notes.append(Note("refused", None, "the message has no key.id"))
        return
    # WAHA's NOWEB engine carries the same Baileys key: one reading of senders and LIDs.
    sender = waha.sender_of({"from": chat, "participant": key.get("participant"), "_data": data})
    job = _job(data, media_type, media, message_id, sender, out.instance)
    inline = message.get("base64")
    if isinstance(inline, str) and inline:
        out.inline_b64[message_id] = inline
    elif job.url is None and out.instance is None:
        out.reading.notes.append(
            Note("not_downloaded", message_id, "no base64, mediaUrl or instance to fetch it from")
        )
        return
    out.reading.jobs.append(job)


def _media_of(message: dict[str, Any]) -> tuple[str, dict[str, Any] | None]:
    wrapped = _obj(_obj(message, "documentWithCaptionMessage"), "message")
    for source in (message, wrapped):
        for media_type in _MEDIA_TYPES:
            media = source.get(media_type)
            if isinstance(media, dict):
                return media_type, media
    return "", None


def _job(
    data: dict[str, Any],
    media_type: str,
    media: dict[str, Any],
    message_id: str,
    sender: Sender,
    instance: str | None,
) -> MediaJob:
    mime = str(media.get("mimetype") or "application/octet-stream")
    voice = media_type == "audioMessage" and (
        media.get("ptt") is True or (bare_mime(mime) == "audio/ogg" and media.get("ptt") is None)
    )
    sticker = media_type == "stickerMessage"
    filename = media.get("fileName") or media.get("title")
    caption = media.get("caption")
    stamp = data.get("messageTimestamp")
    url = _obj(data, "message").get("mediaUrl")
    return MediaJob(
        provider="evolution",
        message_id=message_id,
        raw_id=message_id,
        sender=sender,
        kind=kind_of(mime, voice=voice, sticker=sticker),
        mime=mime,
        filename=filename if isinstance(filename, str) and filename else None,
        timestamp_s=int(stamp)
        if isinstance(stamp, int | float | str) and str(stamp).isdigit()
        else 0,
        caption=caption if isinstance(caption, str) and caption else None,
        url=url if isinstance(url, str) and url else None,
        instance=instance,
    )


def _obj(parent: dict[str, Any], key: str) -> dict[str, Any]:
    value = parent.get(key)
    return value if isinstance(value, dict) else {}
