"""Evolution API ingest against the real server and a fake Evolution gateway on loopback:
inline base64, mediaUrl only from allowed hosts (a second loopback address stands for any
other host), media asked from the gateway, apikey and JWT checks, group senders, names,
documents, redelivery, fromMe, and captions found by search."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from click.testing import CliRunner

from syncd.server.ingest import hooks
from syncd.server.ingest.commands import add_hook
from tests.integration.ingest.conftest import Lib, wait_for
from tests.integration.ingest.fake_evolution import API_KEY, FakeEvolution, jwt, upsert

JWT_KEY = "evolution-jwt-secret"
JPEG = b"\xff\xd8\xff\xe0" + b"photo" * 200
PDF = b"%PDF-1.7\n" + b"price list" * 300


@pytest.fixture
async def evo() -> AsyncIterator[FakeEvolution]:
    gw = FakeEvolution()
    await gw.start()
    yield gw
    await gw.stop()


@pytest.fixture
async def elsewhere() -> AsyncIterator[FakeEvolution]:
    """Another host (127.0.0.2) that no hook allows: a server must never fetch from it."""
    gw = FakeEvolution(host="127.0.0.2")
    await gw.start()
    yield gw
    await gw.stop()


def evolution_hook(lib: Lib, gw: FakeEvolution, **config: Any) -> str:
    hook_config = hooks.HookConfig(gateway_url=gw.url, api_key=API_KEY, **config)
    hook = hooks.add_hook(lib.state.db, lib.user_name, "evolution", hook_config)
    return f"/hooks/{hook.id}"


async def post(lib: Lib, path: str, event: dict[str, Any], **headers: str) -> tuple[int, Any]:
    async with lib.session.post(lib.url + path, json=event, headers=headers) as resp:
        return resp.status, await resp.json()


async def stored(lib: Lib, message_id: str) -> dict[str, Any]:
    event = await wait_for(lambda: lib.outcome(message_id, "stored"))
    status, file = await lib.call("GET", f"/v1/files/{event['file_id']}")
    assert status == 200, file
    return file  # type: ignore[no-any-return]


async def content(lib: Lib, file_id: str) -> bytes:
    status, body = await lib.call("GET", f"/v1/files/{file_id}/content")
    assert status == 200
    return body  # type: ignore[no-any-return]


async def test_inline_image_is_filed_under_the_sender_with_its_caption(
    lib: Lib, evo: FakeEvolution
) -> None:
    path = evolution_hook(lib, evo)
    image = {"mimetype": "image/jpeg", "caption": "Está disponível?"}
    status, answer = await post(lib, path, upsert("3EB0AA", "imageMessage", image, inline=JPEG))
    assert status == 200 and answer["queued"] == 1, answer
    file = await stored(lib, "3EB0AA")
    folders = await lib.folders()
    assert folders["Alice Martin"]["id"] == file["folder_id"]
    assert folders["Alice Martin"]["participant"]["phone"] == "+4915112345678"
    assert await content(lib, file["id"]) == JPEG
    assert file["caption"] == "Está disponível?" and file["kind"] == "image"
    assert evo.calls == []  # nothing asked from the gateway
    assert not list((lib.data_dir / "ingest-spool").glob("*"))  # spool file removed
    status, found = await lib.call("GET", "/v1/search", params={"q": "esta disponivel"})
    assert [h["file"]["id"] for h in found["hits"]] == [file["id"]]


async def test_document_is_asked_from_the_gateway_and_keeps_its_file_name(
    lib: Lib, evo: FakeEvolution
) -> None:
    path = evolution_hook(lib, evo)
    evo.media["3EB0DOC"] = (PDF, "application/pdf")
    doc = {"mimetype": "application/pdf", "fileName": "Lista de preços.pdf", "caption": "Segue"}
    status, _ = await post(lib, path, upsert("3EB0DOC", "documentMessage", doc))
    assert status == 200
    file = await stored(lib, "3EB0DOC")
    assert file["name"] == "Lista de preços.pdf" and file["original_name"] == "Lista de preços.pdf"
    assert await content(lib, file["id"]) == PDF
    assert evo.calls == ["base64 shop"]


async def test_media_url_is_fetched_only_from_an_allowed_host(
    lib: Lib, evo: FakeEvolution, elsewhere: FakeEvolution
) -> None:
    allowed = evo.url.removeprefix("http://")
    path = evolution_hook(lib, evo, media_hosts=[allowed])
    evo.files["a.jpg"] = JPEG
    elsewhere.files["b.jpg"] = b"internal secret"
    evo.media["3EB0B"] = (JPEG, "image/jpeg")  # the gateway has it too
    image = {"mimetype": "image/jpeg"}
    await post(
        lib, path, upsert("3EB0A", "imageMessage", image, media_url=f"{evo.url}/files/a.jpg")
    )
    bad_url = f"{elsewhere.url}/files/b.jpg"
    await post(lib, path, upsert("3EB0B", "imageMessage", image, media_url=bad_url))
    good, fallback = await stored(lib, "3EB0A"), await stored(lib, "3EB0B")
    assert await content(lib, good["id"]) == JPEG
    assert await content(lib, fallback["id"]) == JPEG  # from the gateway, not the URL
    assert elsewhere.calls == []
    assert sorted(evo.calls) == ["base64 shop", "file a.jpg"]


async def test_wrong_apikey_or_jwt_is_401_and_nothing_is_stored(
    lib: Lib, evo: FakeEvolution
) -> None:
    path = evolution_hook(lib, evo, jwt_key=JWT_KEY)
    now = int(time.time())
    image = {"mimetype": "image/jpeg"}
    good_token = jwt(JWT_KEY)
    cases = [
        ({"apikey": "wrong"}, good_token),
        ({}, None),
        ({}, jwt("another-key")),
        ({}, jwt(JWT_KEY, iat=now - 2000, exp=now - 1000)),  # expired
        ({}, jwt(JWT_KEY, iat=now + 3600)),  # issued in the future
        ({}, jwt(JWT_KEY, alg="none")),
        ({}, "not.a.jwt"),
    ]
    for n, (override, token) in enumerate(cases):
        event = upsert(f"BAD{n}", "imageMessage", image, inline=JPEG) | override
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        status, body = await post(lib, path, event, **headers)
        assert status == 401, (n, body)
    assert lib.file_count() == 0 and lib.job_count() == 0
    assert not list((lib.data_dir / "ingest-spool").glob("*"))
    event = upsert("GOOD", "imageMessage", image, inline=JPEG)
    status, _ = await post(lib, path, event, Authorization=f"Bearer {good_token}")
    assert status == 200
    await stored(lib, "GOOD")


async def test_group_voice_note_from_me_and_redelivery(lib: Lib, evo: FakeEvolution) -> None:
    path = evolution_hook(lib, evo)
    voice = {"mimetype": "audio/ogg; codecs=opus", "ptt": True}
    group = "120363025555555555@g.us"
    event = upsert(
        "3EB0V",
        "audioMessage",
        voice,
        sender="5511912345678@s.whatsapp.net",
        push_name="Bruno Costa",
        group=group,
        inline=b"OggS" * 100,
    )
    assert (await post(lib, path, event))[0] == 200
    file = await stored(lib, "3EB0V")
    assert file["kind"] == "audio" and file["name"].endswith(".ogg")
    assert (await lib.folders())["Bruno Costa"]["id"] == file["folder_id"]
    status, again = await post(lib, path, event)  # the gateway retries the same message
    assert status == 200 and again["duplicates"] == 1 and again["queued"] == 0
    mine = upsert("3EB0ME", "imageMessage", {"mimetype": "image/jpeg"}, from_me=True, inline=JPEG)
    status, answer = await post(lib, path, mine)
    assert status == 200 and answer["queued"] == 0 and answer["ignored"] == 1
    assert lib.file_count() == 1
    assert not list((lib.data_dir / "ingest-spool").glob("*"))


async def test_inline_media_above_the_cap_or_not_base64_is_refused(
    lib: Lib, evo: FakeEvolution
) -> None:
    config = hooks.HookConfig(gateway_url=evo.url, api_key=API_KEY)
    config.caps_bytes["image"] = 100
    hook = hooks.add_hook(lib.state.db, lib.user_name, "evolution", config)
    image = {"mimetype": "image/jpeg"}
    await post(lib, f"/hooks/{hook.id}", upsert("BIG", "imageMessage", image, inline=JPEG))
    broken = upsert("BROKEN", "imageMessage", image)
    broken["data"]["message"]["base64"] = "not base64 !!"
    await post(lib, f"/hooks/{hook.id}", broken)
    big = await wait_for(lambda: lib.outcome("BIG", "refused"))
    assert "too_large" in big["reason"]
    assert (
        "not valid base64" in (await wait_for(lambda: lib.outcome("BROKEN", "refused")))["reason"]
    )
    assert lib.file_count() == 0


def test_add_hook_for_evolution_prints_the_path(tmp_path: Any) -> None:
    from syncd.server.meta.sqlite import SqliteDb as Db
    from syncd.server.users import create_user

    data = tmp_path / "data"
    data.mkdir()
    db = Db(data / "library.db")
    create_user(db, "alice", 1 << 20, 1 << 20)
    db.close()
    args = [
        "alice",
        "--data",
        str(data),
        "--type",
        "evolution",
        "--gateway-url",
        "http://127.0.0.1:8080",
        "--api-key",
        "K",
        "--jwt-key",
        "J",
    ]
    done = CliRunner().invoke(add_hook, args)
    assert done.exit_code == 0, done.output
    assert done.output.splitlines()[-1].startswith("/hooks/hk_")
    assert "K" not in done.output.split("/hooks/")[0].split() and "J" not in done.output
    missing = CliRunner().invoke(add_hook, args[:7])
    assert missing.exit_code != 0 and "--api-key is required" in missing.output
