"""Database rows -> wire models (protocol.Folder / protocol.File), and the type rules derived
from a name: MIME type and file kind."""

from __future__ import annotations

import mimetypes
import sqlite3
from typing import cast

from syncd.protocol import File, FileKind, Folder, FolderKind, Participant
from syncd.server.db import Db, rfc3339

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


def file_model(row: sqlite3.Row) -> File:
    return File(
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
    )


def folder_stats(db: Db, user_id: str) -> dict[str, tuple[int, int]]:
    """folder id -> (file_count, bytes) for one user, in one query."""
    rows = db.all(
        "SELECT folder_id, COUNT(*) AS n, COALESCE(SUM(size),0) AS b FROM files"
        " WHERE user_id=? GROUP BY folder_id",
        user_id,
    )
    return {r["folder_id"]: (int(r["n"]), int(r["b"])) for r in rows}


def folder_model(row: sqlite3.Row, stats: dict[str, tuple[int, int]]) -> Folder:
    participant = None
    if row["kind"] == "participant":
        participant = Participant(
            id=row["participant_id"], phone=row["phone"], display_name=row["display_name"]
        )
    count, size = stats.get(row["id"], (0, 0))
    return Folder(
        id=row["id"],
        name=row["name"],
        kind=cast(FolderKind, row["kind"]),
        participant=participant,
        file_count=count,
        bytes=size,
        rev=row["rev"],
    )


def one_folder_model(db: Db, row: sqlite3.Row) -> Folder:
    stat = db.one(
        "SELECT COUNT(*) AS n, COALESCE(SUM(size),0) AS b FROM files WHERE folder_id=?",
        row["id"],
    )
    assert stat is not None
    return folder_model(row, {row["id"]: (int(stat["n"]), int(stat["b"]))})
