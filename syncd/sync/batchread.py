"""A batch-read answer taken apart in the thread that receives it (sync/stream.py): frames decoded
as the bytes arrive, each file verified and written to its temp file by its folder's temp writer,
each outcome handed to the event loop, which never touches the bytes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Generic, Protocol, TypeVar

from syncd.errors import TransportError, api_error_from_body
from syncd.frames import Frame, FrameDecoder, FrameError
from syncd.protocol import BATCH_MAX_BYTES
from syncd.sync import model as m
from syncd.sync.transfer import Fetched, write_verified

# A folder's temp files are always written by the same thread (chosen by the folder's name):
# creates in one folder from several threads queued on the folder's lock and spun in the kernel
# (client sys CPU on `many` 12-14 s -> 4-7 s in A/B runs), while creates, hashes and writes of
# different folders overlap (one thread for every folder was busy ~85% of the `small` mirror).
TEMP_WRITERS = 2
_TEMP_WRITERS = [
    ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"syncd-temps{i}")
    for i in range(TEMP_WRITERS)
]


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
        shards: list[list[tuple[W, Frame]]] = [[] for _ in _TEMP_WRITERS]
        for frame in frames:
            waiting = self._by_id.get(str(frame.header.get("id")))
            if waiting:
                want = waiting.pop(0)
                shards[hash(want.target.parent.name) % len(shards)].append((want, frame))
        for writer, shard in zip(_TEMP_WRITERS, shards, strict=True):
            if shard:
                self._writes.append(writer.submit(self._write_shard, shard))

    def _write_shard(self, shard: list[tuple[W, Frame]]) -> None:
        """Temp writer thread. The outcomes are queued for the loop before this returns, so
        they are delivered before the loop learns that the answer was received."""
        outcomes = [(want, _write_one(want, frame)) for want, frame in shard]
        self._loop.call_soon_threadsafe(self._deliver, outcomes)


def _write_one(want: Wanted, frame: Frame) -> Outcome:
    try:
        status = frame.header.get("status")
        if status != 200:
            error = {"error": frame.header.get("error")}
            raise api_error_from_body(status if isinstance(status, int) else 502, error)
        return write_verified(want.remote, want.target, want.replaces, frame.payload)
    except Exception as exc:  # this file's error; its neighbours go on
        return exc
