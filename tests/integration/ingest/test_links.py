"""Share links on the real server: create, fetch without auth (also a Range), expiry, tampered
tokens, other users' files, dead once the file is deleted, key kept across restarts."""

from __future__ import annotations

import time
from pathlib import Path

import aiohttp

from syncd.server import links
from syncd.server.users import create_user
from tests.integration.ingest.conftest import Lib, running


async def upload(lib: Lib, data: bytes, name: str = "price list.pdf") -> str:
    status, folder = await lib.call("POST", "/v1/folders", json={"name": "Campaign"})
    assert status == 201
    status, file = await lib.call("PUT", f"/v1/folders/{folder['id']}/files/{name}", data=data)
    assert status == 201, file
    return str(file["id"])


async def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes, dict[str, str]]:
    async with aiohttp.ClientSession() as client, client.get(url, headers=headers) as resp:
        return resp.status, await resp.read(), dict(resp.headers)


async def test_link_serves_the_file_without_auth(lib: Lib) -> None:
    file_id = await upload(lib, b"%PDF-1.4 campaign")
    status, link = await lib.call("POST", f"/v1/files/{file_id}/links", json={"expires_in_s": 600})
    assert status == 201 and link["url"].startswith(lib.url + "/s/")
    assert link["expires_at"].endswith("Z")
    status, body, headers = await get(link["url"])
    assert (status, body) == (200, b"%PDF-1.4 campaign")
    assert headers["Content-Type"] == "application/pdf"
    assert "price%20list.pdf" in headers["Content-Disposition"]
    status, body, _ = await get(link["url"], {"Range": "bytes=0-3"})
    assert (status, body) == (206, b"%PDF")


async def test_expired_and_tampered_tokens_are_refused(lib: Lib) -> None:
    file_id = await upload(lib, b"data")
    status, link = await lib.call("POST", f"/v1/files/{file_id}/links", json={})
    token = link["url"].rsplit("/", 1)[1]
    fid, expires, mac = token.split(".")
    tampered = [
        f"{fid}.{int(expires) + 1}.{mac}",
        f"{fid}.{expires}.{mac[:-2]}AA",
        f"fi_other.{expires}.{mac}",
        "garbage",
        f"{fid}.{expires}",
    ]
    for bad in tampered:
        status, body, _ = await get(f"{lib.url}/s/{bad}")
        assert status == 403, bad
    expired = links.make_token(links.signing_key(lib.state.db), fid, int(time.time()) - 1)
    status, body, _ = await get(f"{lib.url}/s/{expired}")
    assert status == 403 and b"expired" in body
    for bad_body in ({"expires_in_s": 0}, {"expires_in_s": "10"}, {"expires_in_s": 10**9}):
        status, _ = await lib.call("POST", f"/v1/files/{file_id}/links", json=bad_body)
        assert status == 400


async def test_link_dies_with_the_file_and_is_per_user(lib: Lib) -> None:
    file_id = await upload(lib, b"short-lived")
    _, link = await lib.call("POST", f"/v1/files/{file_id}/links", json={"expires_in_s": 60})
    _, bob = create_user(lib.state.db, "bob", 1 << 20, 1 << 20)
    status, _ = await lib.call("POST", f"/v1/files/{file_id}/links", token=bob, json={})
    assert status == 404
    status, _ = await lib.call("POST", f"/v1/files/{file_id}/links", token="bad", json={})
    assert status == 401
    status, _ = await lib.call("DELETE", f"/v1/files/{file_id}")
    assert status == 204
    status, _, _ = await get(link["url"])
    assert status == 404


async def test_links_survive_a_restart(tmp_path: Path) -> None:
    async with running(tmp_path / "d") as first:
        _, first.token = create_user(first.state.db, "alice", 1 << 20, 1 << 20)
        file_id = await upload(first, b"kept")
        _, link = await first.call("POST", f"/v1/files/{file_id}/links", json={})
        path = link["url"].removeprefix(first.url)
    async with running(tmp_path / "d") as second:
        status, body, _ = await get(second.url + path)
        assert (status, body) == (200, b"kept")
