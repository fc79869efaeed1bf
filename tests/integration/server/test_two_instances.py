"""Two `syncd serve` processes on one PostgreSQL database (and one S3 bucket prefix) act as one
library: parallel uploads through both never exceed the quota, both list the same files, a
long poll on one instance wakes when the other commits (LISTEN/NOTIFY), and an ingest job
claimed by an instance killed mid-fetch is finished by the other, a blob one instance has
stored but not yet committed is never deleted by the other, and an instance killed mid-upload
leaves nothing incomplete referenced."""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import obstore
import pytest

from syncd.server.blobs.s3 import S3Backend
from syncd.server.ingest.naming import extension_for
from syncd.server.ingest.sample_gateway import SampleGateway
from syncd.server.state import ServerState
from tests.support.postgres import PostgresServer
from tests.support.rawhttp import Conn
from tests.support.s3 import SeaweedS3, driver_store, stored_digests
from tests.support.server import Api, ApiFailure, ServerProcess, start_server

MiB = 1 << 20
HMAC = "pair-hmac-secret"


@pytest.fixture
def pair(
    tmp_path: Path, postgres: PostgresServer, seaweed: SeaweedS3, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    for key, value in seaweed.env().items():
        monkeypatch.setenv(key, value)  # the servers inherit the bucket's credentials
    db_url = postgres.fresh_database()
    blobs = ["--blobs", seaweed.blobs_url(f"pair-{uuid.uuid4().hex[:12]}")]
    with (
        start_server(tmp_path / "a", db_url=db_url, args=blobs) as a,
        start_server(tmp_path / "b", db_url=db_url, args=blobs) as b,
    ):
        yield a, b


def test_parallel_uploads_through_both_never_exceed_the_quota(
    pair: tuple[ServerProcess, ServerProcess],
) -> None:
    a, b = pair
    token = a.add_user("alice", quota="30MiB")
    apis = [Api(a.url, token), Api(b.url, token)]
    folder = apis[0].create_folder("Campaign")["id"]

    def upload(i: int) -> int:
        try:
            apis[i % 2].upload(folder, f"f{i:02}.bin", os.urandom(MiB))
        except ApiFailure as failure:
            assert failure.code == "quota_exceeded", failure.body
            return 507
        return 201

    with ThreadPoolExecutor(40) as pool:
        statuses = list(pool.map(upload, range(40)))
    stored = statuses.count(201)
    assert 0 < stored <= 30 and statuses.count(507) == 40 - stored
    accounts = [api.account()["quota"] for api in apis]
    assert accounts[0]["used_bytes"] == accounts[1]["used_bytes"] == stored * MiB
    names = [sorted(f["name"] for f in api.files(folder)) for api in apis]
    assert names[0] == names[1] and len(names[0]) == stored


def test_long_poll_on_one_instance_wakes_for_a_change_through_the_other(
    pair: tuple[ServerProcess, ServerProcess],
) -> None:
    a, b = pair
    token = a.add_user("alice")
    on_a, on_b = Api(a.url, token), Api(b.url, token)
    folder = on_b.create_folder("Campaign")["id"]
    cursor = on_a.changes(0)["cursor"]
    answer: dict[str, object] = {}

    def poll() -> None:
        answer["page"] = on_a.changes(cursor, wait_s=20)
        answer["at"] = time.monotonic()

    poller = threading.Thread(target=poll)
    poller.start()
    time.sleep(0.5)  # let the poll park on A (not an assertion)
    assert poller.is_alive()
    sent_at = time.monotonic()
    on_b.upload(folder, "through-b.jpg", b"photo")
    poller.join(timeout=10)
    page = answer["page"]
    assert isinstance(page, dict)
    assert [c["object"]["name"] for c in page["changes"] if c["type"] == "file"] == [
        "through-b.jpg"
    ]
    assert float(answer["at"]) - sent_at < 2.0  # type: ignore[arg-type]


async def test_ingest_job_of_a_killed_instance_is_finished_by_the_other(
    tmp_path: Path, postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A claims the fetch and is SIGKILLed while the gateway stalls; once the claim's lease
    runs out, B fetches the media and files it once."""
    monkeypatch.setenv("SYNCD_INGEST_LEASE_S", "1")
    media = tmp_path / "media"
    media.mkdir()
    photo = media / "photo.jpg"
    photo.write_bytes(b"\xff\xd8 photo of a killed fetch")
    gw = SampleGateway(media)
    await gw.start()
    db_url = postgres.fresh_database()
    try:
        with (
            start_server(tmp_path / "a", db_url=db_url) as a,
            start_server(tmp_path / "b", db_url=db_url) as b,
        ):
            token = await asyncio.to_thread(a.add_user, "alice")
            hook = await asyncio.to_thread(
                a.admin, "add-hook", "alice", "--type", "waha", "--gateway-url", gw.url,
                "--api-key", gw.api_key, "--hmac-key", HMAC,
            )  # fmt: skip
            gw.faults[f"KILL1.{extension_for('image/jpeg')}"] = ["stall"]
            hook_path = hook.strip().splitlines()[-1]
            status, _ = await gw.deliver(
                a.url + hook_path, HMAC, "+4915112345678", "Alice", photo, "image/jpeg", "KILL1"
            )
            assert status == 200
            await _until(lambda: sum(gw.fetches.values()) == 1)  # A is stuck in the fetch
            a.kill()
            api = Api(b.url, token)
            files = await _until(lambda: _all_files(api))
            assert [f["name"] for f in files] == [files[0]["name"]] and len(files) == 1
            assert await asyncio.to_thread(api.download, files[0]["id"]) == photo.read_bytes()
            assert sum(gw.fetches.values()) == 2
    finally:
        await gw.stop()


def _all_files(api: Api) -> list[dict[str, object]]:
    return [f for folder in api.folders() for f in api.files(str(folder["id"]))]


async def _until(check: Callable[[], object], timeout_s: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = await asyncio.to_thread(check)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s} s (last: {value!r})")
        await asyncio.sleep(0.1)


async def test_a_pin_on_one_instance_keeps_the_blob_from_the_others_collect(
    tmp_path: Path, postgres: PostgresServer, seaweed: SeaweedS3, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A has stored a blob and not yet committed its row: B's collect (a delete of another
    file with the same content, or B's start sweep) leaves it; once A unpins with no row
    referring to it, B removes it."""
    for key, value in seaweed.env().items():
        monkeypatch.setenv(key, value)
    db_url, blobs = postgres.fresh_database(), seaweed.blobs_url(f"pin-{uuid.uuid4().hex[:12]}")
    a = ServerState.open(tmp_path / "a", db_url=db_url, blobs_url=blobs)
    b = ServerState.open(tmp_path / "b", db_url=db_url, blobs_url=blobs)
    try:
        data = os.urandom(4096)

        async def body() -> AsyncIterator[bytes]:
            yield data

        temp = await a.blobs.receive(body(), len(data))
        await a.blobs.adopt(temp)
        assert stored_digests(blobs, seaweed.env()) == [temp.sha256]
        assert not await b.blobs.collect(temp.sha256)
        assert stored_digests(blobs, seaweed.env()) == [temp.sha256]
        a.blobs.unpin(temp.sha256)
        assert await b.blobs.collect(temp.sha256)
        assert stored_digests(blobs, seaweed.env()) == []
    finally:
        await a.close()
        await b.close()


def _put_and_kill(server: ServerProcess, token: str, folder: str, data: bytes, sent: int) -> None:
    """A PUT of `data` to `server` of which only `sent` bytes arrive; then SIGKILL."""
    conn = Conn(server.url)
    conn.send(
        f"PUT /v1/folders/{folder}/files/big.bin HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: Bearer {token}\r\nContent-Length: {len(data)}\r\n\r\n".encode()
    )
    conn.send(data[:sent])
    server.kill()


def test_an_instance_killed_mid_upload_leaves_nothing_incomplete_referenced(
    pair: tuple[ServerProcess, ServerProcess], seaweed: SeaweedS3
) -> None:
    """SIGKILL while the body arrives, and again right after it all arrived (the instance
    hashing it or putting it into the bucket): the other instance lists either the whole file
    or nothing, usage counts only what it lists, and no stored object holds partial bytes."""
    a, b = pair
    blobs_url = a.args[a.args.index("--blobs") + 1]
    token = a.add_user("alice", quota="200MiB")
    data = os.urandom(24 * MiB)
    folder = Api(b.url, token).create_folder("Campaign")["id"]
    _put_and_kill(a, token, folder, data, 8 * MiB)
    on_b = Api(b.url, token)
    assert on_b.files(folder) == [] and on_b.account()["quota"]["used_bytes"] == 0
    _put_and_kill(b, token, folder, data, len(data))
    on_a = Api(a.restart().url, token)
    files = on_a.files(folder)
    assert len(files) <= 1
    assert on_a.account()["quota"]["used_bytes"] == len(data) * len(files)
    if files:
        assert on_a.download(files[0]["id"]) == data
    digest = hashlib.sha256(data).hexdigest()
    assert set(stored_digests(blobs_url, seaweed.env())) <= {digest}
    if digest in stored_digests(blobs_url, seaweed.env()):  # stored whole, or not at all
        probe = driver_store(blobs_url, seaweed.env())
        assert obstore.head(probe, S3Backend.key(digest))["size"] == len(data)
