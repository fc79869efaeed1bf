"""Initial sync of a 50,000-file library by a `syncd run` daemon on loopback: time, daemon
RSS (sampled, and the kernel's peak), and the server's responsiveness meanwhile (GET
/v1/account latency p50/p95/max, one request every 100 ms, before and during the sync).

    SYNCD_SRC=/path/to/tree .venv/bin/python bench/initial_sync_50k.py [--files 50000]

The library is generated (100 folders, 0.1-2 KB files), imported once through the API and
cached under $BENCH_WORK/syncd-serve (untimed; several minutes the first time).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import (
    Library,
    count_files,
    make_tree,
    open_library,
    percentile,
    sample,
    start_daemon,
)

PROBE_INTERVAL_S = 0.1
MAX_SYNC_S = 1800.0


class AccountProbe:
    """GET /v1/account every PROBE_INTERVAL_S on its own thread; keeps each latency."""

    def __init__(self, lib: Library) -> None:
        token = lib.token_file.read_text().strip()
        self.request = urllib.request.Request(
            f"{lib.url}/v1/account", headers={"Authorization": f"Bearer {token}"}
        )
        self.latencies_s: list[float] = []
        self.errors = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        for _ in range(int(MAX_SYNC_S / PROBE_INTERVAL_S) * 2):
            started = time.perf_counter()
            try:
                with urllib.request.urlopen(self.request, timeout=30) as resp:
                    resp.read()
                self.latencies_s.append(time.perf_counter() - started)
            except OSError:
                self.errors += 1
            if self.stop.wait(PROBE_INTERVAL_S):
                return

    def run_for(self, seconds: float) -> list[float]:
        self.thread.start()
        time.sleep(seconds)
        return self.finish()

    def finish(self) -> list[float]:
        self.stop.set()
        self.thread.join(timeout=60)
        return self.latencies_s


def wait_synced(daemon_pid: int, root: Path, n_files: int) -> tuple[float, int, int]:
    """Poll until root holds n_files; returns (seconds, max sampled RSS, peak RSS)."""
    started = time.monotonic()
    max_rss = 0
    while time.monotonic() - started < MAX_SYNC_S:
        try:
            now = sample(daemon_pid)
        except FileNotFoundError:
            raise SystemExit("the daemon exited during the sync") from None
        max_rss = max(max_rss, now.rss_bytes)
        if root.is_dir() and count_files(root) >= n_files:
            return time.monotonic() - started, max_rss, sample(daemon_pid).peak_rss_bytes
        time.sleep(0.5)
    raise SystemExit(f"not synced within {MAX_SYNC_S}s")


def row(label: str, values: list[float]) -> str:
    if not values:
        return f"{label:<22} {'no answers':>8}"
    ms = [v * 1000 for v in values]
    return (
        f"{label:<22} {len(ms):>5} {percentile(ms, 50):>8.1f} {percentile(ms, 95):>8.1f}"
        f" {max(ms):>8.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=50_000)
    parser.add_argument("--folders", type=int, default=100)
    args = parser.parse_args()
    tree = make_tree(
        Path(tempfile.gettempdir()) / f"syncd-tree-{args.files}",
        args.files,
        args.folders,
        100,
        2000,
    )
    work = Path(tempfile.mkdtemp(prefix="syncd-50k-"))
    lib = open_library(tree, work)
    daemon = None
    try:
        idle = AccountProbe(lib).run_for(5.0)
        probe = AccountProbe(lib)
        root, home = work / "root", work / "home"
        home.mkdir()
        daemon = start_daemon(lib, root, home)
        probe.thread.start()
        took_s, max_rss, peak = wait_synced(daemon.pid, root, args.files)
        during = probe.finish()
    finally:
        if daemon is not None and daemon.poll() is None:
            daemon.terminate()
            daemon.wait(timeout=30)
        lib.close()
        shutil.rmtree(work, ignore_errors=True)
    mib = 1 << 20
    print(f"initial sync of {args.files} files ({args.folders} folders) by `syncd run`")
    print(f"  time {took_s:.1f}s ({args.files / took_s:.0f} files/s)")
    print(f"  daemon RSS: max sampled {max_rss / mib:.1f} MiB, peak (VmHWM) {peak / mib:.1f} MiB")
    print(f"GET /v1/account latency, ms (one request every {PROBE_INTERVAL_S * 1000:.0f} ms)")
    print(f"{'':<22} {'n':>5} {'p50':>8} {'p95':>8} {'max':>8}")
    print(row("before the sync", idle))
    print(row("during the sync", during) + f"   ({probe.errors} errors)")


if __name__ == "__main__":
    main()
