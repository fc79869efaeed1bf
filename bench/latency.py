"""Propagation latency of a running `syncd run` daemon, with enough trials for a p95 (the
shared harness runs 3): local->server (a 100 KB file renamed into the root until the server's
change feed shows it: a long poll, so no polling delay) and server->local (PUT through the
API until the file is in the root with its full size, polled every 5 ms).

    SYNCD_SRC=/path/to/tree .venv/bin/python bench/latency.py [--corpus DIR] [--trials 20]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import Library, open_library, percentile, start_daemon, sync_once

DEFAULT_CORPUS = Path(os.environ.get("BENCH_WORK") or "/tmp/syncbench") / "corpus" / "small"
PROBE_BYTES = 100_000
TRIAL_TIMEOUT_S = 60.0
POLL_S = 0.005


class Remote:
    def __init__(self, lib: Library) -> None:
        self.url = lib.url
        self.auth = {"Authorization": f"Bearer {lib.token_file.read_text().strip()}"}

    def call(self, method: str, path: str, body: bytes | None = None, **headers: str) -> Any:
        req = urllib.request.Request(self.url + path, body, {**self.auth, **headers}, method=method)
        with urllib.request.urlopen(req, timeout=TRIAL_TIMEOUT_S + 30) as resp:
            return json.loads(resp.read() or b"null")

    def head_cursor(self) -> int:
        cursor = 0
        for _ in range(10_000):
            page = self.call("GET", f"/v1/changes?cursor={cursor}&limit=5000")
            cursor = int(page["cursor"])
            if not page["more"]:
                return cursor
        raise RuntimeError("feed did not end")

    def wait_for_name(self, cursor: int, name: str) -> tuple[float, int]:
        """Long-poll the feed from cursor until a file called `name` is upserted."""
        deadline = time.monotonic() + TRIAL_TIMEOUT_S
        while time.monotonic() < deadline:
            page = self.call("GET", f"/v1/changes?cursor={cursor}&limit=1000&wait=20")
            cursor = int(page["cursor"])
            for change in page["changes"]:
                obj = change.get("object") or {}
                named = change["type"] == "file" and obj.get("name") == name
                if named and obj.get("size") == PROBE_BYTES:
                    return time.perf_counter(), cursor
        raise TimeoutError(f"{name} not on the server within {TRIAL_TIMEOUT_S}s")


def push_trial(remote: Remote, root: Path, folder: str, i: int, cursor: int) -> tuple[float, int]:
    name = f"PTT-20991231-WAPUSH{i:04d}.ogg"
    staging = root.parent / name
    staging.write_bytes(os.urandom(PROBE_BYTES))
    started = time.perf_counter()
    os.rename(staging, root / folder / name)
    seen, cursor = remote.wait_for_name(cursor, name)
    return seen - started, cursor


def pull_trial(remote: Remote, root: Path, folder: str, folder_id: str, i: int) -> float:
    name = f"PTT-20991231-WAPULL{i:04d}.ogg"
    quoted = urllib.parse.quote(name, safe="")
    remote.call("PUT", f"/v1/folders/{folder_id}/files/{quoted}", os.urandom(PROBE_BYTES))
    started = time.perf_counter()
    target = root / folder / name
    deadline = started + TRIAL_TIMEOUT_S
    while time.perf_counter() < deadline:
        try:
            if target.stat().st_size == PROBE_BYTES:
                return time.perf_counter() - started
        except FileNotFoundError:
            pass
        time.sleep(POLL_S)
    raise TimeoutError(f"{name} not in the root within {TRIAL_TIMEOUT_S}s")


def run_trials(lib: Library, root: Path, trials: int) -> dict[str, list[float]]:
    remote = Remote(lib)
    folders = remote.call("GET", "/v1/folders")["folders"]
    folder, folder_id = folders[0]["name"], folders[0]["id"]
    out: dict[str, list[float]] = {"local->server": [], "server->local": []}
    cursor = remote.head_cursor()
    for i in range(trials + 1):  # trial 0 warms the daemon up and is not kept
        push_s, cursor = push_trial(remote, root, folder, i, cursor)
        time.sleep(0.1 + (i * 37 % 90) / 100)  # vary the phase against any timer
        pull_s = pull_trial(remote, root, folder, folder_id, i)
        time.sleep(0.1 + (i * 53 % 90) / 100)
        if i:
            out["local->server"].append(push_s)
            out["server->local"].append(pull_s)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--trials", type=int, default=20)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="syncd-latency-"))
    lib = open_library(args.corpus, work)
    daemon = None
    try:
        root, home = work / "root", work / "home"
        home.mkdir()
        sync_once(lib, root, home, timeout_s=1800)
        daemon = start_daemon(lib, root, home)
        results = run_trials(lib, root, args.trials)
    finally:
        if daemon is not None and daemon.poll() is None:
            daemon.terminate()
            daemon.wait(timeout=30)
        lib.close()
        shutil.rmtree(work, ignore_errors=True)
    print(f"syncd run latency, {PROBE_BYTES}-byte file, corpus {args.corpus.name}, ms")
    print(f"{'direction':<15} {'n':>3} {'min':>8} {'p50':>8} {'p95':>8} {'max':>8}")
    for label, values in results.items():
        ms = [v * 1000 for v in values]
        print(
            f"{label:<15} {len(ms):>3} {min(ms):>8.0f} {percentile(ms, 50):>8.0f}"
            f" {percentile(ms, 95):>8.0f} {max(ms):>8.0f}"
        )


if __name__ == "__main__":
    main()
