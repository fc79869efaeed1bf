"""The whole system on S3: a real `syncd serve --blobs s3://...` subprocess on the session's
SeaweedFS, a real daemon mirroring both ways; the media is in the bucket, not under --data,
and the server's log never shows the secret key; two instances on one PostgreSQL + bucket
serve one daemon as one library."""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from syncd.sync.daemon import LONG_POLL_S
from tests.support.daemon import (
    DaemonProcess,
    local_tree,
    remote_file,
    remote_tree,
    temp_files,
    wait_until,
)
from tests.support.postgres import PostgresServer
from tests.support.s3 import SECRET_KEY, SeaweedS3, stored_digests
from tests.support.server import Api, ServerProcess, start_server


@pytest.fixture
def blobs_url(seaweed: SeaweedS3, monkeypatch: pytest.MonkeyPatch) -> str:
    for key, value in seaweed.env().items():
        monkeypatch.setenv(key, value)  # the server subprocess inherits them
    return seaweed.blobs_url(f"e2e-{uuid.uuid4().hex[:12]}")


@pytest.fixture
def server(tmp_path: Path, blobs_url: str) -> Iterator[ServerProcess]:
    srv = start_server(tmp_path / "server", args=["--blobs", blobs_url])
    try:
        yield srv
    finally:
        srv.kill()


def test_mirror_both_ways_with_media_in_the_bucket(
    api: Api, root: Path, make_daemon, server: ServerProcess, blobs_url: str
) -> None:
    folder = api.create_folder("Alice Martin")
    sent = {f"IMG-{i}.jpg": os.urandom(1000 + i) for i in range(12)}
    for name, data in sent.items():
        api.upload(folder["id"], name, data)
    daemon = make_daemon().start()
    wait_until(lambda: local_tree(root) == remote_tree(api), 60, 0.3, "trees equal")
    for name, data in sent.items():
        assert (root / "Alice Martin" / name).read_bytes() == data
    (root / "Alice Martin" / "reply.pdf").write_bytes(b"%PDF-1.4 from the shop")
    wait_until(lambda: remote_file(api, "Alice Martin/reply.pdf"), 30, what="upload")
    assert daemon.stop() == 0 and temp_files(root) == []
    hashes = {hashlib.sha256(d).hexdigest() for d in [*sent.values(), b"%PDF-1.4 from the shop"]}
    assert set(stored_digests(blobs_url, dict(os.environ))) == hashes
    assert not (server.data_dir / "blobs").exists() or not list(
        (server.data_dir / "blobs").rglob("*")
    ), "no media under --data"
    assert "blob_store_opened" in server.log() and SECRET_KEY not in server.log()


def test_daemon_on_one_instance_receives_a_file_uploaded_through_another(
    tmp_path: Path, root: Path, blobs_url: str, postgres: PostgresServer
) -> None:
    """Two instances on one PostgreSQL + bucket: a daemon following A gets a photo uploaded
    through B well before its long poll on A would have timed out (A is woken through the
    database, not by its own commit)."""
    db_url = postgres.fresh_database()
    blobs = ["--blobs", blobs_url]
    with (
        start_server(tmp_path / "a", db_url=db_url, args=blobs) as a,
        start_server(tmp_path / "b", db_url=db_url, args=blobs) as b,
    ):
        token = a.add_user("alice")
        through_b = Api(b.url, token)
        folder = through_b.create_folder("Alice Martin")["id"]
        daemon = DaemonProcess(tmp_path / "home", a.url, token, root).start()
        try:
            wait_until(lambda: (root / "Alice Martin").is_dir(), 60, what="first sync")
            time.sleep(1.0)  # let the daemon park its long poll on A (not an assertion)
            photo = os.urandom(50_000)
            sent_at = time.monotonic()
            through_b.upload(folder, "from-b.jpg", photo)
            landed = root / "Alice Martin" / "from-b.jpg"
            wait_until(lambda: landed.exists() and landed.read_bytes() == photo, 20, 0.05, "pull")
            took_s = time.monotonic() - sent_at
            assert took_s < LONG_POLL_S / 2, f"took {took_s:.1f} s: the long poll was not woken"
            assert daemon.stop() == 0
        finally:
            daemon.kill()  # a failed assertion must not leave the daemon running
