"""The S3 blob store against a real S3 server (SeaweedFS): nothing unverified is stored,
large files go multipart and read back by Range across windows, an unreachable store gives
503 (not a crash) and an unhealthy health, crash leftovers are swept, bad settings exit 78,
and the driver is imported only for s3:// URLs."""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
from obstore import get, head
from obstore import put as put_object
from obstore.store import S3Store

from syncd.server.blobs import s3 as s3_backend
from syncd.server.blobs.settings import parse_blobs_url
from tests.integration.server.conftest import Srv, running
from tests.support.proxy import FaultProxy
from tests.support.s3 import SeaweedS3, driver_store
from tests.support.server import REPO

BACKENDS = ("s3",)
MiB = 1 << 20


def bucket(srv: Srv) -> S3Store:
    """The test's own view of the bucket, through the driver (not syncd's backend)."""
    assert srv.blobs_url is not None
    store: S3Store = driver_store(srv.blobs_url)
    return store


def key(sha: str) -> str:
    return f"{sha[:2]}/{sha[2:4]}/{sha}"


async def test_digest_mismatch_stores_nothing(srv: Srv) -> None:
    alice = srv.user("alice")
    folder = await alice.folder()
    wrong = "sha-256=:" + "A" * 43 + "=:"
    reply = await alice.put(folder, "a.jpg", b"the real bytes", {"Repr-Digest": wrong})
    assert reply.status == 400 and reply.code == "digest_mismatch"
    assert srv.stored() == [] and list((srv.data_dir / "tmp").iterdir()) == []
    assert (await alice.call("GET", f"/v1/folders/{folder}/files")).json["files"] == []


async def test_large_file_multipart_and_ranges_across_windows(
    srv: Srv, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(s3_backend, "WINDOW_BYTES", 3 * MiB)  # several GETs for one answer
    data = os.urandom(s3_backend.PART_BYTES + 3 * MiB + 123)
    alice = srv.user("alice")
    f = await alice.upload(await alice.folder(), "video.mp4", data)
    meta = head(bucket(srv), key(f["sha256"]))
    assert meta["size"] == len(data)
    assert str(meta["e_tag"]).strip('"').endswith("-2"), "stored in two parts"
    full = await alice.call("GET", f"/v1/files/{f['id']}/content")
    assert full.status == 200 and full.body == data
    start, end = 3 * MiB - 10, 9 * MiB + 10  # spans window and part boundaries
    part = await alice.call(
        "GET", f"/v1/files/{f['id']}/content", headers={"Range": f"bytes={start}-{end}"}
    )
    assert part.status == 206 and part.body == data[start : end + 1]
    tail = await alice.call("GET", f"/v1/files/{f['id']}/content", headers={"Range": "bytes=-5"})
    assert tail.status == 206 and tail.body == data[-5:]


@pytest.fixture
async def behind_proxy(
    tmp_path: Path, seaweed: SeaweedS3, blobs_url: str
) -> AsyncIterator[tuple[Srv, FaultProxy]]:
    """A server whose bucket is reached through the fault proxy."""
    with FaultProxy("127.0.0.1", seaweed.port) as proxy:
        url = blobs_url.replace(seaweed.endpoint, proxy.url)
        async with running(tmp_path / "data", True, url) as srv:
            yield srv, proxy


async def test_unreachable_store_answers_503_and_health_says_so(
    behind_proxy: tuple[Srv, FaultProxy],
) -> None:
    srv, proxy = behind_proxy
    alice = srv.user("alice")
    folder = await alice.folder()
    f = await alice.upload(folder, "a.jpg", b"stored while reachable")
    health = await alice.call("GET", "/v1/health", auth=False)
    assert health.status == 200 and health.json["blobs"] == {"backend": "s3", "reachable": True}

    proxy.set_down()
    got = await alice.call("GET", f"/v1/files/{f['id']}/content")
    assert got.status == 503 and got.code == "unavailable", got.body
    assert got.headers["Retry-After"] == "5"
    put = await alice.put(folder, "b.jpg", b"not now")
    assert put.status == 503 and put.code == "unavailable", put.body
    assert list((srv.data_dir / "tmp").iterdir()) == [], "the spool file was removed"
    assert srv.state.quotas.reserved_bytes(srv.state.db.one("SELECT id FROM users")["id"]) == 0
    names = [
        x["name"] for x in (await alice.call("GET", f"/v1/folders/{folder}/files")).json["files"]
    ]
    assert names == ["a.jpg"], "nothing was committed without its bytes"
    health = await alice.call("GET", "/v1/health", auth=False)
    assert health.status == 503 and health.json["status"] == "unavailable"
    assert health.json["blobs"]["reachable"] is False
    assert health.json["blobs"]["reason"] == "no connection to the store"
    # A delete and a purge commit all the same: the object is left for the next start's sweep.
    assert (await alice.call("DELETE", f"/v1/files/{f['id']}")).status == 204
    purge = await alice.call("POST", "/v1/_test/purge-trash", json={"older_than_s": 0})
    assert purge.status == 200 and purge.json == {"purged": 1}
    assert srv.state.db.one("SELECT COUNT(*) AS n FROM files")["n"] == 0

    proxy.set_down(False)
    assert (await alice.call("GET", "/v1/health", auth=False)).status == 200
    assert srv.stored() == [f["sha256"]], "the orphan waits for the sweep"
    again = await alice.upload(folder, "a.jpg", b"stored while reachable")
    got = await alice.call("GET", f"/v1/files/{again['id']}/content")
    assert got.status == 200 and got.body == b"stored while reachable"
    assert (await alice.put(folder, "b.jpg", b"now")).status == 201


@pytest.mark.parametrize(
    ("bucket_name", "secret", "reason"),
    [
        ("no-such-bucket", None, "bucket not found (404)"),
        ("syncd", "not-the-secret", "credentials refused (403)"),
    ],
)
async def test_bad_bucket_or_credentials_are_unhealthy(
    tmp_path: Path,
    blobs_url: str,
    monkeypatch: pytest.MonkeyPatch,
    bucket_name: str,
    secret: str | None,
    reason: str,
) -> None:
    """Health names the kind of fault (the driver's full message, with the endpoint, goes
    only to the log: health is public)."""
    if secret is not None:
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    url = blobs_url.replace("s3://syncd/", f"s3://{bucket_name}/")
    async with running(tmp_path / "data", True, url) as srv:
        health = await srv.user("alice").call("GET", "/v1/health", auth=False)
    assert health.status == 503 and health.json["blobs"]["reachable"] is False
    assert health.json["blobs"]["reason"] == reason
    assert "127.0.0.1" not in health.body.decode()


async def test_store_lost_mid_download_cuts_the_connection(
    behind_proxy: tuple[Srv, FaultProxy], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once the status line is out, a failing store can only cut the answer short: the
    client sees fewer bytes than Content-Length (and resumes with Range), never wrong ones."""
    srv, proxy = behind_proxy
    monkeypatch.setattr(s3_backend, "WINDOW_BYTES", 256 * 1024)
    data = os.urandom(8 * MiB)
    alice = srv.user("alice")
    f = await alice.upload(await alice.folder(), "big.bin", data)
    headers = {"Authorization": f"Bearer {alice.token}"}
    async with srv.session.get(f"{srv.url}/v1/files/{f['id']}/content", headers=headers) as resp:
        assert resp.status == 200
        got = await resp.content.readexactly(64 * 1024)
        proxy.set_down()
        with pytest.raises(aiohttp.ClientPayloadError):
            async with asyncio.timeout(30):  # a hung answer fails here, not after minutes
                while chunk := await resp.content.read(1 << 20):
                    got += chunk
    assert len(got) < len(data) and data.startswith(got)


async def test_window_cut_short_resumes_where_it_stopped(
    behind_proxy: tuple[Srv, FaultProxy], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client slower than the store's request timeout: the window's GET is cut by the
    timeout and re-opened at the offset reached, so the answer is whole (it was cut short)."""
    srv, proxy = behind_proxy
    data = os.urandom(6 * MiB)
    alice = srv.user("alice")
    f = await alice.upload(await alice.folder(), "big.bin", data)
    monkeypatch.setattr(
        s3_backend, "CLIENT", {**s3_backend.CLIENT, "timeout": timedelta(seconds=1)}
    )
    monkeypatch.setattr(s3_backend, "WINDOW_BYTES", len(data))
    assert srv.blobs_url is not None
    srv.state.blobs.backend = s3_backend.S3Backend(parse_blobs_url(srv.blobs_url))
    proxy.state.rate_bytes_per_s = 2 * MiB  # 3 s for the window: over the 1 s timeout
    reply = await alice.call("GET", f"/v1/files/{f['id']}/content")
    assert reply.status == 200 and reply.body == data


async def test_start_sweeps_objects_no_file_refers_to(tmp_path: Path, blobs_url: str) -> None:
    """An object put just before a crash, whose file row never committed, is removed when
    the server starts again; a referenced one stays, and so do objects not in syncd's key
    layout (someone else's, under the same prefix)."""
    async with running(tmp_path / "data", True, blobs_url) as first:
        alice = first.user("alice")
        kept = await alice.upload(await alice.folder(), "kept.jpg", b"kept")
        orphan = hashlib.sha256(b"orphan").hexdigest()
        put_object(bucket(first), key(orphan), b"orphan")
        put_object(bucket(first), "notes/README.txt", b"not syncd's")
        put_object(bucket(first), f"ab/{orphan}", b"not in syncd's layout")
        assert first.stored() == sorted([kept["sha256"], orphan, orphan, "README.txt"])
    async with running(tmp_path / "data", True, blobs_url) as second:
        left = sorted([kept["sha256"], orphan, "README.txt"])  # this orphan: the foreign key
        for _ in range(100):
            if second.stored() == left:
                break
            await asyncio.sleep(0.05)
        assert second.stored() == left
        assert bytes(get(bucket(second), f"ab/{orphan}").bytes()) == b"not in syncd's layout"


def _serve(tmp_path: Path, blobs: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "syncd", "serve", "--data", str(tmp_path / "d"), "--port", "0",
         "--blobs", blobs],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_missing_credentials_exit_78_naming_them(tmp_path: Path, seaweed: SeaweedS3) -> None:
    """The real exit code; every other refused URL is in tests/unit (same function)."""
    env = {**os.environ, **seaweed.env()}
    del env["AWS_SECRET_ACCESS_KEY"]
    done = _serve(tmp_path, seaweed.blobs_url("exit78"), env)
    assert done.returncode == 78, done.stderr
    assert "--blobs (SYNCD_BLOBS): AWS_SECRET_ACCESS_KEY is not set" in done.stderr
    assert seaweed.env()["AWS_SECRET_ACCESS_KEY"] not in done.stderr


def test_driver_imported_only_for_s3(tmp_path: Path) -> None:
    probe = (
        "import sys; from pathlib import Path; from syncd.server.app import open_app; "
        "open_app(Path(sys.argv[1])); print('obstore' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, str(tmp_path / "d")],
        cwd=REPO, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert done.stdout.strip() == "False"
