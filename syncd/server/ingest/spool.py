"""Media that arrived inside a webhook (Evolution API `data.message.base64`): decoded into a
spool file under `<data>/ingest-spool/` before the webhook is answered, so the fetch queue
stores it like any fetched media, then removes the spool file."""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path

from syncd.server.ingest.evolution import EvolutionReading, decode_media
from syncd.server.ingest.hooks import Hook
from syncd.server.ingest.model import MediaJob, Note, Reading
from syncd.server.ingest.naming import cap_kind
from syncd.server.state import ServerState
from syncd.units import human_bytes

SPOOL_DIR = "ingest-spool"


def spool_path(state: ServerState, hook: Hook, message_id: str) -> Path:
    """One file per (hook, message): a redelivery overwrites, never duplicates."""
    digest = hashlib.sha256(f"{hook.id}\0{message_id}".encode()).hexdigest()
    return state.data_dir / SPOOL_DIR / f"{digest}.media"


async def spool_inline(state: ServerState, hook: Hook, evo: EvolutionReading) -> Reading:
    """The reading with each inline job pointing at its spool file; media that is not valid
    base64 or above the hook's cap becomes a `refused` note instead of a job."""
    reading, kept = evo.reading, []
    for job in reading.jobs:
        inline = evo.inline_b64.get(job.message_id)
        if inline is None:
            kept.append(job)
            continue
        path = spool_path(state, hook, job.message_id)
        problem = await asyncio.to_thread(
            _decode_to, inline, path, hook.config.cap_for(cap_kind(job.kind))
        )
        if problem is None:
            kept.append(job.model_copy(update={"inline_path": str(path)}))
        else:
            reading.notes.append(
                Note("refused", job.message_id, problem, job.sender.participant_id)
            )
    reading.jobs = kept
    return reading


def _decode_to(inline: str, path: Path, cap_bytes: int) -> str | None:
    if len(inline) // 4 * 3 > cap_bytes + 64:  # checked before decoding it all
        return f"too_large: inline media above the cap of {human_bytes(cap_bytes)}"
    try:
        data = decode_media(inline)
    except ValueError:
        return "the inline media (data.message.base64) is not valid base64"
    if len(data) > cap_bytes:
        return f"too_large: inline media above the cap of {human_bytes(cap_bytes)}"
    path.parent.mkdir(exist_ok=True)
    temp = path.with_suffix(".part")
    with temp.open("wb") as handle:
        handle.write(data)
        handle.flush()
        # The bytes are durable before the webhook is answered. The directory entry is not
        # fsynced: the job row that points here is not power-loss durable either
        # (synchronous=NORMAL); a row that survives without its file is a recorded
        # fetch_failed, never a silent loss.
        os.fsync(handle.fileno())
    temp.replace(path)
    return None


def discard(job: MediaJob) -> None:
    """Remove a job's spool file (stored, duplicate or finally failed)."""
    if job.inline_path:
        Path(job.inline_path).unlink(missing_ok=True)
