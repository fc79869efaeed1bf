"""Pure helpers of the server: Range parsing, Content-Disposition, sizes, Repr-Digest,
MIME/kind rules, RFC 3339 times, feed page ordering."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from syncd.errors import BadRequest, RangeNotSatisfiable
from syncd.protocol import Change, File, Folder
from syncd.server.db import rfc3339
from syncd.server.digests import FieldError, Token, expected_digests, parse_dictionary
from syncd.server.feed import _delta_page, _Item
from syncd.server.http import content_disposition, parse_range
from syncd.server.quota import parse_size
from syncd.server.records import kind_for, mime_for
from syncd.units import human_bytes


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        (None, 10, None),
        ("bytes=0-0", 10, (0, 0)),
        ("bytes=2-", 10, (2, 9)),
        ("bytes=-4", 10, (6, 9)),
        ("bytes=-40", 10, (0, 9)),
        ("bytes=5-99", 10, (5, 9)),
        ("bytes=1-2,4-5", 10, None),
        ("items=1-2", 10, None),
        ("bytes=x-y", 10, None),
    ],
)
def test_parse_range(header: str | None, size: int, expected: tuple[int, int] | None) -> None:
    assert parse_range(header, size) == expected


@pytest.mark.parametrize("header", ["bytes=10-", "bytes=4-3", "bytes=-0", "bytes=0-"])
def test_unsatisfiable_ranges(header: str) -> None:
    size = 0 if header == "bytes=0-" else 10
    with pytest.raises(RangeNotSatisfiable):
        parse_range(header, size)


@given(st.integers(1, 10_000), st.integers(0, 20_000), st.integers(0, 20_000))
def test_satisfiable_range_stays_inside_file(size: int, a: int, b: int) -> None:
    try:
        span = parse_range(f"bytes={a}-{b}", size)
    except RangeNotSatisfiable:
        assert a >= size or b < a
        return
    assert span is not None and 0 <= span[0] <= span[1] < size


@given(st.text(min_size=1, max_size=60))
def test_content_disposition_round_trips_any_name(name: str) -> None:
    header = content_disposition(name)
    assert header.startswith('attachment; filename="')
    ascii_part = header.split('"')[1]
    assert all(0x20 <= ord(c) < 0x7F and c not in '"\\' for c in ascii_part)
    assert unquote(header.split("filename*=UTF-8''", 1)[1]) == name


def test_sizes() -> None:
    assert parse_size("5GiB") == 5 << 30
    assert parse_size("200MiB") == 200 << 20
    assert parse_size("1234") == 1234
    assert parse_size("1.5KiB") == 1536
    for bad in ("", "5 GB", "-1", "lots"):
        with pytest.raises(ValueError):
            parse_size(bad)
    assert human_bytes(512) == "512 B" and human_bytes(5 << 30) == "5.0 GiB"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_repr_digest_picks_usable_members() -> None:
    sha256, sha512 = hashlib.sha256(b"x").digest(), hashlib.sha512(b"x").digest()
    assert expected_digests(None) is None
    only = expected_digests(f"sha-256=:{_b64(sha256)}:")
    assert only is not None and only.digests == {"sha-256": sha256}
    both = expected_digests(f"sha-512=:{_b64(sha512)}:, sha-256=:{_b64(sha256)}:")
    assert both is not None and both.digests == {"sha-256": sha256, "sha-512": sha512}
    # unknown and deprecated algorithms are ignored when a usable one is there
    mixed = expected_digests(f'md5=:AAAA:, foo="bar";p=1, sha-256=:{_b64(sha256)}:')
    assert mixed is not None and mixed.digests == {"sha-256": sha256}


def test_repr_digest_last_member_wins() -> None:
    right, wrong = hashlib.sha256(b"x").digest(), hashlib.sha256(b"y").digest()
    last = expected_digests(f"sha-256=:{_b64(wrong)}:, sha-256=:{_b64(right)}:")
    assert last is not None and last.digests == {"sha-256": right}
    last = expected_digests(f"sha-256=:{_b64(right)}:, sha-256=:{_b64(wrong)}:")
    assert last is not None and last.digests == {"sha-256": wrong}


@pytest.mark.parametrize(
    "header",
    [
        "garbage!!",
        "sha-256",  # a bare key is boolean true, not a digest
        "sha-256=:AAAA:",  # not 32 bytes
        "sha-256=:%%%:",
        "sha-256=abc",  # a token, not a byte sequence
        "sha-512=:AAAA:",
        "md5=:AAAA:",  # nothing usable left
        "sha-256=:AAAA:,",  # trailing comma
        "Sha-256=:AAAA:",  # keys are lower case
        "",
    ],
)
def test_repr_digest_unusable_is_refused(header: str) -> None:
    with pytest.raises(BadRequest) as caught:
        expected_digests(header)
    assert caught.value.details["header"] == "Repr-Digest"


def test_structured_dictionary_values() -> None:
    parsed = parse_dictionary('a=1, b=-2.5, c="q\\"x", d=?0, e=tok/en, f=(1 :AQ==: "s");x, g')
    assert parsed == {
        "a": 1,
        "b": -2.5,
        "c": 'q"x',
        "d": False,
        "e": Token("tok/en"),
        "f": [1, b"\x01", "s"],
        "g": True,
    }
    assert parse_dictionary("k=:AQ:") == {"k": b"\x01"}  # missing padding is accepted
    for bad in ('a="unterminated', "a=(1 2", "a=?2", "a=1,,b=2", "A=1", "a=1 b=2"):
        with pytest.raises(FieldError):
            parse_dictionary(bad)


def test_mime_and_kind() -> None:
    assert (mime_for("a.JPG"), kind_for(mime_for("a.JPG"))) == ("image/jpeg", "image")
    assert kind_for(mime_for("Voice note.opus")) == "audio"
    assert kind_for(mime_for("clip.mp4")) == "video"
    assert (mime_for("noext"), kind_for(mime_for("noext"))) == (
        "application/octet-stream",
        "document",
    )
    assert kind_for(mime_for("prices.pdf")) == "document"


def test_rfc3339_is_exact_to_the_microsecond() -> None:
    assert rfc3339(1_700_000_000_123_456_789) == "2023-11-14T22:13:20.123456Z"
    assert rfc3339(0) == "1970-01-01T00:00:00.000000Z"
    assert rfc3339(-1) == "1969-12-31T23:59:59.999999Z"  # an mtime before 1970 (touch -d)


@given(st.integers(min_value=-(10**18), max_value=2**63 - 1))
def test_rfc3339_reads_back_as_the_same_microsecond(ns: int) -> None:
    """Whatever the instant (pre-1970 mtimes too, up to year 2262), the text parses back to
    it, truncated to the microsecond: what datetime's own formatting gave."""
    parsed = datetime.fromisoformat(rfc3339(ns).replace("Z", "+00:00"))
    assert parsed == datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=ns // 1000)


def _folder(fid: str, seq: int) -> _Item:
    obj = Folder(id=fid, name=fid, kind="custom", participant=None, file_count=0, bytes=0, rev=1)
    return _Item(seq, Change(seq=seq, type="folder", op="upsert", id=fid, object=obj))


def _file(fid: str, folder: str, seq: int) -> _Item:
    obj = File(
        id=fid,
        folder_id=folder,
        name=fid,
        size=1,
        sha256="0" * 64,
        mime="x/y",
        kind="document",
        source="upload",
        created_at="",
        modified_at="",
        mtime_ns=0,
        rev=1,
    )
    return _Item(seq, Change(seq=seq, type="file", op="upsert", id=fid, object=obj))


def test_delta_page_sends_a_renamed_folder_before_its_file() -> None:
    page = _delta_page([_folder("fo1", 9)], [_file("fi1", "fo1", 5)], [], head=9, limit=1)
    assert [c.id for c in page.changes] == ["fo1", "fi1"]
    assert (page.cursor, page.more) == (5, True)
    page = _delta_page([_folder("fo1", 3)], [_file("fi1", "fo1", 5)], [], head=5, limit=10)
    assert [c.id for c in page.changes] == ["fo1", "fi1"] and page.cursor == 5
