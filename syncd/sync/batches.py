"""Small files many per request: downloads grouped into batch-read requests and uploads into
batch-write requests (syncd.frames). Each file keeps its own checks and outcome; a group of one
takes the single-file routes (Range resume, Expect-less PUT)."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Literal, Protocol, TypeVar

from syncd.errors import FileChangedError, StaleError, TransportError, api_error_from_body
from syncd.frames import END_FRAME, encode_frame
from syncd.log import get_logger
from syncd.protocol import BATCH_MAX_BYTES, BATCH_MAX_FILES, BatchWriteHeader, File
from syncd.sync import model as m
from syncd.sync.batchread import FrameSink, Outcome
from syncd.sync.client import ApiClient
from syncd.sync.transfer import Fetched, fetch_file

log = get_logger("syncd.batches")

# Up to the route's bounds: the server's per-request cost (its SQL lookup of the ids, the
# answer's set-up) is paid once per group, so 256 files per request cost it ~40% less CPU
# than 64 on the `many` corpus. Groups are cut smaller when few files are left
# queued, so that the last ones still spread over every transfer slot.
MAX_GROUP_FILES = BATCH_MAX_FILES
MAX_GROUP_BYTES = BATCH_MAX_BYTES
MIN_GROUP_FILES = 16
SPREAD = 4  # the executor's transfer slots
R = TypeVar("R")


class Reporter(Protocol):
    """Where transfers show (the daemon's status board)."""

    def transfer_started(
        self, path: str, direction: Literal["up", "down"], bytes_total: int
    ) -> None: ...
    def transfer_progress(self, path: str, bytes_done: int) -> None: ...
    def transfer_finished(self, path: str) -> None: ...


@dataclass(eq=False)
class _Want(Generic[R]):
    """One file waiting for its group; `future` gets its outcome."""

    size: int
    future: asyncio.Future[R] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    taken: bool = False


@dataclass(eq=False)
class _Download(_Want[Fetched]):
    remote: m.RemoteFile = field(kw_only=True)
    target: Path = field(kw_only=True)
    replaces: m.LocalFile | None = field(kw_only=True)


@dataclass(eq=False)
class _Upload(_Want[File]):
    local: m.LocalFile = field(kw_only=True)
    source: Path = field(kw_only=True)
    header: BatchWriteHeader = field(kw_only=True)


class _Groups(Generic[R]):
    """Files queue up; whoever gets a transfer slot while its own file is still queued leads
    a group (its file and the next ones, bounded) and runs it holding that one slot; the
    others just wait for their outcome. No task outlives its callers."""

    def __init__(self, slots: asyncio.Semaphore, max_files: int, max_bytes: int) -> None:
        self.slots, self.max_files, self.max_bytes = slots, max_files, max_bytes
        self.queue: deque[_Want[R]] = deque()

    async def run(self, want: _Want[R], transfer: Callable[[list[Any]], Awaitable[None]]) -> R:
        self.queue.append(want)
        await asyncio.sleep(0)  # files planned together queue up before the first group leaves
        if not want.taken:  # else a leader has it: no need to queue for a slot
            async with self.slots:
                if not want.taken:
                    await self._lead(self._take(want), transfer)
        return await want.future

    @staticmethod
    async def _lead(
        group: list[_Want[R]], transfer: Callable[[list[Any]], Awaitable[None]]
    ) -> None:
        try:
            await transfer(group)
        except Exception as exc:  # the request failed: each file reports it
            _settle(group, exc)
        finally:  # cancelled: the others are deferred, not failed
            _settle(group, StaleError("not transferred; retried by the next pass"))

    def _take(self, leader: _Want[R]) -> list[_Want[R]]:
        leader.taken = True
        group, size = [leader], leader.size
        most = min(self.max_files, max(MIN_GROUP_FILES, -(-len(self.queue) // SPREAD)))
        while self.queue and len(group) < most:
            want = self.queue[0]
            if want.taken:
                self.queue.popleft()
                continue
            if size + want.size > self.max_bytes:
                break
            self.queue.popleft()
            want.taken = True
            group.append(want)
            size += want.size
        return group


def _resolve(want: _Want[R], value: R) -> None:
    if not want.future.done():  # done: its waiter was cancelled
        want.future.set_result(value)


def _settle(group: Sequence[_Want[Any]], error: BaseException) -> None:
    """Every file of a group gets an outcome, whatever happened to the request."""
    for want in group:
        if not want.future.done():
            want.future.set_exception(error)
            want.future.exception()  # retrieved: a waiter that was cancelled never reads it


class Batches:
    """The executor's small-file transfers (size <= `max_file_bytes`; 0: none are small)."""

    def __init__(
        self,
        client: ApiClient,
        slots: asyncio.Semaphore,
        reporter: Reporter,
        max_file_bytes: int,
    ) -> None:
        self.client, self.reporter, self.max_file_bytes = client, reporter, max_file_bytes
        self._reads: _Groups[Fetched] = _Groups(slots, MAX_GROUP_FILES, MAX_GROUP_BYTES)
        self._writes: _Groups[File] = _Groups(slots, MAX_GROUP_FILES, MAX_GROUP_BYTES)

    def small(self, size: int) -> bool:
        return self.max_file_bytes > 0 and size <= self.max_file_bytes

    async def fetch(
        self, remote: m.RemoteFile, target: Path, replaces: m.LocalFile | None
    ) -> Fetched:
        """The file complete and verified in its temp file (see transfer.fetch_file)."""
        want = _Download(remote.size, remote=remote, target=target, replaces=replaces)
        return await self._reads.run(want, self._read_group)

    async def upload(
        self, local: m.LocalFile, source: Path, folder_id: str, base_rev: int | None
    ) -> File:
        """The file stored on the server (see ApiClient.upload: digest-checked there)."""
        assert local.sha256 is not None
        header = BatchWriteHeader(
            folder_id=folder_id,
            name=local.path.name,
            size=local.size,
            sha256=local.sha256,
            mtime_ns=local.mtime_ns,
            if_match=base_rev,
            if_none_match=base_rev is None,
        )
        want = _Upload(local.size, local=local, source=source, header=header)
        return await self._writes.run(want, self._write_group)

    # ---- downloads ----------------------------------------------------------------------

    async def _read_group(self, group: list[_Download]) -> None:
        for want in group:
            self.reporter.transfer_started(str(want.remote.path), "down", want.size)
        try:
            if len(group) == 1:
                await self._read_one(group[0])
                return
            sink = FrameSink(group, self._written, asyncio.get_running_loop())
            await self.client.batch_read([w.remote.file_id for w in group], sink)
            sink.finish()
            # A cut answer fails only the files whose frame had not come (run() settles them).
            _settle(group, TransportError("the server's batch answer left this file out"))
        finally:
            for want in group:
                self.reporter.transfer_finished(str(want.remote.path))

    async def _read_one(self, want: _Download) -> None:
        path = str(want.remote.path)
        done = 0

        def tick(n: int) -> None:
            nonlocal done
            done += n
            self.reporter.transfer_progress(path, done)

        fetched = await fetch_file(self.client, want.remote, want.target, want.replaces, tick)
        _resolve(want, fetched)

    def _written(self, outcomes: list[tuple[_Download, Outcome]]) -> None:
        """On the loop: files of a batch read in their temp files, or their own errors."""
        for want, outcome in outcomes:
            if isinstance(outcome, BaseException):
                _settle([want], outcome)
            else:
                self.reporter.transfer_progress(str(want.remote.path), want.size)
                _resolve(want, outcome)

    # ---- uploads ------------------------------------------------------------------------

    async def _write_group(self, group: list[_Upload]) -> None:
        for want in group:
            self.reporter.transfer_started(str(want.local.path), "up", want.size)
        try:
            contents = await asyncio.to_thread(_read_all, group)
            sent = [(w, c) for w, c in zip(group, contents, strict=True) if isinstance(c, bytes)]
            for want, content in zip(group, contents, strict=True):
                if not isinstance(content, bytes):
                    _settle([want], content)
            if len(sent) == 1:
                await self._write_one(sent[0][0])
            elif sent:
                await self._write_many(sent)
        finally:
            for want in group:
                self.reporter.transfer_finished(str(want.local.path))

    async def _write_one(self, want: _Upload) -> None:
        header = want.header
        file = await self.client.upload(
            header.folder_id,
            header.name,
            want.source,
            size=header.size,
            sha256_hex=header.sha256,
            mtime_ns=want.local.mtime_ns,
            base_rev=header.if_match,
        )
        _resolve(want, file)

    async def _write_many(self, sent: list[tuple[_Upload, bytes]]) -> None:
        body = b"".join(
            encode_frame(want.header.model_dump(exclude_none=True), content)
            for want, content in sent
        )
        answer = await self.client.batch_write(body + END_FRAME)
        stored = stored_bytes = 0
        for result in answer.results:
            if not 0 <= result.index < len(sent):
                continue
            want = sent[result.index][0]
            if result.file is not None and result.status in (200, 201):
                _resolve(want, result.file)
                stored, stored_bytes = stored + 1, stored_bytes + want.size
            else:
                _settle([want], api_error_from_body(result.status, {"error": result.error}))
        # One line per group at info; each file's own line is at debug (executor).
        log.info("uploads_stored", files=stored, failed=len(sent) - stored, bytes=stored_bytes)
        _settle(
            [w for w, _c in sent], TransportError("the server's batch answer left this file out")
        )


def _read_all(group: list[_Upload]) -> list[bytes | BaseException]:
    """Worker thread: each file's bytes, exactly its scanned size, or why not."""
    out: list[bytes | BaseException] = []
    for want in group:
        try:
            with want.source.open("rb") as handle:
                content = handle.read(want.size + 1)
        except OSError as exc:
            out.append(exc)
            continue
        if len(content) != want.size:
            out.append(FileChangedError(f"{want.source} changed size since it was scanned"))
        else:
            out.append(content)
    return out
