"""Small files travel many per request (batches.py) against the real server: downloads through
batch-read land verified, durable and recorded, uploads through batch-write are each checked
on their own; one bad file never fails its neighbours, and bigger files take the single routes."""

from __future__ import annotations

import asyncio
import hashlib
import os
import struct
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from syncd.errors import DigestMismatch, NotFound, StaleError, TransportError
from syncd.frames import END_FRAME, MEDIA_TYPE, encode_frame
from syncd.protocol import File
from syncd.sync import model as m
from syncd.sync.client import ApiClient
from syncd.sync.executor import Executor
from syncd.sync.remote import RemoteMirror, remote_file
from syncd.sync.statedb import StateDB
from syncd.sync.status import StatusBoard
from tests.support.proxy import FaultProxy
from tests.support.server import Api, ServerProcess

SMALL = 16 * 1024


async def _run_all(
    url: str, token: str, root: Path, db: StateDB, actions: list[Any]
) -> list[BaseException | None]:
    """As the engine runs a pass's file actions: all at once, 4 transfer slots."""
    async with ApiClient(url, token) as client:
        executor = Executor(root, client, db, RemoteMirror(), StatusBoard(), small_file_bytes=SMALL)
        outcomes = await asyncio.gather(
            *(executor.run(action) for action in actions), return_exceptions=True
        )
    return [o if isinstance(o, BaseException) else None for o in outcomes]


def test_small_downloads_go_many_per_request(server: ServerProcess, tmp_path: Path) -> None:
    token = server.add_user("alice")
    api = Api(server.url, token)
    folder = api.create_folder("Alice")
    contents = {f"{i:03}.jpg": os.urandom(100 + 97 * i) for i in range(150)}
    contents["video.mp4"] = os.urandom(SMALL * 3)  # above the threshold: a GET of its own
    uploaded = [api.upload(folder["id"], n, d) for n, d in contents.items()]
    api.delete_file(uploaded[7]["id"])  # planned, then gone from the server: fails alone
    root = tmp_path / "root"
    root.mkdir()
    db = StateDB.open(tmp_path / "state.db")
    before = api.counters()["requests"]
    actions = [m.Download(remote_file(File.model_validate(f), "Alice"), None) for f in uploaded]
    try:
        outcomes = asyncio.run(_run_all(server.url, token, root, db, actions))
        base = db.load_base()
    finally:
        db.close()
    assert isinstance(outcomes[7], NotFound)
    assert [o for i, o in enumerate(outcomes) if i != 7] == [None] * 150
    del contents[uploaded[7]["name"]]
    on_disk = {p.name: p.read_bytes() for p in (root / "Alice").iterdir()}
    assert on_disk == contents  # no temp file left, nothing else
    for file in uploaded:
        if file["name"] in contents:
            assert (root / "Alice" / file["name"]).stat().st_mtime_ns == file["mtime_ns"]
            assert base.files[m.RelPath("Alice", file["name"])].sha256 == file["sha256"]
    requests = api.counters()["requests"]
    batch_reads = requests.get("batch_read", 0) - before.get("batch_read", 0)
    singles = requests.get("file_content", 0) - before.get("file_content", 0)
    # 150 files queued at once, spread over the 4 slots: groups of 38, 28, 21, 16, 16, 16, 15
    assert 4 <= batch_reads <= 8, requests
    assert singles <= 2, requests  # the video, and at most a lone straggler


def test_a_cut_batch_answer_lands_only_whole_verified_files(
    server: ServerProcess, tmp_path: Path
) -> None:
    """The proxy resets each connection part-way through its batch-read answer, while the temp
    writer is still writing the files whose frame came: those land whole, verified and
    recorded; the others fail with TransportError and leave nothing at their final name."""
    token = server.add_user("alice")
    api = Api(server.url, token)
    folder = api.create_folder("Alice")
    contents = {f"{i:03}.jpg": os.urandom(3000 + 11 * i) for i in range(64)}
    uploaded = [api.upload(folder["id"], n, d) for n, d in contents.items()]
    root = tmp_path / "root"
    root.mkdir()
    db = StateDB.open(tmp_path / "state.db")
    actions = [m.Download(remote_file(File.model_validate(f), "Alice"), None) for f in uploaded]
    with FaultProxy("127.0.0.1", int(server.url.rsplit(":", 1)[1])) as proxy:
        proxy.state.cut_down_after = 20_000  # 4 groups of 16 files (~52 KB each): ~6 come
        try:
            outcomes = asyncio.run(_run_all(proxy.url, token, root, db, actions))
            base = db.load_base()
        finally:
            db.close()
    landed = {f["name"] for f, o in zip(uploaded, outcomes, strict=True) if o is None}
    failed = [o for o in outcomes if o is not None]
    assert landed, outcomes
    assert failed, outcomes
    assert all(isinstance(o, TransportError) for o in failed), failed
    on_disk = {p.name: p.read_bytes() for p in (root / "Alice").iterdir()}
    assert on_disk == {n: contents[n] for n in landed}  # no temp file, no part of a file
    assert {p.name for p in base.files} == landed


def _local(root: Path, name: str, data: bytes) -> m.LocalFile:
    path = root / "Alice" / name
    path.write_bytes(data)
    st = path.stat()
    return m.LocalFile(
        m.RelPath("Alice", name),
        len(data),
        st.st_mtime_ns,
        st.st_ino,
        hashlib.sha256(data).hexdigest(),
    )


def test_small_uploads_go_many_per_request(server: ServerProcess, tmp_path: Path) -> None:
    token = server.add_user("alice")
    api = Api(server.url, token)
    folder = api.create_folder("Alice")
    root = tmp_path / "root"
    (root / "Alice").mkdir(parents=True)
    contents = {f"{i:03}.jpg": os.urandom(50 + 113 * i) for i in range(100)}
    contents["video.mp4"] = os.urandom(SMALL * 2)
    locals_ = {name: _local(root, name, data) for name, data in contents.items()}
    # After the scan: one file rewritten in place (same size and mtime, other bytes: only the
    # server's digest check can tell), one cut short.
    changed, shrunk = "010.jpg", "020.jpg"
    (root / "Alice" / changed).write_bytes(os.urandom(len(contents[changed])))
    os.utime(root / "Alice" / changed, ns=(locals_[changed].mtime_ns,) * 2)
    with (root / "Alice" / shrunk).open("r+b") as handle:
        handle.truncate(10)
    os.utime(root / "Alice" / shrunk, ns=(locals_[shrunk].mtime_ns,) * 2)
    db = StateDB.open(tmp_path / "state.db")
    before = api.counters()["requests"]
    actions = [m.Upload(local, folder["id"], None) for local in locals_.values()]
    try:
        outcomes = asyncio.run(_run_all(server.url, token, root, db, actions))
        base = db.load_base()
    finally:
        db.close()
    by_name = dict(zip(locals_, outcomes, strict=True))
    assert isinstance(by_name.pop(changed), DigestMismatch)
    assert isinstance(by_name.pop(shrunk), StaleError)  # its stat no longer matches
    assert set(by_name.values()) == {None}
    stored = {f["name"]: api.download(f["id"]) for f in api.files(folder["id"])}
    assert stored == {n: d for n, d in contents.items() if n not in (changed, shrunk)}
    assert {p.name for p in base.files} == set(stored)
    for f in api.files(folder["id"]):
        assert f["mtime_ns"] == locals_[f["name"]].mtime_ns
    requests = api.counters()["requests"]
    batch_writes = requests.get("batch_write", 0) - before.get("batch_write", 0)
    singles = requests.get("upload_file", 0) - before.get("upload_file", 0)
    # 100 files spread over the 4 slots: groups of 25, 19, 16, 16, 16, 8
    assert 3 <= batch_writes <= 7, requests
    assert singles <= 2, requests


async def _against_hostile_server(
    answer: bytes, root: Path, db: StateDB, actions: list[Any]
) -> list[BaseException | None]:
    """A server that answers every batch read with `answer` (then ends the body)."""

    async def batch_read(_request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": MEDIA_TYPE})
        await resp.prepare(_request)
        await resp.write(answer)
        await resp.write_eof()
        return resp

    app = web.Application()
    app.router.add_post("/v1/files:batch-read", batch_read)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        return await _run_all(f"http://127.0.0.1:{port}", "token", root, db, actions)
    finally:
        await runner.cleanup()


@pytest.mark.parametrize(
    "breakage", ["header not JSON", "no end frame", "payload cut", "data after the end"]
)
def test_a_malformed_batch_answer_fails_only_the_files_it_did_not_deliver(
    tmp_path: Path, breakage: str
) -> None:
    """Hostile server: after one well-formed frame the answer breaks the frame format. The
    delivered file lands whole and verified; every other file fails with TransportError and
    leaves nothing in the folder: no part of a file, no temp file."""
    contents = {f"{i}.jpg": os.urandom(500 + i) for i in range(3)}
    remotes = [
        m.RemoteFile(
            m.RelPath("Alice", name),
            f"f{i}",
            "d1",
            len(data),
            hashlib.sha256(data).hexdigest(),
            1_600_000_000 * 10**9,
            1,
        )
        for i, (name, data) in enumerate(contents.items())
    ]
    good = encode_frame({"id": "f0", "status": 200}, contents["0.jpg"])
    second = encode_frame({"id": "f1", "status": 200}, contents["1.jpg"])
    answer = {
        "header not JSON": good + struct.pack(">I", 5) + b"{oops" + second,
        "no end frame": good,
        "payload cut": good + second[:-100],
        "data after the end": good + END_FRAME + second,
    }[breakage]
    root = tmp_path / "root"
    (root / "Alice").mkdir(parents=True)
    db = StateDB.open(tmp_path / "state.db")
    actions = [m.Download(remote, None) for remote in remotes]
    try:
        outcomes = asyncio.run(_against_hostile_server(answer, root, db, actions))
        base = db.load_base()
    finally:
        db.close()
    assert outcomes[0] is None
    assert all(isinstance(o, TransportError) for o in outcomes[1:]), outcomes
    assert "batch read" in str(outcomes[1])
    assert {p.name: p.read_bytes() for p in (root / "Alice").iterdir()} == {
        "0.jpg": contents["0.jpg"]
    }
    assert set(base.files) == {m.RelPath("Alice", "0.jpg")}
