"""Pure naming rules of ingest: file names when the gateway gives none (`IMG-YYYYMMDD-HHMMSS.jpg`,
`Voice note YYYY-MM-DD HH.MM.SS.ogg`...), extensions from MIME types, untrusted file names made
safe, participant ids from WhatsApp ids, and whether a folder name is still the automatic one."""

from __future__ import annotations

import mimetypes
import re
import unicodedata
from datetime import datetime
from typing import Literal

from syncd.protocol import name_problem

MediaKind = Literal["image", "voice", "audio", "video", "document", "sticker"]

# WhatsApp's usual types first: mimetypes on minimal systems misses several of them.
_EXTENSIONS = {
    "image/jpeg": "jpg",
    "image/jpg": "jpg",
    "image/png": "png",
    "image/webp": "webp",
    "image/gif": "gif",
    "image/heic": "heic",
    "audio/ogg": "ogg",
    "audio/opus": "opus",
    "audio/mpeg": "mp3",
    "audio/mp4": "m4a",
    "audio/aac": "aac",
    "audio/amr": "amr",
    "audio/wav": "wav",
    "audio/x-wav": "wav",
    "video/mp4": "mp4",
    "video/3gpp": "3gp",
    "video/quicktime": "mov",
    "video/webm": "webm",
    "application/pdf": "pdf",
    "text/plain": "txt",
    "application/zip": "zip",
    "application/msword": "doc",
    "application/vnd.ms-excel": "xls",
    "application/vnd.ms-powerpoint": "ppt",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": "pptx",
}
_PREFIX = {"image": "IMG", "audio": "AUD", "video": "VID", "document": "DOC", "sticker": "STK"}
_DIGITS = re.compile(r"^\d{5,20}$")


def bare_mime(mime: str | None) -> str:
    """`audio/ogg; codecs=opus` -> `audio/ogg` (lower case); empty for None."""
    return (mime or "").split(";", 1)[0].strip().lower()


def extension_for(mime: str | None) -> str:
    bare = bare_mime(mime)
    if bare in _EXTENSIONS:
        return _EXTENSIONS[bare]
    guessed = mimetypes.guess_extension(bare, strict=False) if bare else None
    return guessed.lstrip(".") if guessed else "bin"


def generated_name(kind: MediaKind, mime: str | None, timestamp_s: int) -> str:
    """The name of a media item the gateway sent without one, from the message time (server
    local time, like the names WhatsApp itself gives on a phone)."""
    stamp = datetime.fromtimestamp(timestamp_s)
    ext = extension_for(mime)
    if kind == "voice":
        return f"Voice note {stamp:%Y-%m-%d %H.%M.%S}.{ext}"
    return f"{_PREFIX[kind]}-{stamp:%Y%m%d-%H%M%S}.{ext}"


def safe_filename(raw: str | None, mime: str | None) -> str | None:
    """A sender-chosen document name made safe to store, or None when nothing usable is
    left. Only the last path component is kept; an extension from the MIME type is added
    when the name has none (the library derives a file's type from its name)."""
    if not raw:
        return None
    name = unicodedata.normalize("NFC", raw).replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ord(ch) >= 0x20 and ord(ch) != 0x7F).strip()
    name = name.lstrip(".").strip()
    if not name:
        return None
    if "." not in name and bare_mime(mime):
        name = f"{name}.{extension_for(mime)}"
    while len(name.encode("utf-8")) > 200:  # leave room for ` (2)` and folder suffixes
        stem, dot, ext = name.rpartition(".")
        name = f"{stem[:-1]}.{ext}" if dot and len(ext) < 10 and stem else name[:-1]
    return name if name_problem(name) is None else None


def media_name(kind: MediaKind, mime: str | None, filename: str | None, timestamp_s: int) -> str:
    return safe_filename(filename, mime) or generated_name(kind, mime, timestamp_s)


def kind_of(mime: str | None, *, voice: bool = False, sticker: bool = False) -> MediaKind:
    major = bare_mime(mime).split("/", 1)[0]
    if sticker:
        return "sticker"
    if major == "audio":
        return "voice" if voice else "audio"
    if major in ("image", "video"):
        return "image" if major == "image" else "video"
    return "document"


def cap_kind(kind: MediaKind) -> str:
    """The size-cap bucket of a media kind (voice notes are audio)."""
    return "audio" if kind == "voice" else kind


def phone_from_digits(digits: str) -> str | None:
    """`4915112345678` -> `+4915112345678`; None when it does not look like a number."""
    return f"+{digits}" if _DIGITS.match(digits) else None


def is_auto_name(
    folder_name: str, display_name: str | None, phone: str | None, participant_id: str
) -> bool:
    """True when a participant folder still carries the name ingest gave it (so a new
    display name may rename it); False once the user chose their own name."""
    base = (display_name or phone or participant_id).replace("/", "-").strip() or "Unknown"
    return folder_name == base or (
        folder_name.startswith(f"{base} (") and folder_name.endswith(")")
    )


def clean_display_name(name: str | None) -> str | None:
    """A sender-chosen profile name without control characters or slashes, NFC, bounded."""
    if not name:
        return None
    text = unicodedata.normalize("NFC", name)
    text = "".join(ch for ch in text if ord(ch) >= 0x20 and ord(ch) != 0x7F).replace("/", "-")
    text = " ".join(text.split())[:120].strip(" .")
    return text or None
