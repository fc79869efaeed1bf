"""Fault injection between the daemon and the server (loopback FaultProxy + the server's test
hooks): connections reset mid-body during big transfers, a stalled link, 503 bursts, 429 with
Retry-After, a 50 KB/s link. The daemon converges without duplicates, leaves no temp file, and
does not busy-loop while the server is unreachable."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

from tests.e2e.campaign_tools import (
    cpu_seconds,
    daemon_errors,
    fast_status,
    local_digests,
    proxy_for,
    remote_digests,
    sha,
    spawn,
    temp_files,
    wait_converged,
)
from tests.support.daemon import partial_bytes, wait_until
from tests.support.server import Api, ServerProcess

MiB = 1024 * 1024
BIG_BYTES = 24 * MiB
LINK_BYTES_PER_S = 12 * MiB
SLOW_LINK_BYTES_PER_S = 50_000
IDLE_WINDOW_S = 10.0
IDLE_CPU_BUDGET_S = 1.5


def _big(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("wb") as handle:
        for _ in range(BIG_BYTES // (4 * MiB)):
            chunk = os.urandom(4 * MiB)
            digest.update(chunk)
            handle.write(chunk)
    return digest.hexdigest()


def _transfer_done_bytes(daemon, direction: str) -> int:
    status = fast_status(daemon) or {}
    done = [t["bytes_done"] for t in status.get("transfers", []) if t["direction"] == direction]
    return max(done, default=0)


def test_resets_mid_body_of_big_transfers(
    server: ServerProcess, api: Api, root: Path, tmp_path: Path, make_daemon
) -> None:
    """Connections reset during a 24 MiB download and twice during a 24 MiB upload:
    the download resumes with Range, the upload restarts, nothing is stored twice."""
    folder = api.create_folder("Alice Martin")
    source = tmp_path / "incoming.mp4"
    down_sha = _big(source)
    api.request("PUT", f"/v1/folders/{folder['id']}/files/incoming.mp4", source.read_bytes())
    proxy = proxy_for(server)
    proxy.state.rate_bytes_per_s = LINK_BYTES_PER_S
    try:
        daemon = make_daemon(url=proxy.url, settle_s=0.2)
        spawn(daemon)
        wait_until(lambda: partial_bytes(root) > 8 * MiB, 60, 0.05, "download under way")
        proxy.reset_all()  # the engine backs off (offline) for a few seconds, then resumes
        wait_converged(daemon, api, root, timeout_s=90)
        assert sha((root / "Alice Martin" / "incoming.mp4").read_bytes()) == down_sha
        assert api.counters()["download_bytes"] < 2 * BIG_BYTES, "resumed, not restarted"

        staging = root / "Alice Martin" / "outgoing.mp4.part"  # ignored while written
        up_sha = _big(staging)
        os.rename(staging, root / "Alice Martin" / "outgoing.mp4")
        for threshold in (4 * MiB, 8 * MiB):
            wait_until(lambda t=threshold: _transfer_done_bytes(daemon, "up") > t, 60, 0.05)
            proxy.reset_all()
        final = wait_converged(daemon, api, root, timeout_s=90)
        assert final["Alice Martin/outgoing.mp4"] == up_sha
        assert sorted(final) == ["Alice Martin/incoming.mp4", "Alice Martin/outgoing.mp4"]
        assert api.counters()["uploads"] == 2, "the test's upload + exactly one stored upload"
        assert temp_files(root) == []
        assert daemon_errors(daemon) == []
    finally:
        proxy.stop()


def test_stall_503_burst_429_and_slow_link(
    server: ServerProcess, api: Api, root: Path, make_daemon
) -> None:
    """A 3 s stall, a burst of 503s on uploads and downloads, 429s with Retry-After 1.5 s, and
    a 50 KB/s link for small files: everything arrives exactly once."""
    folder = api.create_folder("Bruno Costa")
    proxy = proxy_for(server)
    try:
        daemon = make_daemon(url=proxy.url, settle_s=0.2)
        spawn(daemon)
        wait_until(lambda: (root / "Bruno Costa").is_dir(), 30, what="folder mirrored")
        uploads_before = api.counters()["uploads"]

        # stall: every byte stops for 3 s while files flow both ways, then the link recovers
        proxy.state.stall = True
        api.upload(folder["id"], "stalled-in.jpg", os.urandom(30_000))
        (root / "Bruno Costa" / "stalled-out.jpg").write_bytes(os.urandom(30_000))
        time.sleep(3)  # the stall's length is the scenario, not an assertion
        proxy.state.stall = False
        wait_converged(daemon, api, root, timeout_s=60)

        # 503 bursts: on downloads, then on one upload (the prefixes keep the test's own
        # listing calls out of the way; Retry-After 0.2 s)
        api.inject_fault(503, count=4, retry_after_s=0.2, path_prefix="/v1/files/")
        api.upload(folder["id"], "burst-in.jpg", os.urandom(20_000))
        wait_converged(daemon, api, root, timeout_s=60)
        out_path = f"/v1/folders/{folder['id']}/files/burst-out"
        api.inject_fault(503, count=4, retry_after_s=0.2, path_prefix=out_path)
        (root / "Bruno Costa" / "burst-out.jpg").write_bytes(os.urandom(20_000))
        wait_converged(daemon, api, root, timeout_s=60)

        # 429 with Retry-After: two refusals of 1.5 s each before the upload may go through
        limited_path = f"/v1/folders/{folder['id']}/files/limited"
        api.inject_fault(429, count=2, retry_after_s=1.5, path_prefix=limited_path)
        started = time.monotonic()
        (root / "Bruno Costa" / "limited.jpg").write_bytes(os.urandom(10_000))
        wait_converged(daemon, api, root, timeout_s=60)
        assert time.monotonic() - started >= 2 * 1.5, "Retry-After was not honoured"

        # 50 KB/s: eight small files each way
        proxy.state.rate_bytes_per_s = SLOW_LINK_BYTES_PER_S
        for i in range(8):
            api.upload(folder["id"], f"slow-in-{i}.jpg", os.urandom(4_000 + i * 500))
            (root / "Bruno Costa" / f"slow-out-{i}.jpg").write_bytes(os.urandom(4_000 + i * 700))
        final = wait_converged(daemon, api, root, timeout_s=90)
        assert len(final) == 5 + 16
        assert not [n for n in final if " (2)" in n or "conflicted copy" in n]
        local_made = 1 + 1 + 1 + 8  # stalled-out, burst-out, limited, slow-out-*
        api_made = 1 + 1 + 8
        assert api.counters()["uploads"] - uploads_before == local_made + api_made
        assert temp_files(root) == []
        assert daemon_errors(daemon) == []
    finally:
        proxy.stop()


def test_no_busy_loop_while_the_server_is_down(
    server: ServerProcess, api: Api, root: Path, make_daemon
) -> None:
    """With the server unreachable and work pending, the daemon sleeps between retries:
    under 1.5 s CPU in 10 s. When the server is back, everything converges."""
    folder = api.create_folder("Chloé Dubois")
    api.upload(folder["id"], "before.jpg", b"before the outage")
    proxy = proxy_for(server)
    try:
        daemon = make_daemon(url=proxy.url, settle_s=0.2)
        spawn(daemon)
        wait_converged(daemon, api, root, timeout_s=30)
        proxy.set_down(True)
        for i in range(5):
            (root / "Chloé Dubois" / f"while-down-{i}.jpg").write_bytes(os.urandom(5_000))
        wait_until(
            lambda: (fast_status(daemon) or {}).get("state") == "offline", 30, what="offline"
        )
        assert daemon.proc is not None
        cpu_before, wall_before = cpu_seconds(daemon.proc.pid), time.monotonic()
        time.sleep(IDLE_WINDOW_S)  # the measured window itself, not a wait for an outcome
        cpu_used = cpu_seconds(daemon.proc.pid) - cpu_before
        wall = time.monotonic() - wall_before
        assert cpu_used < IDLE_CPU_BUDGET_S, f"{cpu_used:.2f} s CPU in {wall:.1f} s offline"
        # still retrying, and saying why (between two retries it is "syncing" for a moment)
        wait_until(lambda: (fast_status(daemon) or {}).get("state") == "offline", 15, 0.1)
        proxy.set_down(False)
        final = wait_converged(daemon, api, root, timeout_s=60)
        assert len(final) == 6
        assert local_digests(root) == remote_digests(api)
    finally:
        proxy.stop()
