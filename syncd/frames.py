"""The frame stream of the batch routes (`/v1/files:batch-read`, `/v1/files:batch-write`),
shared by server and daemon: encoder and a pure incremental decoder. No I/O.

A stream is a sequence of frames, the last one the end frame `{"end": true}`:

    frame  = u32 big-endian header length, header (a UTF-8 JSON object), payload
    payload = exactly header["size"] bytes (no "size": none)

The decoder yields a frame only once its payload is complete, and `finish()` refuses a stream
that stops anywhere but right after its end frame, so a cut stream never yields a part of a
file and never passes for a shorter, complete one.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from typing import Any

MEDIA_TYPE = "application/vnd.syncd.frames"
MAX_HEADER_BYTES = 16 << 10  # a header is a few ids, a name, a digest and numbers
_LENGTH = struct.Struct(">I")


class FrameError(ValueError):
    """The stream is not well-formed (cut, malformed header, payload too big, data after the
    end); the message says which frame and why. `complete`: the frames the failed `feed`
    completed before the error (each still whole)."""

    def __init__(self, reason: str, complete: list[Frame] | None = None) -> None:
        super().__init__(reason)
        self.complete = complete or []


@dataclass(frozen=True)
class Frame:
    header: dict[str, Any]
    payload: bytes = b""


def encode_frame(header: dict[str, Any], payload: bytes = b"") -> bytes:
    """One frame; `header["size"]` is set to the payload's length (left out when empty)."""
    if payload or "size" in header:
        header = {**header, "size": len(payload)}
    raw = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
    if len(raw) > MAX_HEADER_BYTES:
        raise FrameError(f"frame header of {len(raw)} bytes, over {MAX_HEADER_BYTES}")
    return _LENGTH.pack(len(raw)) + raw + payload


END_FRAME = encode_frame({"end": True})


class FrameDecoder:
    """Feed bytes as they arrive; complete frames come out. The end frame is not yielded:
    `ended` says it was seen."""

    def __init__(self, max_payload: int) -> None:
        self.max_payload = max_payload
        self.ended = False
        self.frames = 0  # complete frames so far, for error messages
        self._buf = bytearray()
        self._pos = 0
        self._header: dict[str, Any] | None = None  # of the frame whose payload is awaited

    def feed(self, data: bytes | bytearray | memoryview) -> list[Frame]:
        if data and self.ended:
            raise FrameError("data after the end frame")
        self._buf += data
        out: list[Frame] = []
        try:
            while not self.ended:
                frame = self._next()
                if frame is None:
                    break
                out.append(frame)
        except FrameError as exc:
            exc.complete = out
            raise
        if self._pos > 1 << 20 or self._pos == len(self._buf):  # drop what was consumed
            del self._buf[: self._pos]
            self._pos = 0
        if self.ended and self._pos < len(self._buf):
            raise FrameError("data after the end frame", out)
        return out

    def finish(self) -> None:
        """The stream ended: raise FrameError unless it ended right after its end frame."""
        if not self.ended:
            where = "inside" if self._header is not None or self._pending() else "before"
            raise FrameError(f"stream cut {where} frame {self.frames + 1} (no end frame)")

    def _pending(self) -> int:
        return len(self._buf) - self._pos

    def _next(self) -> Frame | None:
        if self._header is None:
            if self._pending() < _LENGTH.size:
                return None
            (length,) = _LENGTH.unpack_from(self._buf, self._pos)
            if length > MAX_HEADER_BYTES:
                raise self._error(f"header length {length} is over {MAX_HEADER_BYTES}")
            if self._pending() < _LENGTH.size + length:
                return None
            start = self._pos + _LENGTH.size
            self._header = self._parse(bytes(self._buf[start : start + length]))
            self._pos = start + length
            if self._header.get("end") is True:
                self.ended = True
                return None
        size = self._header.get("size", 0)
        if self._pending() < size:
            return None
        with memoryview(self._buf) as view:  # one copy (a slice of the bytearray is another)
            frame = Frame(self._header, bytes(view[self._pos : self._pos + size]))
        self._pos += size
        self._header = None
        self.frames += 1
        return frame

    def _parse(self, raw: bytes) -> dict[str, Any]:
        try:
            header = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise self._error(f"header is not JSON ({exc})") from None
        if not isinstance(header, dict):
            raise self._error("header is not a JSON object")
        size = header.get("size", 0)
        if type(size) is not int or size < 0:
            raise self._error("size must be an integer >= 0")
        if size > self.max_payload:
            raise self._error(f"payload of {size} bytes is over {self.max_payload}")
        if header.get("end") is True and size:
            raise self._error("the end frame has no payload")
        return header

    def _error(self, reason: str) -> FrameError:
        return FrameError(f"frame {self.frames + 1}: {reason}")
