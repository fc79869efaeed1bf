"""The whole system on S3: a real `syncd serve --blobs s3://...` subprocess on the session's
SeaweedFS, a real daemon mirroring both ways; the media is in the bucket, not under --data,
and the server's log never shows the secret key."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.daemon import local_tree, remote_file, remote_tree, temp_files, wait_until
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
