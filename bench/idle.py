"""Idle cost of a running `syncd run` daemon that tracks N files (default: the peers harness's
`many` corpus, 20,000 files; else a generated tree): after an untimed initial sync and a
warm-up, CPU % and RSS of the daemon (and of the server) over a 60 s window, sampled each
second from /proc.

    SYNCD_SRC=/path/to/tree .venv/bin/python bench/idle.py [--corpus DIR] [--window-s 60]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import (
    count_files,
    make_tree,
    open_library,
    sample,
    start_daemon,
    sync_once,
)

DEFAULT_CORPUS = Path(os.environ.get("BENCH_WORK") or "/tmp/syncbench") / "corpus" / "many"


def measure(pid: int, window_s: float) -> tuple[float, list[int], int]:
    """(CPU % of one core, RSS samples, peak RSS) over window_s, one sample per second."""
    first = sample(pid)
    rss: list[int] = []
    started = time.monotonic()
    for _ in range(int(window_s)):
        time.sleep(max(0.0, started + len(rss) + 1 - time.monotonic()))
        rss.append(sample(pid).rss_bytes)
    last = sample(pid)
    elapsed = time.monotonic() - started
    return 100 * (last.cpu_s - first.cpu_s) / elapsed, rss, last.peak_rss_bytes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=None)
    parser.add_argument("--files", type=int, default=20_000, help="generated tree size")
    parser.add_argument("--window-s", type=float, default=60.0)
    parser.add_argument("--warmup-s", type=float, default=15.0)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="syncd-idle-"))
    corpus = args.corpus or (DEFAULT_CORPUS if DEFAULT_CORPUS.is_dir() else None)
    if corpus is None:
        corpus = make_tree(
            Path(tempfile.gettempdir()) / f"syncd-tree-{args.files}", args.files, 50, 1000, 20_000
        )
    lib = open_library(corpus, work)
    daemon = None
    try:
        root, home = work / "root", work / "home"
        home.mkdir()
        initial_s = sync_once(lib, root, home, timeout_s=1800)
        tracked = count_files(root)
        daemon = start_daemon(lib, root, home)
        time.sleep(args.warmup_s)  # start-up scan and first long poll, not part of idle
        if daemon.poll() is not None:
            sys.exit(f"daemon exited with {daemon.returncode}; see {home / 'daemon.log'}")
        server_before = sample(lib.proc.pid)
        cpu, rss, peak = measure(daemon.pid, args.window_s)
        server_after = sample(lib.proc.pid)
    finally:
        if daemon is not None and daemon.poll() is None:
            daemon.terminate()
            daemon.wait(timeout=30)
        lib.close()
        shutil.rmtree(work, ignore_errors=True)
    server_cpu = 100 * (server_after.cpu_s - server_before.cpu_s) / args.window_s
    mib = 1 << 20
    print(f"syncd idle: {tracked} files tracked (corpus {corpus}), initial sync {initial_s:.1f}s")
    print(f"window {args.window_s:.0f}s after {args.warmup_s:.0f}s warm-up; CPU % of one core")
    print(f"{'process':<10} {'CPU %':>7} {'RSS MiB min':>12} {'median':>8} {'max':>8} {'peak':>8}")
    print(
        f"{'daemon':<10} {cpu:>7.2f} {min(rss) / mib:>12.1f} "
        f"{statistics.median(rss) / mib:>8.1f} {max(rss) / mib:>8.1f} {peak / mib:>8.1f}"
    )
    print(
        f"{'server':<10} {server_cpu:>7.2f} {server_after.rss_bytes / mib:>12.1f} "
        f"{'':>8} {'':>8} {server_after.peak_rss_bytes / mib:>8.1f}"
    )


if __name__ == "__main__":
    main()
