"""WAHA ingest end to end against the real server and a real WAHA-compatible gateway on
127.0.0.1: every payload shape, signatures, dedupe (also across a restart), SSRF refusal,
size caps, retries then failure, quota bypass, folder naming and renames."""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path

from syncd.server.ingest.sample_gateway import (
    SampleGateway,
    envelope,
    message_event,
    post_webhook,
    sign,
)
from syncd.server.users import create_user
from tests.integration.ingest.conftest import (
    HMAC_KEY,
    Lib,
    media_file,
    running,
    waha_hook,
    wait_for,
)

ALICE = "+4915112345678"
TS = 1_764_000_000


def stamp(fmt: str) -> str:
    return datetime.fromtimestamp(TS).strftime(fmt)


async def post(
    gw: SampleGateway,
    url: str,
    message_id: str,
    mime: str,
    path: Path,
    *,
    sender: str = "4915112345678@c.us",
    name: str | None = "Alice",
    group_id: str | None = None,
    filename: str | None = None,
    extra_data: dict[str, object] | None = None,
) -> tuple[int, object]:
    media_url = gw.add_file(path, f"{message_id}.bin")
    event = message_event(
        media={"url": media_url, "mimetype": mime, "filename": filename, "error": None},
        sender=sender,
        sender_name=name,
        message_id=message_id,
        group_id=group_id,
        timestamp_s=TS,
    )
    if extra_data:
        event["payload"]["_data"].update(extra_data)
    return await post_webhook(url, event, HMAC_KEY)


async def test_image_is_filed_under_the_sender_with_generated_name(
    lib: Lib, gateway: SampleGateway, tmp_path: Path
) -> None:
    url = waha_hook(lib, gateway)
    data = b"\xff\xd8jpeg-bytes" * 100
    status, answer = await gateway.deliver(
        url,
        HMAC_KEY,
        ALICE,
        "Alice Martin",
        media_file(tmp_path, "a.jpg", data),
        "image/jpeg",
        "3EB0A1",
    )
    assert status == 200 and answer["queued"] == 1
    event = await wait_for(lambda: lib.outcome("3EB0A1", "stored"))
    files = await lib.files("Alice Martin")
    ((name, file),) = files.items()
    assert name.startswith("IMG-") and name.endswith(".jpg")
    assert file["id"] == event["file_id"] and file["source"] == "incoming"
    assert file["sha256"] == hashlib.sha256(data).hexdigest()
    assert await lib.content(file["id"]) == data
    folder = (await lib.folders())["Alice Martin"]
    assert folder["kind"] == "participant"
    assert folder["participant"] == {"id": ALICE, "phone": ALICE, "display_name": "Alice Martin"}
    status, account = await lib.call("GET", "/v1/account")
    assert account["quota"]["used_bytes"] == len(data)


async def test_every_media_kind_gets_its_name(
    lib: Lib, gateway: SampleGateway, tmp_path: Path
) -> None:
    url = waha_hook(lib, gateway)
    cases = [
        ("V1", "audio/ogg; codecs=opus", None, f"Voice note {stamp('%Y-%m-%d %H.%M.%S')}.ogg"),
        ("D1", "application/pdf", "Price list.pdf", "Price list.pdf"),
        ("D2", "application/pdf", "../../etc/passwd", "passwd.pdf"),
        ("M1", "video/mp4", None, f"VID-{stamp('%Y%m%d-%H%M%S')}.mp4"),
        ("S1", "image/webp", None, f"STK-{stamp('%Y%m%d-%H%M%S')}.webp"),
        ("I1", "image/png", None, f"IMG-{stamp('%Y%m%d-%H%M%S')}.png"),
        ("A1", "audio/mpeg", None, f"AUD-{stamp('%Y%m%d-%H%M%S')}.mp3"),
    ]
    for message_id, mime, filename, _ in cases:
        path = media_file(tmp_path, message_id, message_id.encode() * 10)
        status, _answer = await post(gateway, url, message_id, mime, path, filename=filename)
        assert status == 200
    for message_id, *_ in cases:
        await wait_for(lambda m=message_id: lib.outcome(m, "stored"))
    files = await lib.files("Alice")
    assert sorted(files) == sorted(expected for *_, expected in cases)
    assert files[cases[0][3]]["kind"] == "audio"
    assert files["Price list.pdf"]["mime"] == "application/pdf"


async def test_group_message_is_filed_under_the_participant(
    lib: Lib, gateway: SampleGateway, tmp_path: Path
) -> None:
    url = waha_hook(lib, gateway)
    path = media_file(tmp_path, "g.jpg", b"group photo")
    status, _ = await post(
        gateway,
        url,
        "G1",
        "image/jpeg",
        path,
        sender="34612345678@c.us",
        name="José",
        group_id="120363000000000001@g.us",
    )
    assert status == 200
    await wait_for(lambda: lib.outcome("G1", "stored"))
    folders = await lib.folders()
    assert list(folders) == ["José"]
    assert folders["José"]["participant"]["phone"] == "+34612345678"


async def test_lid_sender_filed_under_lid_until_phone_known(
    lib: Lib, gateway: SampleGateway, tmp_path: Path
) -> None:
    url = waha_hook(lib, gateway)
    path = media_file(tmp_path, "l.jpg", b"lid photo")
    await post(gateway, url, "L1", "image/jpeg", path, sender="987654321012345@lid", name="Kim")
    await wait_for(lambda: lib.outcome("L1", "stored"))
    folder = (await lib.folders())["Kim"]
    assert folder["participant"] == {
        "id": "987654321012345@lid",
        "phone": None,
        "display_name": "Kim",
    }
    # A later message carries the phone as the key's alternate id: the same folder is now
    # the phone's (rev bumped), and the new file joins it.
    alt = {
        "key": {
            "remoteJid": "987654321012345@lid",
            "id": "L2",
            "remoteJidAlt": "4917600000001@s.whatsapp.net",
        }
    }
    await post(
        gateway,
        url,
        "L2",
        "image/jpeg",
        media_file(tmp_path, "l2.jpg", b"second"),
        sender="987654321012345@lid",
        name="Kim",
        extra_data=alt,
    )
    await wait_for(lambda: lib.outcome("L2", "stored"))
    after = (await lib.folders())["Kim"]
    assert after["id"] == folder["id"] and after["rev"] > folder["rev"]
    assert after["participant"]["id"] == after["participant"]["phone"] == "+4917600000001"
    assert len(await lib.files("Kim")) == 2


async def test_not_downloaded_and_media_error_are_recorded_without_file(
    lib: Lib, gateway: SampleGateway
) -> None:
    url = waha_hook(lib, gateway)
    for message_id, media in (
        ("N1", {"url": None, "mimetype": "image/jpeg", "filename": None, "error": None}),
        ("N2", {"url": None, "mimetype": "image/jpeg", "error": {"details": "boom"}}),
        ("N3", None),
    ):
        event = message_event(
            media=media, sender="4915112345678@c.us", sender_name="A", message_id=message_id
        )
        event["payload"]["hasMedia"] = True
        status, _ = await post_webhook(url, event, HMAC_KEY)
        assert status == 200
    for message_id in ("N1", "N2", "N3"):
        event = await lib.outcome(message_id, "not_downloaded")
        assert event and event["reason"]
    assert lib.file_count() == 0 and await lib.folders() == {}


async def test_from_me_text_and_other_events_are_ignored(
    lib: Lib, gateway: SampleGateway, tmp_path: Path
) -> None:
    url = waha_hook(lib, gateway)
    media_url = gateway.add_file(media_file(tmp_path, "x.jpg", b"x"), "x.jpg")
    media = {"url": media_url, "mimetype": "image/jpeg"}
    mine = message_event(
        media=media,
        sender="4915112345678@c.us",
        sender_name="Me",
        message_id="F1",
        from_me=True,
        event="message.any",
    )
    text = message_event(
        media=None, sender="4915112345678@c.us", sender_name="A", message_id="T1", body="hello"
    )
    status_post = message_event(
        media=media, sender="status@broadcast", sender_name="A", message_id="B1"
    )
    ack = envelope("message.ack", {"id": "x", "ack": 3})
    for event in (mine, text, status_post, ack):
        status, answer = await post_webhook(url, event, HMAC_KEY)
        assert status == 200 and answer["queued"] == 0 and answer["ignored"] == 1
    assert lib.job_count() == 0 and lib.file_count() == 0 and await lib.events() == []


async def test_wrong_or_missing_signature_is_401_and_nothing_stored(
    lib: Lib, gateway: SampleGateway, tmp_path: Path
) -> None:
    url = waha_hook(lib, gateway)
    media_url = gateway.add_file(media_file(tmp_path, "x.jpg", b"x"), "x.jpg")
    event = message_event(
        media={"url": media_url, "mimetype": "image/jpeg"},
        sender="4915112345678@c.us",
        sender_name="A",
        message_id="W1",
    )
    for key, signature in (
        (None, None),
        ("wrong-key", None),
        (None, "00" * 64),
        (None, sign(b"{}", HMAC_KEY)),
    ):
        status, answer = await post_webhook(url, event, key, signature=signature)
        assert status == 401 and answer["error"]["code"] == "unauthorized"
    status, _ = await post_webhook(lib.url + "/hooks/hk_doesnotexist", event, HMAC_KEY)
    assert status == 404
    assert lib.job_count() == 0 and lib.file_count() == 0 and gateway.fetches == {}
    assert {e["outcome"] for e in await lib.events()} == {"unauthorized"}


async def test_same_webhook_twice_and_after_restart_gives_one_file(
    tmp_path: Path, gateway: SampleGateway
) -> None:
    data_dir = tmp_path / "lib"
    path = media_file(tmp_path, "d.jpg", b"dup")
    async with running(data_dir) as first:
        _, first.token = create_user(first.state.db, "alice", 1 << 30, 1 << 30)
        url = waha_hook(first, gateway)
        for _ in range(2):
            status, _ = await post(gateway, url, "DUP1", "image/jpeg", path)
            assert status == 200
        await wait_for(lambda: first.outcome("DUP1", "stored"))
        assert await first.outcome("DUP1", "duplicate")
        assert first.file_count() == 1
        token, hook_path = first.token, url[len(first.url) :]
    async with running(data_dir, token) as again:
        status, answer = await post(gateway, again.url + hook_path, "DUP1", "image/jpeg", path)
        assert status == 200 and answer["duplicates"] == 1
        assert again.file_count() == 1 and gateway.fetches["DUP1.bin"] == 1


async def test_pending_fetch_survives_a_restart(tmp_path: Path, gateway: SampleGateway) -> None:
    data_dir = tmp_path / "lib"
    path = media_file(tmp_path, "r.jpg", b"restart me")
    gateway.faults["R1.bin"] = ["stall"]
    async with running(data_dir) as first:
        _, first.token = create_user(first.state.db, "alice", 1 << 30, 1 << 30)
        url = waha_hook(first, gateway)
        await post(gateway, url, "R1", "image/jpeg", path)

        async def fetching() -> bool:
            return gateway.fetches["R1.bin"] >= 1

        await wait_for(fetching)
        token, hook_path = first.token, url[len(first.url) :]
    async with running(data_dir, token) as second:
        event = await wait_for(lambda: second.outcome("R1", "stored"))
        assert await second.content(event["file_id"]) == b"restart me"
        assert second.file_count() == 1 and hook_path.startswith("/hooks/hk_")


async def test_media_url_outside_gateway_is_refused(lib: Lib, gateway: SampleGateway) -> None:
    url = waha_hook(lib, gateway, "/api")
    outside = [
        "http://169.254.169.254/latest/meta-data",
        gateway.url.replace("127.0.0.1", "localhost") + "/api/files/default/a.jpg",
        gateway.url + "/api/../admin",
        gateway.url + "/api%2f..%2fadmin",
        gateway.url + "/apix/files/a.jpg",
        "http://user:pw@" + gateway.url.removeprefix("http://") + "/api/files/x.jpg",
        gateway.url.replace("http://", "https://") + "/api/files/x.jpg",
    ]
    for n, media_url in enumerate(outside):
        event = message_event(
            media={"url": media_url, "mimetype": "image/jpeg"},
            sender="4915112345678@c.us",
            sender_name="A",
            message_id=f"X{n}",
        )
        status, _ = await post_webhook(url, event, HMAC_KEY)
        assert status == 200
        refused = await lib.outcome(f"X{n}", "refused")
        assert refused and "outside" in refused["reason"], media_url
    assert lib.file_count() == 0 and gateway.fetches == {}


async def test_oversize_media_is_refused_with_reason(
    lib: Lib, gateway: SampleGateway, tmp_path: Path
) -> None:
    url = waha_hook(lib, gateway, image=1000)
    await post(gateway, url, "BIG1", "image/jpeg", media_file(tmp_path, "b.jpg", b"x" * 5000))
    event = await wait_for(lambda: lib.outcome("BIG1", "refused"))
    assert event["reason"].startswith("too_large") and "image" in event["reason"]
    await post(gateway, url, "OK1", "video/mp4", media_file(tmp_path, "v.mp4", b"x" * 5000))
    await wait_for(lambda: lib.outcome("OK1", "stored"))
    assert lib.file_count() == 1 and not list((lib.data_dir / "tmp").iterdir())


async def test_gateway_404_is_retried_then_succeeds_or_fails(
    lib: Lib, gateway: SampleGateway, tmp_path: Path
) -> None:
    url = waha_hook(lib, gateway)
    gateway.faults["RT1.bin"] = [404, 503]
    await post(gateway, url, "RT1", "image/jpeg", media_file(tmp_path, "1.jpg", b"late"))
    await wait_for(lambda: lib.outcome("RT1", "stored"))
    assert gateway.fetches["RT1.bin"] == 3
    gateway.faults["RT2.bin"] = [404] * 10
    await post(gateway, url, "RT2", "image/jpeg", media_file(tmp_path, "2.jpg", b"gone"))
    failed = await wait_for(lambda: lib.outcome("RT2", "fetch_failed"))
    assert "404" in failed["reason"] and "4 attempts" in failed["reason"]
    assert gateway.fetches["RT2.bin"] == 4  # first try + 3 retries (SYNCD_INGEST_RETRY_DELAYS_S)


async def test_gateway_timeout_is_retried_then_recorded_failed(
    lib: Lib, gateway: SampleGateway, tmp_path: Path
) -> None:
    url = waha_hook(lib, gateway)
    gateway.faults["TO1.bin"] = ["stall"] * 4
    await post(gateway, url, "TO1", "image/jpeg", media_file(tmp_path, "t.jpg", b"slow"))
    failed = await wait_for(lambda: lib.outcome("TO1", "fetch_failed"), timeout_s=20)
    assert "did not answer in time" in failed["reason"]
    assert lib.file_count() == 0


async def test_incoming_media_is_stored_over_quota(tmp_path: Path, gateway: SampleGateway) -> None:
    async with running(tmp_path / "q") as lib:
        _, lib.token = create_user(lib.state.db, "alice", 100, 100)
        url = waha_hook(lib, gateway)
        await post(gateway, url, "Q1", "image/jpeg", media_file(tmp_path, "q.jpg", b"x" * 500))
        await wait_for(lambda: lib.outcome("Q1", "stored"))
        _, account = await lib.call("GET", "/v1/account")
        assert account["quota"]["used_bytes"] == 500 > account["quota"]["limit_bytes"]


async def test_name_collision_and_display_name_rename(
    lib: Lib, gateway: SampleGateway, tmp_path: Path
) -> None:
    url = waha_hook(lib, gateway)
    path = media_file(tmp_path, "c.jpg", b"c")
    await post(gateway, url, "C1", "image/jpeg", path, sender="4915100000001@c.us", name="Ana")
    await wait_for(lambda: lib.outcome("C1", "stored"))
    await post(gateway, url, "C2", "image/jpeg", path, sender="4915100000002@c.us", name="Ana")
    await wait_for(lambda: lib.outcome("C2", "stored"))
    folders = await lib.folders()
    assert sorted(folders) == ["Ana", "Ana (+4915100000002)"]
    before = folders["Ana (+4915100000002)"]
    await post(gateway, url, "C3", "image/jpeg", path, sender="4915100000002@c.us", name="Ana Lima")
    await wait_for(lambda: lib.outcome("C3", "stored"))
    after = await lib.folders()
    assert sorted(after) == ["Ana", "Ana Lima"]
    renamed = after["Ana Lima"]
    assert renamed["id"] == before["id"] and renamed["rev"] > before["rev"]
    assert renamed["participant"]["display_name"] == "Ana Lima" and renamed["file_count"] == 2
    # A folder the user renamed keeps the user's name when the display name changes again.
    status, _ = await lib.call("PATCH", f"/v1/folders/{renamed['id']}", json={"name": "VIP"})
    assert status == 200
    await post(gateway, url, "C4", "image/jpeg", path, sender="4915100000002@c.us", name="A.L.")
    await wait_for(lambda: lib.outcome("C4", "stored"))
    assert sorted(await lib.folders()) == ["Ana", "VIP"]


async def test_revoked_message_keeps_the_file_and_records_it(
    lib: Lib, gateway: SampleGateway, tmp_path: Path
) -> None:
    url = waha_hook(lib, gateway)
    await post(gateway, url, "RV1", "image/jpeg", media_file(tmp_path, "r.jpg", b"revoked"))
    stored = await wait_for(lambda: lib.outcome("RV1", "stored"))
    revoke = envelope(
        "message.revoked",
        {
            "after": {"id": "false_4915112345678@c.us_REVOKEACTION", "from": "4915112345678@c.us"},
            "revokedMessageId": "RV1",
            "before": None,
        },
    )
    status, answer = await post_webhook(url, revoke, HMAC_KEY)
    assert status == 200 and answer["revoked"] == 1
    assert await lib.content(stored["file_id"]) == b"revoked"
    status, origin = await lib.call("GET", f"/v1/files/{stored['file_id']}/origin")
    assert status == 200 and origin["revoked"] is True and origin["revoked_at"]
    assert origin["sender"]["phone"] == ALICE and origin["provider"] == "waha"
    assert (await lib.outcome("RV1", "revoked"))["file_id"] == stored["file_id"]


async def test_events_are_per_user_and_need_auth(
    lib: Lib, gateway: SampleGateway, tmp_path: Path
) -> None:
    url = waha_hook(lib, gateway)
    await post(gateway, url, "E1", "image/jpeg", media_file(tmp_path, "e.jpg", b"e"))
    await wait_for(lambda: lib.outcome("E1", "stored"))
    _, bob = create_user(lib.state.db, "bob", 1 << 20, 1 << 20)
    status, body = await lib.call("GET", "/v1/ingest/events", token=bob)
    assert status == 200 and body["events"] == []
    status, _ = await lib.call("GET", "/v1/ingest/events", token="nope")
    assert status == 401
