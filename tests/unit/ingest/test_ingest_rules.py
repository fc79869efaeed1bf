"""Pure ingest rules: names, MIME extensions, WAHA/Cloud API reading and signatures, the
gateway-prefix SSRF rule, the media-host allowlist and share-link tokens."""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime

import pytest

from syncd.errors import Forbidden
from syncd.server import links
from syncd.server.ingest import cloudapi, naming, waha
from syncd.server.ingest.sample_gateway import message_event

TS = 1_764_000_000
GW = "http://waha.local:3000"


def test_waha_documented_hmac_test_vector() -> None:
    body = b'{"event":"message","session":"default","engine":"WEBJS"}'
    mac = hmac.new(b"my-secret-key", body, hashlib.sha512).hexdigest()
    assert mac.startswith("208f8a55dde9") and mac.endswith("53fa89")
    assert waha.signature_ok("my-secret-key", body, mac)
    assert waha.signature_ok("my-secret-key", body, mac.upper())
    assert not waha.signature_ok("my-secret-key", body + b" ", mac)
    assert not waha.signature_ok("my-secret-key", body, None)


def test_cloud_signature_and_handshake() -> None:
    body = b'{"object":"whatsapp_business_account"}'
    mac = hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert cloudapi.signature_ok("s3cret", body, f"sha256={mac}")
    assert not cloudapi.signature_ok("s3cret", body, mac)
    assert not cloudapi.signature_ok("other", body, f"sha256={mac}")
    query = {"hub.mode": "subscribe", "hub.verify_token": "v", "hub.challenge": "42"}
    assert cloudapi.verify_challenge(query, "v") == "42"
    assert cloudapi.verify_challenge({**query, "hub.mode": "x"}, "v") is None
    assert cloudapi.verify_challenge(query, "w") is None


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        (f"{GW}/api/files/default/a.jpg", True),
        ("http://WAHA.local:3000/api/files/a.jpg", True),
        ("http://waha.local/api/files/a.jpg", False),
        ("https://waha.local:3000/api/files/a.jpg", False),
        ("http://waha.local:3001/api/files/a.jpg", False),
        ("http://evil.example:3000/api/files/a.jpg", False),
        ("http://u:p@waha.local:3000/api/files/a.jpg", False),
        ("/api/files/a.jpg", False),
        ("not a url", False),
    ],
)
def test_url_under_gateway_root(url: str, ok: bool) -> None:
    assert waha.url_under_gateway(url, GW) is ok


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        (f"{GW}/waha/api/files/a.jpg", True),
        (f"{GW}/waha", True),
        (f"{GW}/waha/../admin", False),
        (f"{GW}/wahax/a.jpg", False),
        (f"{GW}/waha/%2e%2e/admin", False),
        (f"{GW}/other", False),
    ],
)
def test_url_under_gateway_path_prefix(url: str, ok: bool) -> None:
    assert waha.url_under_gateway(url, f"{GW}/waha/") is ok


def test_media_host_allowlist() -> None:
    hosts = ["lookaside.fbsbx.com", "127.0.0.1:8080"]
    assert cloudapi.host_allowed("https://lookaside.fbsbx.com/x?mid=1", hosts)
    assert cloudapi.host_allowed("http://127.0.0.1:8080/m", hosts)
    assert not cloudapi.host_allowed("http://127.0.0.1:8081/m", hosts)
    assert not cloudapi.host_allowed("https://lookaside.fbsbx.com.evil/x", hosts)
    assert not cloudapi.host_allowed("file:///etc/passwd", hosts)


def test_generated_names_and_extensions() -> None:
    when = datetime.fromtimestamp(TS)
    assert naming.generated_name("image", "image/jpeg", TS) == f"IMG-{when:%Y%m%d-%H%M%S}.jpg"
    assert naming.generated_name("voice", "audio/ogg; codecs=opus", TS) == (
        f"Voice note {when:%Y-%m-%d %H.%M.%S}.ogg"
    )
    assert naming.generated_name("video", "video/mp4", TS) == f"VID-{when:%Y%m%d-%H%M%S}.mp4"
    assert naming.extension_for("application/x-unknown-thing") == "bin"
    assert naming.extension_for(None) == "bin"


@pytest.mark.parametrize(
    ("raw", "mime", "expected"),
    [
        ("receipt.pdf", "application/pdf", "receipt.pdf"),
        ("receipt", "application/pdf", "receipt.pdf"),
        ("../../etc/passwd", None, "passwd"),
        ("C:\\Users\\x\\doc.docx", None, "doc.docx"),
        ("..", None, None),
        ("a\x00b.txt", None, "ab.txt"),
        ("", None, None),
        (None, None, None),
    ],
)
def test_safe_filename(raw: str | None, mime: str | None, expected: str | None) -> None:
    assert naming.safe_filename(raw, mime) == expected


def test_long_filename_is_shortened_keeping_extension() -> None:
    name = naming.safe_filename("é" * 300 + ".pdf", None)
    assert name is not None and name.endswith(".pdf") and len(name.encode()) <= 200


def test_auto_name_detection() -> None:
    assert naming.is_auto_name("Ana", "Ana", "+1", "+1")
    assert naming.is_auto_name("Ana (+1)", "Ana", "+1", "+1")
    assert not naming.is_auto_name("VIP", "Ana", "+1", "+1")
    assert naming.clean_display_name(" A/B\x07  C ") == "A-B C"


def _media(
    url: str = f"{GW}/api/files/default/x.jpg", mime: str = "image/jpeg"
) -> dict[str, object]:
    return {"url": url, "mimetype": mime, "filename": None, "error": None}


def test_waha_reading_of_shapes() -> None:
    one = waha.read(
        message_event(
            media=_media(),
            sender="4915112345678@c.us",
            sender_name="Alice",
            message_id="A1",
            timestamp_s=TS,
        ),
        GW,
    )
    (job,) = one.jobs
    assert (job.sender.participant_id, job.sender.display_name, job.kind) == (
        "+4915112345678",
        "Alice",
        "image",
    )
    assert job.raw_id == "A1" and job.timestamp_s == TS
    group = waha.read(
        message_event(
            media=_media(),
            sender="34612345678@c.us",
            sender_name="José",
            message_id="G1",
            group_id="1203@g.us",
        ),
        GW,
    )
    assert group.jobs[0].sender.phone == "+34612345678" and group.jobs[0].raw_id == "G1"
    lid = waha.read(
        message_event(media=_media(), sender="777@lid", sender_name=None, message_id="L1"), GW
    )
    assert lid.jobs[0].sender.participant_id == "777@lid" and lid.jobs[0].sender.phone is None
    voice = waha.read(
        message_event(
            media=_media(mime="audio/ogg; codecs=opus"),
            sender="1234567@c.us",
            sender_name=None,
            message_id="V1",
        ),
        GW,
    )
    assert voice.jobs[0].kind == "voice"
    outside = waha.read(
        message_event(
            media=_media("http://evil/x.jpg"),
            sender="1234567@c.us",
            sender_name=None,
            message_id="X1",
        ),
        GW,
    )
    assert not outside.jobs and outside.notes[0].outcome == "refused"
    revoked = waha.read({"event": "message.revoked", "payload": {"revokedMessageId": "A1"}}, GW)
    assert revoked.revoked_raw_ids == ["A1"]


def test_cloud_reading_skips_non_media_and_statuses() -> None:
    body = {
        "entry": [
            {
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "contacts": [{"wa_id": "16505551234", "profile": {"name": "Sheena"}}],
                            "messages": [
                                {
                                    "from": "16505551234",
                                    "id": "wamid.T",
                                    "type": "text",
                                    "text": {"body": "hi"},
                                },
                                {
                                    "from": "16505551234",
                                    "id": "wamid.I",
                                    "timestamp": "1700000000",
                                    "type": "image",
                                    "image": {
                                        "id": "99",
                                        "mime_type": "image/jpeg",
                                        "sha256": "abc",
                                    },
                                },
                            ],
                        },
                    },
                    {"field": "messages", "value": {"statuses": [{"id": "wamid.S"}]}},
                ]
            }
        ]
    }
    reading = cloudapi.read(body)
    (job,) = reading.jobs
    assert (job.message_id, job.media_id, job.sender.display_name) == ("wamid.I", "99", "Sheena")
    assert job.timestamp_s == 1_700_000_000 and len(reading.ignored) == 2


def test_share_tokens() -> None:
    key = b"k" * 32
    token = links.make_token(key, "fi_abc", 2_000)
    assert links.check_token(key, token, 1_999) == "fi_abc"
    with pytest.raises(Forbidden, match="expired"):
        links.check_token(key, token, 2_000)
    with pytest.raises(Forbidden):
        links.check_token(b"x" * 32, token, 0)
    with pytest.raises(Forbidden):
        links.check_token(key, token.replace("2000", "9000"), 0)
