"""Thumbnails: WebP previews of images (Pillow) and poster frames of videos (ffmpeg, when
installed), made off the event loop with a timeout, cached by content digest under
`<data>/thumbs/` (a bounded cache: oldest used dropped first). Undecodable sources -> None."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import shutil
import time
from pathlib import Path

from PIL import Image, ImageOps

from syncd.errors import ApiError
from syncd.log import get_logger
from syncd.server.meta import Row
from syncd.server.state import ServerState

THUMB_PX = 320  # longest edge
QUALITY = 72
TIMEOUT_S = 20.0
MAX_IMAGE_BYTES = 64 << 20
MAX_VIDEO_BYTES = 512 << 20
CACHE_MAX_BYTES = 256 << 20  # the whole thumbs/ folder; trimmed to 3/4 of it when over
PARALLEL = 2  # thumbnails made at once (the rest wait): CPU stays for the API
Image.MAX_IMAGE_PIXELS = 64_000_000  # refuse decompression bombs (over 2x this raises)
log = get_logger(__name__)


def cache_dir(state: ServerState) -> Path:
    return state.data_dir / "thumbs"


def _paths(state: ServerState, sha256: str) -> tuple[Path, Path]:
    folder = cache_dir(state) / sha256[:2]
    return folder / f"{sha256}.webp", folder / f"{sha256}.none"


def image_to_webp(source: bytes | Path) -> bytes:
    """A WebP of at most THUMB_PX on its longest edge, EXIF rotation applied."""
    handle = io.BytesIO(source) if isinstance(source, bytes) else source
    with Image.open(handle) as img:
        img.draft("RGB", (THUMB_PX * 2, THUMB_PX * 2))  # JPEG: decode at a smaller scale
        shown = ImageOps.exif_transpose(img)
        shown.thumbnail((THUMB_PX, THUMB_PX))
        if shown.mode not in ("RGB", "RGBA"):
            shown = shown.convert("RGBA" if "A" in shown.getbands() else "RGB")
        out = io.BytesIO()
        shown.save(out, "WEBP", quality=QUALITY)
    return out.getvalue()


async def video_frame(path: Path) -> bytes | None:
    """One frame (PNG) a second in, or the first frame of a shorter video; None without
    ffmpeg or when it fails. Killed at the timeout."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        return None
    for seek in ("1", "0"):
        proc = await asyncio.create_subprocess_exec(
            *(ffmpeg, "-nostdin", "-v", "error", "-ss", seek, "-i", str(path)),
            *("-frames:v", "1", "-f", "image2pipe", "-vcodec", "png", "-"),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        try:
            async with asyncio.timeout(TIMEOUT_S):
                out, _ = await proc.communicate()
        except TimeoutError:
            proc.kill()
            await proc.wait()
            return None
        if proc.returncode == 0 and out:
            return out
    return None


async def _copy_blob(state: ServerState, row: Row, target: Path) -> None:
    async with state.blobs.read(row["sha256"], 0, int(row["size"])) as chunks:
        with target.open("wb") as handle:
            async for chunk in chunks:
                handle.write(chunk)


async def _make(state: ServerState, row: Row, work: Path) -> bytes | None:
    source = work / "source"
    await _copy_blob(state, row, source)
    if row["kind"] == "video":
        frame = await video_frame(source)
        if frame is None:
            return None
        source.write_bytes(frame)
    async with asyncio.timeout(TIMEOUT_S):  # the thread finishes on its own; we stop waiting
        return await asyncio.to_thread(image_to_webp, source)


def _fits(row: Row) -> bool:
    limit = MAX_VIDEO_BYTES if row["kind"] == "video" else MAX_IMAGE_BYTES
    return row["kind"] in ("image", "video") and 0 < int(row["size"]) <= limit


class Thumbnails:
    """The server's thumbnail maker: at most PARALLEL at once, results cached on disk."""

    def __init__(self, state: ServerState) -> None:
        self.state = state
        self.gate = asyncio.Semaphore(PARALLEL)
        for stale in cache_dir(state).glob(".work-*"):  # left by a crash mid-thumbnail
            shutil.rmtree(stale, ignore_errors=True)

    async def get(self, row: Row) -> Path | None:
        """The cached WebP of a files row, made now if needed; None when there is none."""
        done, failed = _paths(self.state, row["sha256"])
        if done.exists():
            with contextlib.suppress(OSError):
                os.utime(done)  # recently used: trimmed last
            return done
        if failed.exists() or not _fits(row):
            return None
        async with self.gate:
            if not done.exists() and not failed.exists():
                await self._make_cached(row, done, failed)
        return done if done.exists() else None

    async def _make_cached(self, row: Row, done: Path, failed: Path) -> None:
        folder = cache_dir(self.state)
        done.parent.mkdir(parents=True, exist_ok=True)
        work = folder / f".work-{os.getpid()}-{row['sha256'][:16]}-{time.time_ns()}"
        work.mkdir()
        try:
            data = await _make(self.state, row, work)
        except ApiError:  # the blob store is unreachable: try again on the next request
            return
        except Exception as exc:  # undecodable, a bomb, a timeout: remember, show an icon
            log.info("thumbnail_failed", file_id=row["id"], error=type(exc).__name__)
            data = None
        finally:
            shutil.rmtree(work, ignore_errors=True)
        if data is None:
            failed.touch()
            return
        temp = done.with_suffix(".tmp")
        temp.write_bytes(data)
        os.replace(temp, done)
        log.info("thumbnail_made", file_id=row["id"], kind=row["kind"], size_bytes=len(data))
        trim(folder, CACHE_MAX_BYTES)


def trim(folder: Path, max_bytes: int) -> int:
    """Drop the least recently used thumbnails until the cache is under 3/4 of `max_bytes`
    (only when it is over `max_bytes`). Returns the number of files removed."""
    entries = [(p.stat().st_mtime, p.stat().st_size, p) for p in folder.glob("*/*.webp")]
    total = sum(size for _, size, _ in entries)
    if total <= max_bytes:
        return 0
    removed = 0
    for _, size, path in sorted(entries):
        if total <= max_bytes * 3 // 4:
            break
        path.unlink(missing_ok=True)
        total -= size
        removed += 1
    return removed
