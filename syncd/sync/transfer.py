"""Local file mechanics of transfers: a download lands in a temp file in the same folder, is
hashed while written and verified, gets the remote mtime, and (once durable, landing.py) is
placed, never over a file that appeared; a cut download resumes from its temp file. Also the
re-check helpers used before destroying."""

from __future__ import annotations

import asyncio
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from syncd.errors import StaleError
from syncd.sync.client import ApiClient, Progress
from syncd.sync.ignore import TEMP_PREFIX
from syncd.sync.model import LocalFile, RemoteFile, RootTraits
from syncd.sync.rootfs import place_new, start_writeback
from syncd.sync.tempwrite import TempWriter, open_temp

__all__ = [
    "TEMP_PREFIX",
    "Fetched",
    "StaleError",
    "fetch_file",
    "matches",
    "place",
    "require_unchanged",
    "sweep_temps",
]


def temp_path_for(target: Path, file_id: str) -> Path:
    return target.parent / f"{TEMP_PREFIX}{file_id}.part"


def matches(path: Path, expected: LocalFile, traits: RootTraits) -> bool:
    """True when `path` is still the very file the plan saw (size, mtime, inode, as far as the
    root can tell them apart)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    return traits.same_stat(
        (st.st_size, st.st_mtime_ns, st.st_ino),
        (expected.size, expected.mtime_ns, expected.inode),
    )


def require_unchanged(path: Path, expected: LocalFile, traits: RootTraits) -> None:
    if not matches(path, expected, traits):
        raise StaleError(f"{path} changed since it was scanned")


@dataclass(frozen=True)
class Fetched:
    """A download whose content sits complete and verified in `temp`, not yet durable or placed
    (landing.py makes a batch of them durable and places them)."""

    remote: RemoteFile
    temp: Path
    target: Path
    replaces: LocalFile | None


async def fetch_file(
    client: ApiClient,
    remote: RemoteFile,
    target: Path,
    replaces: LocalFile | None,
    progress: Progress | None = None,
) -> Fetched:
    """Download `remote` into its temp file beside `target`, verify size and digest, and give it
    the remote mtime. On any failure the target is untouched; the temp file stays only to
    resume a cut transfer."""
    temp = temp_path_for(target, remote.file_id)
    # Off the loop: a stat or create in a folder waits while a landing batch places files there.
    digest, offset, writer = await asyncio.to_thread(open_temp, temp, remote.size)
    if writer is not None:
        await _stream(client, remote, target, writer, temp, offset, progress)
    await asyncio.to_thread(_verify, temp, target, remote, digest.hexdigest())
    return Fetched(remote, temp, target, replaces)


async def _stream(
    client: ApiClient,
    remote: RemoteFile,
    target: Path,
    writer: TempWriter,
    temp: Path,
    offset: int,
    progress: Progress | None,
) -> None:
    try:
        _status, resumed = await client.download_to(
            remote.file_id, writer, offset=offset, etag=f'"{remote.sha256}"', progress=progress
        )  # the data is made durable later, for a whole batch (landing.py)
        if offset and not resumed:
            # Server sent the whole body (or 416): start again from scratch next time.
            writer.close()
            temp.unlink(missing_ok=True)
            raise StaleError(f"resume of {target.name} refused; restarting")
    except asyncio.CancelledError:
        # Shutdown aborts cleanly (the receiving thread has stopped); only a crash (kill -9)
        # leaves a temp file to resume.
        writer.close()
        temp.unlink(missing_ok=True)
        raise
    except OSError:
        # A local write failed (disk full...): drop the partial temp file, which would only
        # keep the disk full and fail every resume the same way. A cut connection
        # (TransportError) keeps it: the resume starts after what arrived.
        writer.close()
        temp.unlink(missing_ok=True)
        raise
    finally:
        writer.close()


def _verify(temp: Path, target: Path, remote: RemoteFile, sha256_hex: str) -> None:
    fd = os.open(temp, os.O_RDONLY | os.O_CLOEXEC)
    try:
        size = os.fstat(fd).st_size
        if sha256_hex == remote.sha256 and size == remote.size:
            os.utime(fd, ns=(remote.mtime_ns, remote.mtime_ns))
            start_writeback(fd)  # on disk, mostly, by the time its batch is made durable
            return
    finally:
        os.close(fd)
    temp.unlink(missing_ok=True)
    raise StaleError(f"{target.name}: content does not match the server's digest")


def check_content(remote: RemoteFile, target: Path, content: bytes) -> None:
    """A small file's whole content (from a batch read) is the server's: StaleError if not."""
    if len(content) != remote.size or hashlib.sha256(content).hexdigest() != remote.sha256:
        raise StaleError(f"{target.name}: content does not match the server's digest")


def write_checked(
    remote: RemoteFile, target: Path, replaces: LocalFile | None, content: bytes
) -> Fetched:
    """Worker thread: a small file's whole content, which `check_content` passed, into its
    temp file with the remote mtime; like `fetch_file`'s result. No writeback hint per file:
    landing's syncfs writes a batch's files back together (a sync_file_range per small file
    cost more kernel time than it saved)."""
    temp = temp_path_for(target, remote.file_id)
    try:  # a cut earlier try left a part: start again (O_TRUNC)
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o666)
        try:
            view = memoryview(content)
            while view:
                view = view[os.write(fd, view) :]
            os.utime(fd, ns=(remote.mtime_ns, remote.mtime_ns))
        finally:
            os.close(fd)
    except OSError:
        temp.unlink(missing_ok=True)  # disk full...: no partial temp file to keep it full
        raise
    return Fetched(remote, temp, target, replaces)


def place(item: Fetched, traits: RootTraits) -> os.stat_result:
    """Put a durable, verified temp file at its final name: never over a file the user just
    created, and over the replaced file only if it is still the one the plan saw. The caller
    fsyncs the folder."""
    if item.replaces is None:
        place_new(item.temp, item.target, traits.placement)
    else:
        require_unchanged(item.target, item.replaces, traits)
        os.replace(item.temp, item.target)
    return os.lstat(item.target)


def sweep_temps(root: Path, keep_ids: set[str], folders: set[str] | None = None) -> int:
    """Remove our temp files that no pending download will resume (in `folders` only: the ones
    a pass looked at; None: every folder)."""
    removed = 0
    for folder in root.iterdir() if root.is_dir() else ():
        if not folder.is_dir() or folder.is_symlink():
            continue
        if folders is not None and folder.name not in folders:
            continue
        for entry in os.scandir(folder):
            if entry.name.startswith(TEMP_PREFIX):
                file_id = entry.name[len(TEMP_PREFIX) :].removesuffix(".part")
                if file_id not in keep_ids:
                    Path(entry.path).unlink(missing_ok=True)
                    removed += 1
    return removed
