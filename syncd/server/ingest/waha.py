"""WAHA webhooks: `X-Webhook-Hmac` (HMAC-SHA512 of the raw body, hex) verification, reading
`message` / `message.any` / `message.revoked` events into media jobs, and the SSRF rule that
media is fetched only from under the hook's gateway URL."""

from __future__ import annotations

import hashlib
import hmac
import posixpath
from typing import Any

from yarl import URL

from syncd.server.ingest.model import MediaJob, Note, Reading, Sender
from syncd.server.ingest.naming import bare_mime, kind_of, phone_from_digits

_DEFAULT_PORTS = {"http": 80, "https": 443}
_SKIPPED_CHATS = ("status@broadcast", "@newsletter")


def signature_ok(hmac_key: str, body: bytes, header: str | None) -> bool:
    if not header:
        return False
    expected = hmac.new(hmac_key.encode("utf-8"), body, hashlib.sha512).hexdigest()
    return hmac.compare_digest(expected, header.strip().lower())


def url_under_gateway(media_url: str, gateway_url: str) -> bool:
    """Same scheme, host and port as the gateway, and a path under the gateway's path, after
    resolving `..`; no credentials. Anything else is refused (no SSRF through `media.url`)."""
    try:
        media, base = URL(media_url), URL(gateway_url)
    except (ValueError, TypeError):
        return False
    if not media.is_absolute() or media.user or media.password:
        return False
    if (media.scheme.lower(), (media.host or "").lower()) != (
        base.scheme.lower(),
        (base.host or "").lower(),
    ):
        return False
    if _port(media) != _port(base):
        return False
    raw_path = media.raw_path
    if "%2e" in raw_path.lower() or "%2f" in raw_path.lower() or "\\" in media.path:
        return False
    path = posixpath.normpath(media.path or "/")
    prefix = posixpath.normpath(base.path or "/").rstrip("/") + "/"
    return (path.rstrip("/") + "/").startswith(prefix)


def _port(url: URL) -> int | None:
    return url.explicit_port or _DEFAULT_PORTS.get(url.scheme.lower())


def read(body: dict[str, Any], gateway_url: str) -> Reading:
    reading = Reading()
    event = body.get("event")
    payload = body.get("payload")
    if not isinstance(payload, dict):
        reading.ignored.append("no payload")
        return reading
    if event in ("message", "message.any"):
        _read_message(payload, gateway_url, reading)
    elif event == "message.revoked":
        raw = payload.get("revokedMessageId")
        if isinstance(raw, str) and raw:
            reading.revoked_raw_ids.append(raw)
    else:
        reading.ignored.append(f"event {event!r}")
    return reading


def _read_message(payload: dict[str, Any], gateway_url: str, reading: Reading) -> None:
    chat = str(payload.get("from") or "")
    if payload.get("fromMe"):
        reading.ignored.append("fromMe")
        return
    if not payload.get("hasMedia"):
        reading.ignored.append("no media")
        return
    if any(chat.endswith(s) or chat == s for s in _SKIPPED_CHATS):
        reading.ignored.append(f"chat {chat}")
        return
    message_id = str(payload.get("id") or "")
    media = payload.get("media") if isinstance(payload.get("media"), dict) else None
    sender = sender_of(payload)
    url = media.get("url") if media else None
    if not message_id:
        message_id = str(url or "")
    if media is not None and media.get("error"):
        reading.notes.append(
            Note(
                "not_downloaded",
                message_id,
                "the gateway failed to download the media",
                sender.participant_id,
            )
        )
        return
    if not isinstance(url, str) or not url:
        reading.notes.append(
            Note(
                "not_downloaded",
                message_id,
                "the gateway did not download the media (media.url is null)",
                sender.participant_id,
            )
        )
        return
    if not url_under_gateway(url, gateway_url):
        reading.notes.append(
            Note(
                "refused",
                message_id,
                "media URL is outside the hook's gateway URL",
                sender.participant_id,
            )
        )
        return
    reading.jobs.append(_job(payload, media or {}, message_id, sender, url))


def _job(
    payload: dict[str, Any], media: dict[str, Any], message_id: str, sender: Sender, url: str
) -> MediaJob:
    mime = str(media.get("mimetype") or "application/octet-stream")
    data = _obj(payload, "_data")
    voice = _is_voice(mime, data)
    sticker = _is_sticker(data) or bare_mime(mime) == "image/webp"
    timestamp = payload.get("timestamp")
    caption = payload.get("body")
    return MediaJob(
        provider="waha",
        message_id=message_id,
        raw_id=raw_message_id(message_id),
        sender=sender,
        kind=kind_of(mime, voice=voice, sticker=sticker),
        mime=mime,
        filename=media.get("filename") if isinstance(media.get("filename"), str) else None,
        timestamp_s=int(timestamp) if isinstance(timestamp, int | float) else 0,
        caption=caption if isinstance(caption, str) and caption else None,
        url=url,
    )


def raw_message_id(message_id: str) -> str:
    """`false_<chat>_<raw>[_<participant>]` -> `<raw>` (what `revokedMessageId` holds)."""
    parts = message_id.split("_")
    return parts[2] if len(parts) >= 3 and parts[0] in ("true", "false") else message_id


def _is_voice(mime: str, data: dict[str, Any]) -> bool:
    message = _obj(data, "message")
    audio = _obj(message, "audioMessage")
    if audio.get("ptt") is True or data.get("type") == "ptt":
        return True
    # WhatsApp records voice notes as Ogg/Opus; other audio arrives as mp3/m4a/aac.
    return bare_mime(mime) == "audio/ogg" and audio.get("ptt") is not False


def _is_sticker(data: dict[str, Any]) -> bool:
    message = _obj(data, "message")
    return data.get("type") == "sticker" or "stickerMessage" in message


def sender_of(payload: dict[str, Any]) -> Sender:
    """In a group the `participant` sent it (`from` is the group). `@lid` ids stay the key
    unless the engine also gave the phone (`_data.key.*Alt` / `senderPn`)."""
    chat = str(payload.get("from") or "")
    who = (
        str(payload.get("participant") or payload.get("author") or "")
        if chat.endswith("@g.us")
        else chat
    )
    who = who or chat
    data = _obj(payload, "_data")
    name = _push_name(data)
    user, _, server = who.partition("@")
    user = user.split(":", 1)[0]  # `<digits>:<device>@s.whatsapp.net`
    if server in ("c.us", "s.whatsapp.net"):
        phone = phone_from_digits(user)
        return Sender(participant_id=phone or who, phone=phone, display_name=name)
    if server == "lid":
        lid = f"{user}@lid"
        phone = _alt_phone(data, group=chat.endswith("@g.us"))
        if phone:
            return Sender(participant_id=phone, phone=phone, display_name=name, lid=lid)
        return Sender(participant_id=lid, display_name=name)
    return Sender(participant_id=who or "unknown", display_name=name)


def _push_name(data: dict[str, Any]) -> str | None:
    info = _obj(data, "Info")
    for value in (data.get("pushName"), data.get("notifyName"), info.get("PushName")):
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def _alt_phone(data: dict[str, Any], *, group: bool) -> str | None:
    key = _obj(data, "key")
    names = ("participantAlt", "participantPn") if group else ("remoteJidAlt", "senderPn")
    for name in names:
        value = key.get(name)
        if isinstance(value, str) and value.endswith(("@s.whatsapp.net", "@c.us")):
            phone = phone_from_digits(value.split("@", 1)[0].split(":", 1)[0])
            if phone:
                return phone
    return None


def unauthorized_note(message: str) -> Note:
    return Note("unauthorized", None, message)


def _obj(parent: dict[str, Any], key: str) -> dict[str, Any]:
    value = parent.get(key)
    return value if isinstance(value, dict) else {}
