"""A batch-read answer taken apart in the thread that receives it (sync/stream.py): frames decoded
as the bytes arrive, each file verified and written to its temp file by its folder's temp writer,
each outcome handed to the event loop, which never touches the bytes."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Generic, Protocol, TypeVar

from syncd.errors import TransportError, api_error_from_body
from syncd.frames import Frame, FrameDecoder, FrameError
from syncd.protocol import BATCH_MAX_BYTES
from syncd.sync import model as m
from syncd.sync.transfer import Fetched, check_content, write_checked

TEMP_WRITERS = 2


class _TempWriters:
    """The threads that write the temp files of batch reads. Files of a folder that is being
    written go to the thread writing it: creates in one folder from several threads queued on
    the folder's lock and spun in the kernel (client sys CPU on `many` 12-14 s -> 4-7 s in A/B
    runs). Any other folder goes to the thread with the fewest bytes queued, so creates,
    hashes and writes of different folders overlap (one thread for every folder was ~85% busy
    on the `small` mirror; a fixed thread per folder left one with 70% of the work)."""

    def __init__(self, count: int) -> None:
        self.threads = [
            ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"syncd-temps{i}")
            for i in range(count)
        ]
        self._queued_bytes = [0] * count
        self._folders: dict[str, tuple[int, int]] = {}  # folder -> (thread, files queued)
        self._lock = threading.Lock()

    def take(self, folder: str, size: int) -> int:
        """The thread that will write this file of `folder`; `done` once it is written."""
        with self._lock:
            index, queued = self._folders.get(folder, (-1, 0))
            if index < 0:
                index = min(range(len(self.threads)), key=self._queued_bytes.__getitem__)
            self._folders[folder] = (index, queued + 1)
            self._queued_bytes[index] += size
            return index

    def done(self, folder: str, size: int) -> None:
        with self._lock:
            index, queued = self._folders[folder]
            self._queued_bytes[index] -= size
            if queued > 1:
                self._folders[folder] = (index, queued - 1)
            else:
                del self._folders[folder]


_WRITERS = _TempWriters(TEMP_WRITERS)


class Wanted(Protocol):
    """A file asked for in a batch read."""

    @property
    def remote(self) -> m.RemoteFile: ...
    @property
    def target(self) -> Path: ...
    @property
    def replaces(self) -> m.LocalFile | None: ...


W = TypeVar("W", bound=Wanted)
Outcome = Fetched | BaseException


class FrameSink(Generic[W]):
    """The stream.Sink of one batch-read answer: its receiving thread calls `write` and `flush`;
    `deliver` gets, on the loop, each written file with its outcome (its temp file, verified,
    or its own error: a neighbour's does not touch it)."""

    def __init__(
        self,
        wanted: Sequence[W],
        deliver: Callable[[list[tuple[W, Outcome]]], None],
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self._by_id: dict[str, list[W]] = {}
        for want in wanted:
            self._by_id.setdefault(want.remote.file_id, []).append(want)
        self._deliver, self._loop = deliver, loop
        self._decoder = FrameDecoder(BATCH_MAX_BYTES)
        self._writes: list[Future[None]] = []

    def write(self, data: memoryview) -> None:
        try:
            frames = self._decoder.feed(data)
        except FrameError as exc:
            self._dispatch(exc.complete)  # whole frames: each file is verified
            raise TransportError(f"batch read: {exc}") from exc
        self._dispatch(frames)

    def flush(self) -> None:
        """Return once every file whose frame came is written and its outcome on its way."""
        wait(self._writes)

    def finish(self) -> None:
        """After the answer: TransportError unless it ended right after its end frame."""
        try:
            self._decoder.finish()
        except FrameError as exc:
            raise TransportError(f"batch read: {exc}") from exc

    def _dispatch(self, frames: list[Frame]) -> None:
        shards: list[list[tuple[W, Frame, Exception | None]]] = [[] for _ in _WRITERS.threads]
        for frame in frames:
            waiting = self._by_id.get(str(frame.header.get("id")))
            if waiting:
                want = waiting.pop(0)
                # Checked here (the receiving threads hash in parallel), written there.
                checked = _check(want, frame)
                index = _WRITERS.take(want.target.parent.name, want.remote.size)
                shards[index].append((want, frame, checked))
        for thread, shard in zip(_WRITERS.threads, shards, strict=True):
            if shard:
                self._writes.append(thread.submit(self._write_shard, shard))

    def _write_shard(self, shard: list[tuple[W, Frame, Exception | None]]) -> None:
        """Temp writer thread. The outcomes are queued for the loop before this returns, so
        they are delivered before the loop learns that the answer was received."""
        outcomes: list[tuple[W, Outcome]] = []
        for want, frame, refused in shard:
            outcomes.append((want, refused or _write(want, frame)))
            _WRITERS.done(want.target.parent.name, want.remote.size)
        self._loop.call_soon_threadsafe(self._deliver, outcomes)


def _check(want: Wanted, frame: Frame) -> Exception | None:
    """Why this file's frame is not its content (its own error; its neighbours go on)."""
    try:
        status = frame.header.get("status")
        if status != 200:
            error = {"error": frame.header.get("error")}
            raise api_error_from_body(status if isinstance(status, int) else 502, error)
        check_content(want.remote, want.target, frame.payload)
    except Exception as exc:
        return exc
    return None


def _write(want: Wanted, frame: Frame) -> Outcome:
    try:
        return write_checked(want.remote, want.target, want.replaces, frame.payload)
    except Exception as exc:  # this file's error (disk full...); its neighbours go on
        return exc
