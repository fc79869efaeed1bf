"""kill -9 in the middle of big transfers: after a restart there is no partial file in the
root, no duplicate on the server, and both sides hold the same bytes."""

from __future__ import annotations

import hashlib
import os
import signal
from pathlib import Path

from tests.support.daemon import (
    local_tree,
    partial_bytes,
    remote_file,
    remote_tree,
    temp_files,
    wait_until,
)
from tests.support.proxy import FaultProxy
from tests.support.server import Api, ServerProcess

BIG_BYTES = 200 * 1024 * 1024
SLOW_LINK_BYTES_PER_S = 40 * 1024 * 1024


def _big_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("wb") as handle:
        for _ in range(BIG_BYTES // (8 * 1024 * 1024)):
            chunk = os.urandom(8 * 1024 * 1024)
            digest.update(chunk)
            handle.write(chunk)
    return digest.hexdigest()


def _sha(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(8 * 1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def _proxy(server: ServerProcess) -> FaultProxy:
    host, port = server.url.removeprefix("http://").split(":")
    proxy = FaultProxy(host, int(port)).start()
    proxy.state.rate_bytes_per_s = SLOW_LINK_BYTES_PER_S
    return proxy


def test_kill_during_big_download_then_restart(
    server: ServerProcess, api: Api, root: Path, tmp_path: Path, make_daemon
) -> None:
    folder = api.create_folder("Alice Martin")
    source = tmp_path / "big.mp4"
    sha = _big_file(source)
    api.request("PUT", f"/v1/folders/{folder['id']}/files/big.mp4", source.read_bytes())
    proxy = _proxy(server)
    try:
        daemon = make_daemon(url=proxy.url).start()
        wait_until(lambda: partial_bytes(root) > 20 * 1024 * 1024, 60, 0.05, "download under way")
        daemon.stop(signal.SIGKILL)
        assert temp_files(root), "a crash leaves the temp file (to resume from)"
        assert not (root / "Alice Martin" / "big.mp4").exists()
        proxy.state.rate_bytes_per_s = None
        daemon.start()
        wait_until(lambda: (root / "Alice Martin" / "big.mp4").exists(), 60, what="placed")
        daemon.wait_idle(60)
        assert temp_files(root) == []
        assert _sha(root / "Alice Martin" / "big.mp4") == sha
        assert local_tree(root) == remote_tree(api)
        # resumed with Range: far less than two whole downloads went over the wire
        assert api.counters()["download_bytes"] < 2 * BIG_BYTES
    finally:
        proxy.stop()


def test_kill_during_big_upload_then_restart(
    server: ServerProcess, api: Api, root: Path, make_daemon
) -> None:
    api.create_folder("Alice Martin")
    proxy = _proxy(server)
    try:
        daemon = make_daemon(url=proxy.url, settle_s=0.2).start()
        wait_until(lambda: (root / "Alice Martin").is_dir(), 30, what="mirrored")
        staging = root / "Alice Martin" / ".big.mp4.part"  # ignored while written
        sha = _big_file(staging)
        os.rename(staging, root / "Alice Martin" / "big.mp4")

        def uploading() -> bool:
            status = daemon.status() or {}
            return any(
                t.get("direction") == "up" and t.get("bytes_done", 0) > 20 * 1024 * 1024
                for t in status.get("transfers", [])
            )

        wait_until(uploading, 60, 0.05, "upload under way")
        daemon.stop(signal.SIGKILL)
        assert remote_file(api, "Alice Martin/big.mp4") is None, "nothing half-stored"
        proxy.state.rate_bytes_per_s = None
        daemon.start()
        found = wait_until(lambda: remote_file(api, "Alice Martin/big.mp4"), 60, what="upload")
        daemon.wait_idle(60)
        assert found["sha256"] == sha and found["size"] == BIG_BYTES
        assert sorted(remote_tree(api)) == ["Alice Martin/big.mp4"], "no duplicate"
        assert temp_files(root) == []
        assert local_tree(root) == remote_tree(api)
    finally:
        proxy.stop()


def test_kill_after_the_server_stored_an_upload_then_an_edit_is_no_conflict(
    server: ServerProcess, api: Api, root: Path, make_daemon
) -> None:
    """Killed after the server committed our upload but before we recorded it, and the file
    edited while the daemon is down: on restart the server's version is known as our own
    earlier one, so the edit goes up over it: no conflict copy."""
    folder_id = api.create_folder("Alice Martin")["id"]
    daemon = make_daemon(settle_s=0.2).start()
    video = root / "Alice Martin" / "clip.mp4"
    wait_until(lambda: video.parent.is_dir(), 30, what="mirrored")
    drafts = [os.urandom(2 * 1024 * 1024) for _ in range(3)]  # above the batch routes' size
    video.write_bytes(drafts[0])
    wait_until(lambda: remote_file(api, "Alice Martin/clip.mp4"), 30, what="first upload")
    daemon.wait_idle(30)

    def remote_sha() -> str | None:
        found = remote_file(api, "Alice Martin/clip.mp4")
        return None if found is None else str(found["sha256"])

    # The next upload is committed, then its answer waits: the daemon never hears of it.
    api.delay(10_000, path_prefix=f"/v1/folders/{folder_id}/files/clip.mp4", after=True)
    video.write_bytes(drafts[1])
    second = hashlib.sha256(drafts[1]).hexdigest()
    wait_until(lambda: remote_sha() == second, 30, 0.05, "second version stored")
    daemon.stop(signal.SIGKILL)
    video.write_bytes(drafts[2])
    daemon.start()
    third = hashlib.sha256(drafts[2]).hexdigest()
    wait_until(lambda: remote_sha() == third, 60, what="third version uploaded")
    daemon.wait_idle(60)
    assert sorted(local_tree(root)) == ["Alice Martin/clip.mp4"], "no conflict copy"
    assert local_tree(root) == remote_tree(api)
