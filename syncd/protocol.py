"""Wire models of the library API v1 (DESIGN §3), shared by server and daemon, and the name
rules both sides apply. Pure: no I/O."""

from __future__ import annotations

import unicodedata
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from syncd.errors import InvalidName

API_PREFIX = "/v1"
MAX_NAME_BYTES = 255
MAX_WAIT_S = 60
MTIME_HEADER = "X-Syncd-Mtime-Ns"  # upload: the local mtime (ns) the server records and returns
# The batch routes (`/v1/files:batch-read`, `:batch-write`, frames in syncd.frames): at most
# this many files and payload bytes per request.
BATCH_MAX_FILES = 256
BATCH_MAX_BYTES = 16 << 20

FileKind = Literal["image", "audio", "video", "document"]
FolderKind = Literal["participant", "custom"]
FileSource = Literal["incoming", "upload"]


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Quota(_Wire):
    used_bytes: int
    limit_bytes: int
    max_file_bytes: int


class User(_Wire):
    id: str
    name: str


class Account(_Wire):
    user: User
    library_id: str
    quota: Quota
    counts: dict[str, int]  # {"files": n, "folders": n}
    by_kind: dict[str, int]  # bytes per FileKind


class Participant(_Wire):
    id: str
    phone: str | None
    display_name: str | None


class Folder(_Wire):
    id: str
    name: str
    kind: FolderKind
    participant: Participant | None
    file_count: int
    bytes: int
    rev: int


class File(_Wire):
    id: str
    folder_id: str
    name: str
    size: int
    sha256: str  # hex
    mime: str
    kind: FileKind
    source: FileSource
    created_at: str  # RFC 3339 UTC
    modified_at: str  # RFC 3339 UTC
    mtime_ns: int
    rev: int
    # From the message it came in (gateway ingest); None for uploads.
    caption: str | None = None
    original_name: str | None = None


class SearchHit(_Wire):
    """A folder (participant) or a file matching a search; `rank`: lower is better."""

    type: Literal["folder", "file"]
    rank: float
    folder: Folder
    file: File | None = None


class SearchPage(_Wire):
    query: str
    hits: list[SearchHit]
    next_offset: int | None


class Change(_Wire):
    seq: int
    type: Literal["folder", "file"]
    op: Literal["upsert", "delete"]
    id: str
    object: Folder | File | None = None


class ChangesPage(_Wire):
    cursor: int
    more: bool
    changes: list[Change]
    # The feed's epoch: changes when the server starts. A client sends it back with its
    # cursor; a cursor from another epoch that lies beyond what the server held when it
    # started means the library went back in time (restored from a backup): 410, rewound.
    epoch: str | None = None
    # Pages of a full read (cursor 0 asked with `snapshot`): the feed head the read started
    # at; sent back with the next cursor, it lets the read go on below the compaction floor
    # when no delete after that head was forgotten, so every page stays within `limit`.
    snapshot: int | None = None


class FilesPage(_Wire):
    files: list[File]
    next_after: str | None


def normalize_name(raw: str) -> str:
    """NFC-normalise a file or folder name, or raise InvalidName saying why."""
    name = unicodedata.normalize("NFC", raw)
    reason = name_problem(name)
    if reason is not None:
        raise InvalidName(f"name {raw!r} is not allowed: {reason}", name=raw)
    return name


def name_problem(name: str) -> str | None:
    """The reason a (normalised) name is refused, or None when it is fine."""
    if name in ("", ".", ".."):
        return "empty, '.' and '..' are not names"
    if "/" in name:
        return "contains a path separator"
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in name):
        return "contains NUL or a control character"
    if len(name.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
        return f"longer than {MAX_NAME_BYTES} UTF-8 bytes"
    if any(0xD800 <= ord(ch) <= 0xDFFF for ch in name):
        return "is not valid UTF-8"
    return None


def name_key(name: str) -> str:
    """Key under which names are unique per folder: NFC, case-folded."""
    return unicodedata.normalize("NFC", name).casefold()


def etag_for_rev(rev: int) -> str:
    return f'"{rev}"'


def rev_from_etag(value: str) -> int | None:
    value = value.strip()
    if value.startswith("W/"):
        value = value[2:]
    value = value.strip('"')
    return int(value) if value.isdigit() else None


class TrashItem(_Wire):
    """A deleted file kept in the server's per-user trash until `expires_at`."""

    id: str
    file_id: str
    folder_id: str
    folder_name: str
    name: str
    size: int
    sha256: str
    mime: str
    kind: FileKind
    deleted_at: str  # RFC 3339 UTC
    expires_at: str  # RFC 3339 UTC


class ShareLink(_Wire):
    """Answer of `POST /v1/files/{id}/links`: a signed URL served without auth."""

    url: str
    expires_at: str
    file_id: str


class BatchRead(_Wire):
    """Body of `POST /v1/files:batch-read`."""

    ids: list[str] = Field(min_length=1, max_length=BATCH_MAX_FILES)


class BatchReadHeader(_Wire):
    """Header of one file's frame in a batch-read answer: status 200 with the file's `size`
    bytes after it, or an error status with `error` (`{"code", "message", ...}`) and none."""

    id: str
    status: int
    size: int = 0
    sha256: str | None = None
    rev: int | None = None
    error: dict[str, Any] | None = None


class BatchWriteHeader(BaseModel):
    """Header of one file's frame in a batch-write body: the fields of a single upload's PUT
    (folder, name, Repr-Digest as sha256 hex, mtime, If-Match rev / If-None-Match)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    folder_id: str
    name: str
    size: int = Field(0, ge=0)
    sha256: str = Field(pattern="^[0-9a-f]{64}$")
    mtime_ns: int | None = Field(None, ge=-(2**63), le=2**63 - 1)
    if_match: int | None = Field(None, ge=0)
    if_none_match: bool = False


class BatchWriteResult(_Wire):
    """One file of a batch-write: its index in the stream, status 201/200 with the stored
    `file`, or an error status with `error`."""

    index: int
    name: str
    status: int
    file: File | None = None
    error: dict[str, Any] | None = None


class BatchWriteAnswer(_Wire):
    results: list[BatchWriteResult]
