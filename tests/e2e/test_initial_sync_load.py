"""Load (issue 6 item 7): the initial sync of a many-file library finishes, with bounded daemon
memory, while the server keeps answering. 3,000 files in CI, 50,000 with --long; the figures
(peak RSS, p95 of GET /v1/account) are printed — bench/engine.py measures them."""

from __future__ import annotations

import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.support.daemon import local_tree, wait_until
from tests.support.server import Api, ServerProcess

FOLDERS = 25
MAX_RSS_KIB = 512 * 1024  # generous: 50,000 files measured ~267 MiB


def _seed(server: ServerProcess, token: str, files: int) -> None:
    api = Api(server.url, token)
    folder_ids = [api.create_folder(f"Participant {i:02d}")["id"] for i in range(FOLDERS)]

    def upload(i: int) -> None:
        Api(server.url, token).upload(folder_ids[i % FOLDERS], f"IMG-{i:06d}.jpg", b"%d" % i)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(upload, range(files)))


def _peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM in /proc status")


def test_initial_sync_of_many_files_with_bounded_memory(
    server: ServerProcess, token: str, root: Path, make_daemon, long: bool
) -> None:
    files = 50_000 if long else 3_000
    _seed(server, token, files)
    api = Api(server.url, token, timeout_s=10)
    latencies_s: list[float] = []
    failures: list[str] = []
    done = threading.Event()

    def probe() -> None:  # bounded: stops with the sync or after 600 probes
        for _ in range(600):
            if done.is_set():
                return
            started = time.monotonic()
            try:
                api.account()
                latencies_s.append(time.monotonic() - started)
            except Exception as exc:  # the server must keep answering during the sync
                failures.append(repr(exc))
            time.sleep(0.1)

    daemon = make_daemon()
    prober = threading.Thread(target=probe, daemon=True)
    daemon.start()
    prober.start()
    try:
        wait_until(lambda: len(local_tree(root)) == files, 900 if long else 90, 0.5, "synced")
    finally:
        done.set()
        prober.join(15)
    assert daemon.proc is not None
    peak_kib = _peak_rss_kib(daemon.proc.pid)
    p95_ms = statistics.quantiles(latencies_s, n=20)[18] * 1000 if len(latencies_s) > 2 else 0
    print(
        f"\n{files} files: daemon peak RSS {peak_kib / 1024:.0f} MiB; GET /v1/account p95 "
        f"{p95_ms:.0f} ms over {len(latencies_s)} probes"
    )
    assert failures == [], failures[:3]
    assert latencies_s, "the server answered no probe during the sync"
    assert peak_kib < MAX_RSS_KIB
