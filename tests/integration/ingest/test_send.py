"""Sending library files to a contact (POST /v1/files/{id}/send, GET /v1/sent) against the
real server and fake WAHA, Graph and Evolution gateways on loopback: each gateway's request
by kind, phone numbers, gateway failures retried then reported, hook choice and isolation."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import pytest

from syncd.server.ingest import hooks
from syncd.server.users import create_user
from tests.integration.ingest.conftest import Lib, wait_for
from tests.integration.ingest.fake_senders import FakeSenders

TO = "+1 (202) 555-0123"
FILES = {
    "photo.jpg": b"\xff\xd8jpeg" * 100,
    "voice.ogg": b"OggS" * 100,
    "clip.mp4": b"\x00\x00\x00\x18ftypmp42" * 50,
    "prices.pdf": b"%PDF-1.7 prices" * 50,
}


@pytest.fixture(autouse=True)
def _fast_send_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNCD_SEND_RETRY_DELAYS_S", "0.05,0.1,0.1")


@pytest.fixture
async def senders() -> AsyncIterator[FakeSenders]:
    fake = FakeSenders()
    await fake.start()
    yield fake
    await fake.stop()


async def library(lib: Lib) -> dict[str, str]:
    status, folder = await lib.call("POST", "/v1/folders", json={"name": "Shop"})
    assert status == 201, folder
    ids = {}
    for name, data in FILES.items():
        status, file = await lib.call("PUT", f"/v1/folders/{folder['id']}/files/{name}", data=data)
        assert status == 201, file
        ids[name] = file["id"]
    return ids


def add_hook(lib: Lib, hook_type: str, **config: Any) -> str:
    hook = hooks.add_hook(lib.state.db, lib.user_name, hook_type, hooks.HookConfig(**config))  # type: ignore[arg-type]
    return hook.id


async def send(lib: Lib, file_id: str, **body: Any) -> tuple[int, Any]:
    return await lib.call("POST", f"/v1/files/{file_id}/send", json={"to": TO, **body})


async def finished(lib: Lib, send_id: str) -> dict[str, Any]:
    async def done() -> dict[str, Any] | None:
        status, body = await lib.call("GET", "/v1/sent")
        assert status == 200, body
        record = next(r for r in body["items"] if r["id"] == send_id)
        return record if record["state"] in ("sent", "failed") else None

    return await wait_for(done)  # type: ignore[no-any-return]


async def test_waha_sends_each_kind_by_its_route(lib: Lib, senders: FakeSenders) -> None:
    ids = await library(lib)
    add_hook(lib, "waha", gateway_url=senders.url, api_key="waha-key", hmac_key="h", session="biz")
    for name in FILES:
        status, record = await send(lib, ids[name], caption="Here it is")
        assert status == 202 and record["state"] == "queued" and record["to"] == "+12025550123"
        done = await finished(lib, record["id"])
        assert done["state"] == "sent" and done["gateway_message_id"], done
    routes = {c.json["file"]["filename"]: c.path for c in senders.calls}
    assert routes == {
        "photo.jpg": "/api/sendImage",
        "voice.ogg": "/api/sendVoice",
        "clip.mp4": "/api/sendVideo",
        "prices.pdf": "/api/sendFile",
    }
    for call in senders.calls:
        name = call.json["file"]["filename"]
        assert call.headers["X-Api-Key"] == "waha-key"
        assert call.json["session"] == "biz" and call.json["chatId"] == "12025550123@c.us"
        assert base64.b64decode(call.json["file"]["data"]) == FILES[name]
        assert call.json.get("caption") == (None if name == "voice.ogg" else "Here it is")


async def test_cloud_api_uploads_the_media_then_sends_the_message(
    lib: Lib, senders: FakeSenders
) -> None:
    ids = await library(lib)
    add_hook(
        lib,
        "cloudapi",
        graph_url=f"{senders.url}/v21.0",
        access_token="meta-token",
        app_secret="s",
        verify_token="v",
        phone_number_id="1055",
    )
    status, record = await send(lib, ids["prices.pdf"], caption="Our prices")
    assert status == 202
    assert (await finished(lib, record["id"]))["gateway_message_id"] == "wamid.SENT"
    upload, message = senders.calls
    assert upload.path == "/v21.0/1055/media" and upload.form["file"] == FILES["prices.pdf"]
    assert upload.headers["Authorization"] == "Bearer meta-token"
    assert message.path == "/v21.0/1055/messages"
    assert message.json["to"] == "12025550123" and message.json["type"] == "document"
    assert message.json["document"] == {
        "id": "media-1",
        "caption": "Our prices",
        "filename": "prices.pdf",
    }


async def test_evolution_sends_media_with_its_apikey(lib: Lib, senders: FakeSenders) -> None:
    ids = await library(lib)
    add_hook(lib, "evolution", gateway_url=senders.url, api_key="evo-key", instance="shop")
    status, record = await send(lib, ids["photo.jpg"], caption="Olá")
    assert status == 202
    assert (await finished(lib, record["id"]))["gateway_message_id"] == "3EB0EVO"
    (call,) = senders.calls
    assert call.path == "/message/sendMedia/shop" and call.headers["apikey"] == "evo-key"
    assert call.json["number"] == "12025550123" and call.json["mediatype"] == "image"
    assert base64.b64decode(call.json["media"]) == FILES["photo.jpg"]
    assert call.json["caption"] == "Olá" and call.json["fileName"] == "photo.jpg"


@pytest.mark.parametrize("to", ["12025550123", "+1 abc 555", "+0 202 555 0123", "+1 202", ""])
async def test_a_bad_phone_number_is_refused_and_nothing_is_queued(
    lib: Lib, senders: FakeSenders, to: str
) -> None:
    ids = await library(lib)
    add_hook(lib, "waha", gateway_url=senders.url, api_key="k", hmac_key="h")
    status, body = await lib.call("POST", f"/v1/files/{ids['photo.jpg']}/send", json={"to": to})
    assert status == 400 and "phone" in body["error"]["message"], body
    assert (await lib.call("GET", "/v1/sent"))[1]["items"] == []


async def test_gateway_errors_are_retried_then_reported(lib: Lib, senders: FakeSenders) -> None:
    ids = await library(lib)
    add_hook(lib, "waha", gateway_url=senders.url, api_key="k", hmac_key="h")
    senders.fail_next = [503, 502]
    _, record = await send(lib, ids["photo.jpg"])
    done = await finished(lib, record["id"])
    assert done["state"] == "sent" and done["attempts"] == 3 and done["error"] is None
    senders.fail_next = [503] * 10
    _, record = await send(lib, ids["photo.jpg"])
    failed = await finished(lib, record["id"])
    assert failed["state"] == "failed" and failed["attempts"] == 4
    assert failed["gateway_status"] == 503 and "fake failure 503" in failed["error"]
    senders.fail_next = [400]
    _, record = await send(lib, ids["photo.jpg"])
    refused = await finished(lib, record["id"])  # a 400 is final: not retried
    assert refused["state"] == "failed" and refused["attempts"] == 1


async def test_hook_choice_and_tenant_isolation(lib: Lib, senders: FakeSenders) -> None:
    ids = await library(lib)
    status, body = await send(lib, ids["photo.jpg"])
    assert status == 409 and "no gateway hook" in body["error"]["message"]
    first = add_hook(lib, "waha", gateway_url=senders.url, api_key="k", hmac_key="h")
    add_hook(lib, "evolution", gateway_url=senders.url, api_key="e", instance="shop")
    status, body = await send(lib, ids["photo.jpg"])
    assert status == 409 and "choose one" in body["error"]["message"]
    status, record = await send(lib, ids["photo.jpg"], hook=first)
    assert status == 202 and record["hook_id"] == first
    _, bob = create_user(lib.state.db, "bob", 1 << 20, 1 << 20)
    bob_hook = hooks.add_hook(
        lib.state.db,
        "bob",
        "waha",
        hooks.HookConfig(gateway_url=senders.url, api_key="b", hmac_key="h"),
    )
    status, _ = await send(lib, ids["photo.jpg"], hook=bob_hook.id)
    assert status == 404  # bob's hook is not alice's
    status, _ = await lib.call(
        "POST", f"/v1/files/{ids['photo.jpg']}/send", json={"to": TO}, token=bob
    )
    assert status == 404  # alice's file is not bob's
    assert (await lib.call("GET", "/v1/sent", token=bob))[1]["items"] == []
    cloud = add_hook(
        lib, "cloudapi", graph_url=senders.url, access_token="t", app_secret="s", verify_token="v"
    )
    status, body = await send(lib, ids["photo.jpg"], hook=cloud)
    assert status == 409 and "--phone-number-id" in body["error"]["message"]
