"""Reading Evolution API webhooks (pure): which messages become jobs, their kind, name,
caption and sender; what is ignored; JWT checks."""

from __future__ import annotations

import base64
import time

import pytest

from syncd.server.ingest.evolution import auth_problem, decode_media, jwt_problem, read
from tests.integration.ingest.fake_evolution import jwt, upsert

KEY = "k"


@pytest.mark.parametrize(
    ("media_type", "media", "kind", "filename"),
    [
        ("imageMessage", {"mimetype": "image/jpeg"}, "image", None),
        ("audioMessage", {"mimetype": "audio/ogg; codecs=opus", "ptt": True}, "voice", None),
        ("audioMessage", {"mimetype": "audio/mpeg", "ptt": False}, "audio", None),
        ("videoMessage", {"mimetype": "video/mp4"}, "video", None),
        ("stickerMessage", {"mimetype": "image/webp"}, "sticker", None),
        (
            "documentMessage",
            {"mimetype": "application/pdf", "fileName": "a.pdf"},
            "document",
            "a.pdf",
        ),
        ("documentMessage", {"mimetype": "application/pdf", "title": "T.pdf"}, "document", "T.pdf"),
    ],
)
def test_media_messages_become_jobs(
    media_type: str, media: dict[str, object], kind: str, filename: str | None
) -> None:
    (job,) = read(upsert("ID1", media_type, media | {"caption": "hi"})).reading.jobs
    assert (job.kind, job.filename, job.caption, job.instance) == (kind, filename, "hi", "shop")
    assert (
        job.sender.participant_id == "+4915112345678" and job.sender.display_name == "Alice Martin"
    )


def test_document_with_caption_wrapper_and_group_sender() -> None:
    event = upsert(
        "ID2",
        "documentWithCaptionMessage",
        {},
        group="1203@g.us",
        sender="33612345678@s.whatsapp.net",
    )
    event["data"]["message"] = {
        "documentWithCaptionMessage": {
            "message": {"documentMessage": {"mimetype": "application/pdf", "fileName": "x.pdf"}}
        }
    }
    (job,) = read(event).reading.jobs
    assert job.filename == "x.pdf" and job.sender.participant_id == "+33612345678"


@pytest.mark.parametrize(
    "event",
    [
        upsert("ID3", "imageMessage", {"mimetype": "image/jpeg"}, from_me=True),
        upsert("ID4", "conversation", {"text": "hello"}),
        upsert("ID5", "imageMessage", {"mimetype": "image/jpeg"}, sender="status@broadcast"),
        {"event": "connection.update", "data": {}},
    ],
)
def test_own_text_status_and_other_events_are_ignored(event: dict[str, object]) -> None:
    reading = read(event).reading
    assert reading.jobs == [] and reading.notes == [] and reading.ignored


def test_delete_is_a_revocation_and_inline_media_is_kept_apart() -> None:
    deleted = read({"event": "messages.delete", "data": {"key": {"id": "ID6"}}})
    assert deleted.reading.revoked_raw_ids == ["ID6"]
    inline = read(upsert("ID7", "imageMessage", {"mimetype": "image/jpeg"}, inline=b"abc"))
    assert inline.inline_b64 == {"ID7": base64.b64encode(b"abc").decode()}
    assert decode_media("data:image/jpeg;base64,YWJj") == b"abc"
    with pytest.raises(ValueError):
        decode_media("a b c")


def test_jwt_and_apikey_checks() -> None:
    now = int(time.time())
    assert jwt_problem(jwt(KEY), KEY, now) is None
    assert jwt_problem(jwt(KEY), "other", now) is not None
    assert jwt_problem(jwt(KEY, iat=now - 700), KEY, now) is not None  # exp = iat + 600
    assert jwt_problem(jwt(KEY, iat=now + 120), KEY, now) is not None
    assert jwt_problem(jwt(KEY, alg="HS512"), KEY, now) is not None
    assert jwt_problem("a.b", KEY, now) is not None
    assert jwt_problem("é.é.é", KEY, now) is not None
    assert auth_problem({"apikey": "x"}, "x", None, None, now) is None
    assert auth_problem({"apikey": "y"}, "x", None, None, now) is not None
    assert auth_problem({}, "x", None, None, now) is not None
    assert auth_problem({"apikey": "x"}, "x", KEY, None, now) is not None
    assert auth_problem({"apikey": "x"}, "x", KEY, f"Bearer {jwt(KEY)}", now) is None
