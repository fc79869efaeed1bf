"""The pure result of reading one webhook: media jobs to fetch, notes to record (refused,
not downloaded...), revocations. Shared by the WAHA and Cloud API readers and the queue."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel

from syncd.server.ingest.naming import MediaKind

Outcome = Literal[
    "stored",
    "duplicate",
    "refused",
    "not_downloaded",
    "fetch_failed",
    "revoked",
    "unauthorized",
    "retrying",
]


class Sender(BaseModel):
    """Who sent a media item. `participant_id` keys the folder: `+<digits>` for a phone,
    `<id>@lid` for a hidden WhatsApp id, `bsuid:<id>` for a Cloud API business-scoped id."""

    participant_id: str
    phone: str | None = None
    display_name: str | None = None
    lid: str | None = None  # set when the phone came from a lid message's alternate id


class MediaJob(BaseModel):
    """One media item to fetch and file; persisted as JSON in `ingest_jobs.job`."""

    provider: Literal["waha", "cloudapi", "evolution"]
    message_id: str  # dedupe key within the hook
    raw_id: str  # the id a revocation refers to
    sender: Sender
    kind: MediaKind
    mime: str
    filename: str | None = None
    timestamp_s: int
    caption: str | None = None
    url: str | None = None
    media_id: str | None = None  # Cloud API media id (re-resolved when the URL expired)
    sha256_b64: str | None = None  # Cloud API webhook digest of the bytes
    instance: str | None = None  # Evolution API instance (to ask the gateway for the media)
    inline_path: str | None = None  # Evolution API media sent inline: spooled, then stored


@dataclass(frozen=True)
class Note:
    """An outcome decided while reading the webhook (nothing to fetch)."""

    outcome: Outcome
    message_id: str | None
    reason: str
    sender: str | None = None


@dataclass
class Reading:
    jobs: list[MediaJob] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    revoked_raw_ids: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)  # why events were skipped (not recorded)
