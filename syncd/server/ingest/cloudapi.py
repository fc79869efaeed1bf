"""Meta WhatsApp Cloud API webhooks: the GET verification handshake, `X-Hub-Signature-256`
(HMAC-SHA256 of the raw body with the app secret) and reading `messages` changes into media
jobs (image, audio, video, document, sticker); status-only changes are ignored."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from yarl import URL

from syncd.server.ingest.model import MediaJob, Reading, Sender
from syncd.server.ingest.naming import kind_of, phone_from_digits

MEDIA_TYPES = ("image", "audio", "video", "document", "sticker")


def signature_ok(app_secret: str, body: bytes, header: str | None) -> bool:
    if not header or not header.strip().lower().startswith("sha256="):
        return False
    expected = hmac.new(app_secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header.strip()[7:].lower())


def verify_challenge(query: dict[str, str], verify_token: str) -> str | None:
    """The `hub.challenge` to echo when mode and token match, else None (-> 403)."""
    mode = query.get("hub.mode") or query.get("hub_mode")
    token = query.get("hub.verify_token") or query.get("hub_verify_token") or ""
    challenge = query.get("hub.challenge") or query.get("hub_challenge")
    if mode != "subscribe" or challenge is None:
        return None
    if not hmac.compare_digest(token.encode("utf-8"), verify_token.encode("utf-8")):
        return None
    return challenge


def host_allowed(url: str, media_hosts: list[str]) -> bool:
    """The URL's host (or host:port) is on the hook's allowlist; http(s) only, no userinfo."""
    try:
        parsed = URL(url)
    except (ValueError, TypeError):
        return False
    if parsed.scheme not in ("http", "https") or not parsed.host or parsed.user:
        return False
    host = parsed.host.lower()
    with_port = f"{host}:{parsed.explicit_port}" if parsed.explicit_port else host
    return host in media_hosts or with_port in media_hosts


def read(body: dict[str, Any]) -> Reading:
    reading = Reading()
    for entry in _dicts(body.get("entry")):
        for change in _dicts(entry.get("changes")):
            value = _obj(change, "value")
            if change.get("field") != "messages" or not isinstance(value, dict):
                reading.ignored.append(f"field {change.get('field')!r}")
                continue
            if value.get("statuses") and not value.get("messages"):
                reading.ignored.append("statuses only")
            _read_value(value, reading)
    return reading


def _read_value(value: dict[str, Any], reading: Reading) -> None:
    contacts = {_contact_key(c): c for c in _dicts(value.get("contacts"))}
    for message in _dicts(value.get("messages")):
        kind = message.get("type")
        media = message.get(kind) if isinstance(kind, str) else None
        if kind not in MEDIA_TYPES or not isinstance(media, dict):
            reading.ignored.append(f"message type {kind!r}")
            continue
        sender = _sender(message, contacts)
        message_id = str(message.get("id") or media.get("id") or "")
        mime = str(media.get("mime_type") or "application/octet-stream")
        caption = media.get("caption")
        reading.jobs.append(
            MediaJob(
                provider="cloudapi",
                message_id=message_id,
                raw_id=message_id,
                sender=sender,
                kind=kind_of(mime, voice=bool(media.get("voice")), sticker=kind == "sticker"),
                mime=mime,
                filename=media.get("filename") if isinstance(media.get("filename"), str) else None,
                timestamp_s=_int(message.get("timestamp")),
                caption=caption if isinstance(caption, str) and caption else None,
                url=media.get("url") if isinstance(media.get("url"), str) else None,
                media_id=str(media.get("id") or "") or None,
                sha256_b64=media.get("sha256") if isinstance(media.get("sha256"), str) else None,
            )
        )


def _sender(message: dict[str, Any], contacts: dict[str, dict[str, Any]]) -> Sender:
    """Filed under the phone (`wa_id` / `from`); a business-scoped `user_id` when the phone
    is withheld. The profile name is the display name."""
    frm = str(message.get("from") or "")
    contact = contacts.get(frm) or (next(iter(contacts.values())) if len(contacts) == 1 else {})
    profile = _obj(contact, "profile")
    name = profile.get("name") if isinstance(profile.get("name"), str) else None
    wa_id = str(contact.get("wa_id") or frm or "")
    phone = phone_from_digits(wa_id) if wa_id else None
    if phone:
        return Sender(participant_id=phone, phone=phone, display_name=name)
    user_id = contact.get("user_id") or message.get("from_user_id")
    if isinstance(user_id, str) and user_id:
        return Sender(participant_id=f"bsuid:{user_id}", display_name=name)
    return Sender(participant_id=wa_id or "unknown", display_name=name)


def _contact_key(contact: dict[str, Any]) -> str:
    return str(contact.get("wa_id") or contact.get("user_id") or "")


def _dicts(value: object) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _int(value: object) -> int:
    try:
        return int(str(value))
    except ValueError:
        return 0


def _obj(parent: dict[str, Any], key: str) -> dict[str, Any]:
    value = parent.get(key)
    return value if isinstance(value, dict) else {}
