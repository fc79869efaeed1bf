"""The batch routes against the real app on 127.0.0.1: one bad file of a batch does not fail
its neighbours, tenants stay apart, quota holds under 20 parallel batches, and a cut or
malformed body is a clear 400 that stores nothing."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import struct
from collections.abc import AsyncIterator
from typing import Any

from syncd.frames import END_FRAME, Frame, FrameDecoder, encode_frame
from syncd.protocol import BATCH_MAX_BYTES, BATCH_MAX_FILES
from tests.integration.server.conftest import Client, Reply, Srv

KiB = 1024


def _header(folder: str, name: str, data: bytes, **extra: Any) -> dict[str, Any]:
    return {"folder_id": folder, "name": name, "sha256": hashlib.sha256(data).hexdigest(), **extra}


def _body(*files: tuple[dict[str, Any], bytes]) -> bytes:
    return b"".join(encode_frame(header, data) for header, data in files) + END_FRAME


async def _write(user: Client, body: bytes) -> Reply:
    return await user.call("POST", "/v1/files:batch-write", data=body)


async def _read(user: Client, ids: list[str]) -> list[Frame]:
    reply = await user.call("POST", "/v1/files:batch-read", json={"ids": ids})
    assert reply.status == 200, reply.body
    decoder = FrameDecoder(BATCH_MAX_BYTES)
    frames = decoder.feed(reply.body)
    decoder.finish()
    return frames


async def _stored(srv: Srv, user: Client, folder: str) -> dict[str, bytes]:
    listing = (await user.call("GET", f"/v1/folders/{folder}/files")).json["files"]
    frames = await _read(user, [f["id"] for f in listing]) if listing else []
    return {f["name"]: frame.payload for f, frame in zip(listing, frames, strict=True)}


def _no_temp_blobs(srv: Srv) -> bool:
    return not any((srv.data_dir / "tmp").iterdir())


async def test_batch_read_serves_each_file_and_refuses_others_per_file(srv: Srv) -> None:
    alice, bob = srv.user("alice"), srv.user("bob")
    folder = await alice.folder()
    files = [await alice.upload(folder, f"{i}.jpg", os.urandom(i * 700)) for i in range(4)]
    bobs = await bob.upload(await bob.folder(), "secret.jpg", b"bob's")
    ids = [files[2]["id"], "fi_missing", bobs["id"], files[0]["id"], files[3]["id"]]
    frames = await _read(alice, ids)
    assert [f.header["id"] for f in frames] == ids
    assert [f.header["status"] for f in frames] == [200, 404, 404, 200, 200]
    for frame, file in zip(
        [frames[0], frames[3], frames[4]], [files[2], files[0], files[3]], strict=True
    ):
        assert frame.header["sha256"] == file["sha256"]
        assert frame.header["sha256"] == hashlib.sha256(frame.payload).hexdigest()
        assert frame.header["size"] == file["size"] == len(frame.payload)
    assert frames[2].header["error"]["code"] == "not_found"
    assert frames[2].payload == b""  # another user's file: nothing of it, not even its size
    assert frames[2].header.get("size", 0) == 0


async def test_batch_read_bounds(srv: Srv) -> None:
    alice = srv.user("alice", quota_bytes=64 << 20, max_file_bytes=32 << 20)
    folder = await alice.folder()
    big = [await alice.upload(folder, f"{i}.mp4", os.urandom(9 << 20)) for i in range(2)]
    reply = await alice.call("POST", "/v1/files:batch-read", json={"ids": [f["id"] for f in big]})
    assert (reply.status, reply.code) == (413, "body_too_large")
    too_many = {"ids": [f"fi_{i}" for i in range(BATCH_MAX_FILES + 1)]}
    for body in (too_many, {"ids": []}, {"ids": "fi_1"}, {"ids": [1]}, {}):
        reply = await alice.call("POST", "/v1/files:batch-read", json=body)
        assert (reply.status, reply.code) == (400, "bad_request"), body


async def test_digest_mismatch_in_one_file_leaves_the_others_stored(srv: Srv) -> None:
    alice, bob = srv.user("alice"), srv.user("bob")
    folder, bobs_folder = await alice.folder(), await bob.folder()
    good1, bad, good2 = os.urandom(3000), os.urandom(2000), os.urandom(1000)
    body = _body(
        (_header(folder, "one.jpg", good1, mtime_ns=1_700_000_000_000_000_000), good1),
        ({**_header(folder, "bad.jpg", bad), "sha256": "0" * 64}, bad),
        (_header(bobs_folder, "intruder.jpg", good2), good2),  # bob's folder: not alice's
        (_header(folder, "bad/name.jpg", good2), good2),
        (_header(folder, "two.jpg", good2, if_none_match=True), good2),
    )
    reply = await _write(alice, body)
    assert reply.status == 200, reply.body
    results = reply.json["results"]
    assert [r["status"] for r in results] == [201, 400, 404, 400, 201]
    assert [r["index"] for r in results] == [0, 1, 2, 3, 4]
    assert results[1]["error"]["code"] == "digest_mismatch"
    assert results[3]["error"]["code"] == "invalid_name"
    assert results[0]["file"]["mtime_ns"] == 1_700_000_000_000_000_000
    assert await _stored(srv, alice, folder) == {"one.jpg": good1, "two.jpg": good2}
    assert (await bob.call("GET", f"/v1/folders/{bobs_folder}/files")).json["files"] == []
    account = (await alice.call("GET", "/v1/account")).json
    assert account["quota"]["used_bytes"] == len(good1) + len(good2)
    assert _no_temp_blobs(srv)


async def test_preconditions_per_file(srv: Srv) -> None:
    alice = srv.user("alice")
    folder = await alice.folder()
    old = await alice.upload(folder, "a.jpg", b"old")
    new = b"new content"
    body = _body(
        (_header(folder, "a.jpg", new, if_none_match=True), new),  # exists: 412
        (_header(folder, "a.jpg", new, if_match=old["rev"] + 5), new),  # other rev: 412
        (_header(folder, "a.jpg", new, if_match=old["rev"]), new),  # replaces
    )
    results = (await _write(alice, body)).json["results"]
    assert [r["status"] for r in results] == [412, 412, 200]
    assert results[2]["file"]["id"] == old["id"]
    assert await _stored(srv, alice, folder) == {"a.jpg": new}


async def test_quota_holds_under_20_parallel_batches(srv: Srv) -> None:
    limit = 1 << 20
    users = [srv.user("alice", quota_bytes=limit)]
    token = users[0].token
    folder = await users[0].folder()
    clients = [Client(srv, token) for _ in range(20)]
    size = 20 * KiB  # 20 clients x 4 files x 20 KiB = 1.6 MiB offered into 1 MiB
    highest = 0
    done = False

    async def watch() -> None:
        nonlocal highest
        while not done:
            row = srv.state.db.one("SELECT used_bytes FROM users WHERE name='alice'")
            assert row is not None
            highest = max(highest, int(row["used_bytes"]))
            await asyncio.sleep(0)

    async def one(n: int, client: Client) -> list[dict[str, Any]]:
        files = [os.urandom(size) for _ in range(4)]
        body = _body(*((_header(folder, f"{n}-{i}.bin", d), d) for i, d in enumerate(files)))
        reply = await _write(client, body)
        assert reply.status == 200, reply.body
        return list(reply.json["results"])

    watcher = asyncio.create_task(watch())
    outcomes = await asyncio.gather(*(one(n, c) for n, c in enumerate(clients)))
    done = True
    await watcher
    results = [r for batch in outcomes for r in batch]
    assert {r["status"] for r in results} == {201, 507}
    stored = [r for r in results if r["status"] == 201]
    assert len(stored) == limit // size  # filled exactly up to what fits
    used = (await users[0].call("GET", "/v1/account")).json["quota"]["used_bytes"]
    assert used == len(stored) * size == highest <= limit
    listing = (await users[0].call("GET", f"/v1/folders/{folder}/files?limit=5000")).json
    assert sorted(f["name"] for f in listing["files"]) == sorted(r["name"] for r in stored)
    assert srv.state.quotas.reserved_bytes(await _user_id(users[0])) == 0
    assert _no_temp_blobs(srv)


async def _user_id(user: Client) -> str:
    return str((await user.call("GET", "/v1/account")).json["user"]["id"])


async def _assert_nothing_stored(srv: Srv, user: Client, folder: str) -> None:
    assert (await user.call("GET", f"/v1/folders/{folder}/files")).json["files"] == []
    assert (await user.call("GET", "/v1/account")).json["quota"]["used_bytes"] == 0
    assert _no_temp_blobs(srv)
    assert srv.state.quotas.reserved_bytes(await _user_id(user)) == 0


async def test_malformed_batches_store_nothing(srv: Srv) -> None:
    alice = srv.user("alice")
    folder = await alice.folder()
    data = os.urandom(5000)
    first = encode_frame(_header(folder, "first.jpg", data), data)
    bad_json = struct.pack(">I", 5) + b"{nope"
    cases = {
        "no end frame": first,
        "cut inside frame 2": first + encode_frame(_header(folder, "b.jpg", data), data)[:-10],
        "not JSON": first + bad_json + END_FRAME,
        "'sha256'": first + encode_frame({**_header(folder, "c", data), "sha256": "xyz"}, data),
        "'name'": first + encode_frame({"folder_id": folder, "sha256": "0" * 64}) + END_FRAME,
        "'surprise'": first + encode_frame(_header(folder, "d", data, surprise=1), data),
        "after the end frame": first + END_FRAME + b"\x00",
        "header length": first + struct.pack(">I", 1 << 30) + END_FRAME,
    }
    for reason, body in cases.items():
        reply = await _write(alice, body)
        assert (reply.status, reply.code) == (400, "bad_request"), (reason, reply.body)
        assert "nothing stored" in reply.json["error"]["message"]
        assert reason in reply.json["error"]["message"], reply.json
        await _assert_nothing_stored(srv, alice, folder)


async def test_batch_write_refuses_oversized_and_lengthless_bodies(srv: Srv) -> None:
    alice = srv.user("alice", quota_bytes=64 << 20, max_file_bytes=64 << 20)
    folder = await alice.folder()

    async def chunked() -> AsyncIterator[bytes]:
        yield _body()

    reply = await alice.call("POST", "/v1/files:batch-write", data=chunked())
    assert (reply.status, reply.code) == (411, "length_required")
    big = os.urandom(BATCH_MAX_BYTES // 2 + 1)
    body = _body(*((_header(folder, f"{i}.mp4", big), big) for i in range(2)))
    reply = await _write(alice, body)
    assert (reply.status, reply.code) == (413, "body_too_large")
    await _assert_nothing_stored(srv, alice, folder)


async def test_client_gone_mid_body_stores_nothing(srv: Srv) -> None:
    alice = srv.user("alice")
    folder = await alice.folder()
    data = os.urandom(50_000)
    body = _body(*((_header(folder, f"{i}.jpg", data), data) for i in range(3)))
    host, port = srv.url.removeprefix("http://").split(":")
    _reader, writer = await asyncio.open_connection(host, int(port))
    head = (
        f"POST /v1/files:batch-write HTTP/1.1\r\nHost: test\r\n"
        f"Authorization: Bearer {alice.token}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    writer.write(head.encode() + body[: len(body) - 20_000])  # two files whole, the third cut
    await writer.drain()
    writer.close()
    for _ in range(100):  # the server notices the closed connection on its own time
        await asyncio.sleep(0.02)
        if not srv.state.quotas.reserved_bytes(await _user_id(alice)) and _no_temp_blobs(srv):
            break
    await _assert_nothing_stored(srv, alice, folder)
    assert json.loads((await alice.call("GET", "/v1/_test/counters")).body)["uploads"] == 0
