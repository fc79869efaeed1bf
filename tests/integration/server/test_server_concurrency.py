"""Parallel uploads against the quota, disconnect mid-upload, racing writers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

from tests.integration.server.conftest import Client, Srv

BACKENDS = ("local", "s3")  # racing uploads of one hash meet in the blob store


def slow_body(size: int, pieces: int = 3, pause_s: float = 0.05) -> AsyncIterator[bytes]:
    async def gen() -> AsyncIterator[bytes]:
        step = size // pieces
        for i in range(pieces):
            yield b"z" * (step if i < pieces - 1 else size - step * (pieces - 1))
            await asyncio.sleep(pause_s)

    return gen()


async def slow_put(
    client: Client, folder: str, name: str, size: int, headers: dict[str, str] | None = None
) -> int:
    hdrs = {"Content-Length": str(size), **(headers or {})}
    reply = await client.call(
        "PUT", f"/v1/folders/{folder}/files/{name}", data=slow_body(size), headers=hdrs
    )
    return reply.status


def user_id(srv: Srv, name: str) -> str:
    return str(srv.state.db.one("SELECT id FROM users WHERE name=?", name)["id"])


async def test_20_parallel_uploads_never_exceed_quota(srv: Srv) -> None:
    alice = srv.user("alice", quota_bytes=1000, max_file_bytes=1000)
    folder = await alice.folder()
    uid = user_id(srv, "alice")
    peak = 0
    done = asyncio.Event()

    async def watch() -> None:
        nonlocal peak
        while not done.is_set():
            row = srv.state.db.one("SELECT used_bytes FROM users WHERE id=?", uid)
            peak = max(peak, row["used_bytes"] + srv.state.quotas.reserved_bytes(uid))
            await asyncio.sleep(0.005)

    watcher = asyncio.create_task(watch())
    statuses = await asyncio.gather(*(slow_put(alice, folder, f"f{i}.bin", 120) for i in range(20)))
    done.set()
    await watcher
    assert sorted(statuses) == [201] * 8 + [507] * 12
    assert peak <= 1000
    account = (await alice.call("GET", "/v1/account")).json
    assert account["quota"]["used_bytes"] == 960 and account["counts"]["files"] == 8
    assert srv.state.quotas.reserved_bytes(uid) == 0
    assert len(srv.stored()) == 1, "20 uploads of one content: one blob"


async def test_disconnect_mid_upload_leaves_nothing(srv: Srv) -> None:
    alice = srv.user("alice")
    folder = await alice.folder()
    uid = user_id(srv, "alice")
    parts = urlsplit(srv.url)
    _reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    writer.write(
        f"PUT /v1/folders/{folder}/files/cut.bin HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: Bearer {alice.token}\r\nContent-Length: 1000000\r\n\r\n".encode()
        + b"a" * 100_000
    )
    await writer.drain()
    deadline = time.monotonic() + 5
    while srv.state.quotas.reserved_bytes(uid) != 1_000_000:  # the upload is in flight
        assert time.monotonic() < deadline, "upload never started"
        await asyncio.sleep(0.01)
    writer.transport.abort()
    deadline = time.monotonic() + 10
    while srv.state.quotas.reserved_bytes(uid) or list((srv.data_dir / "tmp").iterdir()):
        assert time.monotonic() < deadline, "reservation or temp file left behind"
        await asyncio.sleep(0.02)
    assert (await alice.call("GET", f"/v1/folders/{folder}/files")).json["files"] == []
    assert (await alice.call("GET", "/v1/account")).json["quota"]["used_bytes"] == 0
    assert srv.stored() == []


async def test_two_writers_same_if_match_one_wins(srv: Srv) -> None:
    alice = srv.user("alice")
    folder = await alice.folder()
    file = await alice.upload(folder, "doc.txt", b"v1")
    statuses = await asyncio.gather(
        slow_put(alice, folder, "doc.txt", 30, {"If-Match": '"1"'}),
        slow_put(alice, folder, "doc.txt", 40, {"If-Match": '"1"'}),
    )
    assert sorted(statuses) == [200, 412]
    meta = (await alice.call("GET", f"/v1/files/{file['id']}")).json
    assert meta["rev"] == 2 and meta["size"] in (30, 40)
    assert (await alice.call("GET", "/v1/account")).json["quota"]["used_bytes"] == meta["size"]
    assert len(srv.stored()) == 1


async def test_two_creators_if_none_match_one_wins(srv: Srv) -> None:
    alice = srv.user("alice")
    folder = await alice.folder()
    statuses = await asyncio.gather(
        slow_put(alice, folder, "new.txt", 30, {"If-None-Match": "*"}),
        slow_put(alice, folder, "NEW.txt", 40, {"If-None-Match": "*"}),
    )
    assert sorted(statuses) == [201, 412]
