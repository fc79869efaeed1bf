"""The real `syncd serve` subprocess with a hook made by `syncd admin add-hook`: a signed WAHA
delivery from SampleGateway lands in the sender's folder; no secret reaches the server log."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from syncd.server.ingest.sample_gateway import SampleGateway
from tests.support.server import Api, start_server

HMAC = "proc-hmac-secret-value"


async def test_webhook_through_real_server_process(tmp_path: Path) -> None:
    media = tmp_path / "media"
    media.mkdir()
    photo = media / "photo.jpg"
    photo.write_bytes(b"\xff\xd8 real process photo")
    gw = SampleGateway(media)
    await gw.start()
    try:
        with start_server(tmp_path / "srv", test_hooks=False) as server:
            token = await asyncio.to_thread(server.add_user, "alice")
            out = await asyncio.to_thread(
                server.admin,
                "add-hook",
                "alice",
                "--type",
                "waha",
                "--gateway-url",
                gw.url,
                "--api-key",
                gw.api_key,
                "--hmac-key",
                HMAC,
            )
            hook_path = out.strip().splitlines()[-1]
            status, answer = await gw.deliver(
                server.url + hook_path,
                HMAC,
                "+4915112345678",
                "Alice",
                photo,
                "image/jpeg",
                "PROC1",
            )
            assert status == 200 and answer["queued"] == 1
            api = Api(server.url, token)
            deadline = time.monotonic() + 15
            while True:
                folders = await asyncio.to_thread(api.folders)
                files = await asyncio.to_thread(api.files, folders[0]["id"]) if folders else []
                if files or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.05)
            assert [f["name"] for f in folders] == ["Alice"]
            assert await asyncio.to_thread(api.download, files[0]["id"]) == photo.read_bytes()
            log = server.log()
        for secret in (HMAC, gw.api_key, token, hook_path.rsplit("/", 1)[1]):
            assert secret not in log
        assert "webhook_received" in log
    finally:
        await gw.stop()
