"""The batch routes' frame stream (syncd.frames, pure): round trip under any chunking, a cut
stream never yields a part of a file nor passes for a complete one, malformed frames refused."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syncd.frames import END_FRAME, MAX_HEADER_BYTES, Frame, FrameDecoder, FrameError, encode_frame

MAX_PAYLOAD = 4096
_files = st.lists(st.tuples(st.text(max_size=20), st.binary(max_size=300)), min_size=0, max_size=8)


def _stream(files: list[tuple[str, bytes]]) -> tuple[bytes, list[Frame]]:
    frames = [Frame({"name": n, "size": len(p)} if p else {"name": n}, p) for n, p in files]
    return b"".join(encode_frame(f.header, f.payload) for f in frames) + END_FRAME, frames


def _decode(data: bytes, cuts: list[int]) -> tuple[FrameDecoder, list[Frame]]:
    decoder, out, last = FrameDecoder(MAX_PAYLOAD), [], 0
    for cut in [*sorted(cuts), len(data)]:
        out += decoder.feed(data[last:cut])
        last = cut
    return decoder, out


@settings(max_examples=200)
@given(_files, st.lists(st.integers(0, 4000), max_size=6))
def test_round_trip_in_any_chunking(files: list[tuple[str, bytes]], cuts: list[int]) -> None:
    data, frames = _stream(files)
    decoder, out = _decode(data, [min(c, len(data)) for c in cuts])
    decoder.finish()
    assert out == frames
    assert decoder.ended


@settings(max_examples=200)
@given(_files, st.data())
def test_cut_stream_yields_only_whole_frames_and_is_refused(
    files: list[tuple[str, bytes]], data: st.DataObject
) -> None:
    stream, frames = _stream(files)
    cut = data.draw(st.integers(0, len(stream) - 1))
    decoder, out = _decode(stream[:cut], [data.draw(st.integers(0, cut))])
    assert out == frames[: len(out)]  # a prefix of whole frames, every payload complete
    with pytest.raises(FrameError, match="no end frame"):
        decoder.finish()


def _raw(header: bytes, payload: bytes = b"") -> bytes:
    return struct.pack(">I", len(header)) + header + payload


@pytest.mark.parametrize(
    ("stream", "reason"),
    [
        (_raw(b"{not json"), "not JSON"),
        (_raw(b"[1, 2]"), "not a JSON object"),
        (_raw(b'{"size": -1}'), "size must be"),
        (_raw(b'{"size": "3"}'), "size must be"),
        (_raw(b'{"size": true}'), "size must be"),
        (_raw(b'{"size": 4097}'), "over 4096"),
        (_raw(b'{"end": true, "size": 2}', b"xx"), "end frame has no payload"),
        (struct.pack(">I", MAX_HEADER_BYTES + 1), "header length"),
        (END_FRAME + b"\x00", "after the end frame"),
        (_raw(b"\xff\xfe"), "not JSON"),
    ],
)
def test_malformed_frames_are_refused(stream: bytes, reason: str) -> None:
    with pytest.raises(FrameError, match=reason):
        FrameDecoder(MAX_PAYLOAD).feed(stream)


def test_data_after_end_in_a_later_feed_is_refused() -> None:
    decoder = FrameDecoder(MAX_PAYLOAD)
    assert decoder.feed(encode_frame({"id": "a"}, b"abc") + END_FRAME) == [
        Frame({"id": "a", "size": 3}, b"abc")
    ]
    with pytest.raises(FrameError, match="after the end"):
        decoder.feed(b"x")


def test_error_names_the_frame() -> None:
    stream = encode_frame({"id": "a"}, b"abc") + _raw(b"nope")
    with pytest.raises(FrameError, match="frame 2"):
        FrameDecoder(MAX_PAYLOAD).feed(stream)
