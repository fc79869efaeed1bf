"""Cloud API ingest against the real server and a fake Graph API on 127.0.0.1: handshake,
signatures, every media type, URL expiry -> re-resolve, status-only webhooks, host
allowlist, sha256 check, BSUID fallback, oversize by file_size."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from syncd.server.ingest import hooks
from tests.integration.ingest.conftest import Lib, wait_for
from tests.integration.ingest.fake_graph import (
    APP_SECRET,
    TOKEN,
    FakeGraph,
    contact,
    media_message,
    messages_webhook,
    post_cloud,
)

PHONE = "16505551234"


@pytest.fixture
async def graph() -> AsyncIterator[FakeGraph]:
    fake = FakeGraph()
    await fake.start()
    yield fake
    await fake.stop()


def cloud_hook(lib: Lib, graph: FakeGraph, **caps: int) -> str:
    config = hooks.HookConfig(
        graph_url=f"{graph.url}/v21.0",
        access_token=TOKEN,
        app_secret=APP_SECRET,
        verify_token="verify-me",
        media_hosts=[graph.host],
    )
    config.caps_bytes.update(caps)
    hook = hooks.add_hook(lib.state.db, lib.user_name, "cloudapi", config)
    return f"{lib.url}/hooks/{hook.id}"


async def test_verification_handshake(lib: Lib, graph: FakeGraph) -> None:
    url = cloud_hook(lib, graph)
    async with aiohttp.ClientSession() as client:
        query = {
            "hub.mode": "subscribe",
            "hub.verify_token": "verify-me",
            "hub.challenge": "1158201444",
        }
        async with client.get(url, params=query) as resp:
            assert (resp.status, await resp.text()) == (200, "1158201444")
        async with client.get(url, params={**query, "hub.verify_token": "wrong"}) as resp:
            assert resp.status == 403


async def test_media_types_are_fetched_by_media_id_and_filed(lib: Lib, graph: FakeGraph) -> None:
    url = cloud_hook(lib, graph)
    items = {
        "img": ("image", graph.add("img", b"jpeg" * 50, "image/jpeg"), {"caption": "Taj"}),
        "voc": ("audio", graph.add("voc", b"opus" * 50, "audio/ogg; codecs=opus"), {"voice": True}),
        "vid": ("video", graph.add("vid", b"mp4" * 50, "video/mp4"), {}),
        "doc": (
            "document",
            graph.add("doc", b"%PDF" * 50, "application/pdf"),
            {"filename": "receipt.pdf"},
        ),
        "stk": ("sticker", graph.add("stk", b"webp" * 50, "image/webp"), {"animated": True}),
    }
    messages = [
        media_message(kind, media_id, PHONE, item, **extra)
        for media_id, (kind, item, extra) in items.items()
    ]
    status, answer = await post_cloud(
        url, messages_webhook(messages, [contact(PHONE, "Sheena Nelson")])
    )
    assert status == 200 and answer["queued"] == 5
    for media_id in items:
        await wait_for(lambda m=media_id: lib.outcome(f"wamid.{m}", "stored"))
    files = await lib.files("Sheena Nelson")
    names = sorted(files)
    assert "receipt.pdf" in names
    assert [n[:4] for n in names if n != "receipt.pdf"] == ["IMG-", "STK-", "VID-", "Voic"]
    assert await lib.content(files["receipt.pdf"]["id"]) == b"%PDF" * 50
    folder = (await lib.folders())["Sheena Nelson"]
    assert folder["participant"]["phone"] == f"+{PHONE}"


async def test_expired_webhook_url_is_re_resolved(lib: Lib, graph: FakeGraph) -> None:
    url = cloud_hook(lib, graph)
    item = graph.add("exp", b"fresh bytes", "image/jpeg")
    stale = graph.media_url("exp", 0)
    graph.expired.add("/media/exp/0")
    message = media_message("image", "exp", PHONE, item, url=stale)
    await post_cloud(url, messages_webhook([message], [contact(PHONE, "Sam")]))
    event = await wait_for(lambda: lib.outcome("wamid.exp", "stored"))
    assert await lib.content(event["file_id"]) == b"fresh bytes"
    assert graph.resolves["exp"] == 1 and graph.downloads["exp"] == 2


async def test_direct_url_is_used_when_valid(lib: Lib, graph: FakeGraph) -> None:
    url = cloud_hook(lib, graph)
    item = graph.add("dir", b"direct", "image/png")
    message = media_message("image", "dir", PHONE, item, url=graph.media_url("dir", 0))
    await post_cloud(url, messages_webhook([message], [contact(PHONE, "Sam")]))
    await wait_for(lambda: lib.outcome("wamid.dir", "stored"))
    assert graph.resolves["dir"] == 0


async def test_status_only_and_bad_signature(lib: Lib, graph: FakeGraph) -> None:
    url = cloud_hook(lib, graph)
    statuses = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "1",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "statuses": [
                                {
                                    "id": "wamid.X",
                                    "status": "delivered",
                                    "timestamp": "1",
                                    "recipient_id": PHONE,
                                }
                            ],
                        },
                    }
                ],
            }
        ],
    }
    status, answer = await post_cloud(url, statuses)
    assert status == 200 and answer["queued"] == 0
    item = graph.add("sig", b"x", "image/jpeg")
    event = messages_webhook([media_message("image", "sig", PHONE, item)], [contact(PHONE, "S")])
    for secret in (None, "wrong-secret"):
        status, _ = await post_cloud(url, event, secret)
        assert status == 401
    assert lib.job_count() == 0 and lib.file_count() == 0 and graph.resolves == {}


async def test_media_host_not_on_allowlist_is_refused(lib: Lib, graph: FakeGraph) -> None:
    url = cloud_hook(lib, graph)
    graph.redirect_host = "localhost"
    item = graph.add("ssrf", b"x", "image/jpeg")
    await post_cloud(
        url, messages_webhook([media_message("image", "ssrf", PHONE, item)], [contact(PHONE, "S")])
    )
    event = await wait_for(lambda: lib.outcome("wamid.ssrf", "refused"))
    assert "host is not allowed" in event["reason"]
    assert graph.downloads["ssrf"] == 0 and lib.file_count() == 0


async def test_sha_mismatch_is_retried_then_failed(lib: Lib, graph: FakeGraph) -> None:
    url = cloud_hook(lib, graph)
    item = graph.add("bad", b"tampered", "image/jpeg")
    message = media_message("image", "bad", PHONE, item)
    message["image"]["sha256"] = "SfInY0gGKTsJlUWbwxC1k+FAD0FZHvzwfpvO0zX0GUI="
    await post_cloud(url, messages_webhook([message], [contact(PHONE, "S")]))
    event = await wait_for(lambda: lib.outcome("wamid.bad", "fetch_failed"))
    assert "sha256" in event["reason"]
    assert lib.file_count() == 0 and not list((lib.data_dir / "tmp").iterdir())


async def test_oversize_by_file_size_and_bsuid_fallback(lib: Lib, graph: FakeGraph) -> None:
    url = cloud_hook(lib, graph, video=100)
    big = graph.add("big", b"v" * 50, "video/mp4")
    big.size_override = 10_000
    small = graph.add("bs", b"hello", "image/jpeg")
    messages = [
        media_message("video", "big", PHONE, big),
        media_message("image", "bs", "US.13491208", small),
    ]
    await post_cloud(
        url,
        messages_webhook(messages, [contact(PHONE, "Big"), contact(None, "Hidden", "US.13491208")]),
    )
    refused = await wait_for(lambda: lib.outcome("wamid.big", "refused"))
    assert refused["reason"].startswith("too_large") and "video" in refused["reason"]
    await wait_for(lambda: lib.outcome("wamid.bs", "stored"))
    hidden = (await lib.folders())["Hidden"]
    assert hidden["participant"] == {
        "id": "bsuid:US.13491208",
        "phone": None,
        "display_name": "Hidden",
    }
