"""Database rows -> wire models (protocol.Folder / protocol.File), and the type rules derived
from a name: MIME type and file kind."""

from __future__ import annotations

import mimetypes
from typing import cast

from syncd.protocol import File, FileKind, Folder, FolderKind, Participant
from syncd.server.db import rfc3339
from syncd.server.meta import Db, Row

# Types mimetypes misses or gets wrong on minimal systems, and WhatsApp's usual media.
_EXTRA_TYPES = {
    ".opus": "audio/ogg",
    ".ogg": "audio/ogg",
    ".oga": "audio/ogg",
    ".m4a": "audio/mp4",
    ".webp": "image/webp",
    ".heic": "image/heic",
    ".mp4": "video/mp4",
    ".3gp": "video/3gpp",
    ".webm": "video/webm",
}


def mime_for(name: str) -> str:
    lower = name.lower()
    for ext, mime in _EXTRA_TYPES.items():
        if lower.endswith(ext):
            return mime
    guessed, _ = mimetypes.guess_type(name, strict=False)
    return guessed or "application/octet-stream"


def kind_for(mime: str) -> FileKind:
    major = mime.split("/", 1)[0]
    if major in ("image", "audio", "video"):
        return cast(FileKind, major)
    return "document"


def file_model(row: Row) -> File:
    """Built without validation (model_construct): the row is ours, typed and checked by the
    schema, and validating it again was a third of the server's work on a feed page."""
    return File.model_construct(
        id=row["id"],
        folder_id=row["folder_id"],
        name=row["name"],
        size=row["size"],
        sha256=row["sha256"],
        mime=row["mime"],
        kind=row["kind"],
        source=row["source"],
        created_at=rfc3339(row["created_ns"]),
        modified_at=rfc3339(row["mtime_ns"]),
        mtime_ns=row["mtime_ns"],
        rev=row["rev"],
        caption=row["caption"],
        original_name=row["original_name"],
    )


def folder_model(row: Row) -> Folder:
    """A folder row as the API shows it; file_count and bytes are the row's trigger-kept
    counters (schema v4), as of when the row was read."""
    participant = None
    if row["kind"] == "participant":
        participant = Participant(
            id=row["participant_id"], phone=row["phone"], display_name=row["display_name"]
        )
    return Folder(
        id=row["id"],
        name=row["name"],
        kind=cast(FolderKind, row["kind"]),
        participant=participant,
        file_count=row["file_count"],
        bytes=row["bytes"],
        rev=row["rev"],
    )


def one_folder_model(db: Db, row: Row) -> Folder:
    """The folder of `row` with its counters read now (the row may predate a file change)."""
    fresh = db.one("SELECT * FROM folders WHERE id=?", row["id"])
    return folder_model(fresh if fresh is not None else row)
