"""The engine benchmark (issue 10): in one run, on generated libraries of small files, the
propagation latency of `syncd run` tracking 10,000 and 20,000 files, the no-op
`syncd sync --once` at 2,000 and 20,000 files, the idle RSS of `syncd run` at 20,000 files and
the peak RSS of a 50,000-file initial sync; prints (and writes) a markdown report with goals.

    SYNCD_SRC=/path/to/tree .venv/bin/python bench/engine.py [--out FILE] [--phases ...]

Each library is generated, imported once through the API and cached under
$BENCH_WORK/syncd-serve (untimed; ~3 min the first time); every phase serves a fresh copy.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
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
    sync_once,
)
from syncd_serve import SRC, work_dir

PROBE_BYTES = 100_000
TRIAL_TIMEOUT_S = 60.0
POLL_S = 0.005
MAX_SYNC_S = 1800.0
MIB = 1 << 20
# (files, folders) of each generated library; files of 200 B - 4 KB (WhatsApp voice-note
# sized trees would only make the untimed import and initial syncs longer).
SIZES = {2_000: 20, 10_000: 50, 20_000: 50, 50_000: 100}
# Issue 10 "Done when" and issue 11 item 4: a figure is met when below its goal.
GOALS = {"pull p50": 0.3, "push p50": 0.6, "idle RSS": 80.0, "initial sync peak RSS": 150.0}
NOOP_GOAL_S = {2_000: 0.5, 20_000: 1.0}

Row = tuple[str, str, float, str, float]  # figure, library, value, unit, load when measured


def add(rows: list[Row], figure: str, label: str, value: float, unit: str) -> None:
    """Record a figure with the 1-minute load average as it was measured (the 2 cores of
    the machine are shared: read each figure with its load)."""
    rows.append((figure, label, value, unit, os.getloadavg()[0]))


def library(n_files: int, work: Path) -> Library:
    trees = Path(os.environ.get("BENCH_WORK") or "/tmp/syncd-bench") / "engine-trees"
    tree = make_tree(trees / f"tree-{n_files}", n_files, SIZES[n_files], 200, 4_000)
    return open_library(tree, work)


class Api:
    """The few API calls the trials make (urllib: nothing of syncd in the bench process)."""

    def __init__(self, lib: Library) -> None:
        self.url = lib.url
        self.auth = {"Authorization": f"Bearer {lib.token_file.read_text().strip()}"}

    def call(self, method: str, path: str, body: bytes | None = None) -> object:
        req = urllib.request.Request(self.url + path, body, self.auth, method=method)
        with urllib.request.urlopen(req, timeout=TRIAL_TIMEOUT_S + 30) as resp:
            return json.loads(resp.read() or b"null")

    def head_cursor(self) -> int:
        cursor = 0
        for _ in range(10_000):
            page = self.call("GET", f"/v1/changes?cursor={cursor}&limit=5000")
            assert isinstance(page, dict)
            cursor = int(page["cursor"])
            if not page["more"]:
                return cursor
        raise RuntimeError("feed did not end")

    def wait_for_name(self, cursor: int, name: str) -> tuple[float, int]:
        """Long-poll the feed from cursor until a file called `name` is upserted whole."""
        deadline = time.monotonic() + TRIAL_TIMEOUT_S
        while time.monotonic() < deadline:
            page = self.call("GET", f"/v1/changes?cursor={cursor}&limit=1000&wait=20")
            assert isinstance(page, dict)
            cursor = int(page["cursor"])
            for change in page["changes"]:
                obj = change.get("object") or {}
                if obj.get("name") == name and obj.get("size") == PROBE_BYTES:
                    return time.perf_counter(), cursor
        raise TimeoutError(f"{name} not on the server within {TRIAL_TIMEOUT_S}s")


def push_trial(api: Api, target: Path, cursor: int) -> tuple[float, int]:
    """Written and closed in place (push on close) until the server's feed has it."""
    with target.open("wb") as out:
        out.write(os.urandom(PROBE_BYTES))
    closed = time.perf_counter()
    seen, cursor = api.wait_for_name(cursor, target.name)
    return seen - closed, cursor


def pull_trial(api: Api, folder_id: str, target: Path) -> float:
    """Stored on the server (PUT answered) until the file is in the root with its size."""
    quoted = urllib.parse.quote(target.name, safe="")
    api.call("PUT", f"/v1/folders/{folder_id}/files/{quoted}", os.urandom(PROBE_BYTES))
    started = time.perf_counter()
    while time.perf_counter() < started + TRIAL_TIMEOUT_S:
        try:
            if target.stat().st_size == PROBE_BYTES:
                return time.perf_counter() - started
        except FileNotFoundError:
            pass
        time.sleep(POLL_S)
    raise TimeoutError(f"{target.name} not in the root within {TRIAL_TIMEOUT_S}s")


def latency(lib: Library, root: Path, trials: int) -> tuple[list[float], list[float]]:
    """(push seconds, pull seconds) of `trials` alternating trials; one warm-up trial first."""
    api = Api(lib)
    folders = api.call("GET", "/v1/folders")
    assert isinstance(folders, dict)
    folder, folder_id = folders["folders"][0]["name"], folders["folders"][0]["id"]
    pushes: list[float] = []
    pulls: list[float] = []
    cursor = api.head_cursor()
    for i in range(trials + 1):
        push_s, cursor = push_trial(api, root / folder / f"PTT-20991231-WAPUSH{i:04d}.ogg", cursor)
        time.sleep(0.1 + (i * 37 % 90) / 100)  # vary the phase against any timer
        pull_s = pull_trial(api, folder_id, root / folder / f"PTT-20991231-WAPULL{i:04d}.ogg")
        time.sleep(0.1 + (i * 53 % 90) / 100)
        if i:
            pushes.append(push_s)
            pulls.append(pull_s)
    return pushes, pulls


def idle_rss(pid: int, window_s: float) -> tuple[float, float, float]:
    """(median RSS MiB, peak RSS MiB, CPU % of one core) over window_s, sampled each second."""
    first = sample(pid)
    rss: list[int] = []
    started = time.monotonic()
    for _ in range(max(1, int(window_s))):
        time.sleep(max(0.0, started + len(rss) + 1 - time.monotonic()))
        rss.append(sample(pid).rss_bytes)
    last = sample(pid)
    cpu = 100 * (last.cpu_s - first.cpu_s) / (time.monotonic() - started)
    return statistics.median(rss) / MIB, last.peak_rss_bytes / MIB, cpu


def stop_daemon(daemon: subprocess.Popen[bytes] | None) -> None:
    if daemon is not None and daemon.poll() is None:
        daemon.terminate()
        daemon.wait(timeout=30)


def noop_runs(lib: Library, root: Path, home: Path, runs: int) -> float:
    """Median of `runs` no-op `sync --once` (the root already synced by the caller)."""
    return statistics.median(sync_once(lib, root, home, timeout_s=300) for _ in range(runs))


def tracked(n: int, args: argparse.Namespace, rows: list[Row]) -> None:
    """One library of n files: initial sync --once, no-op runs, then `syncd run`: idle RSS
    (20,000 only) and the latency trials."""
    label = f"{n:,}"
    work = Path(tempfile.mkdtemp(prefix=f"syncd-engine-{n}-"))
    lib = library(n, work)
    daemon = None
    try:
        root, home = work / "root", work / "home"
        home.mkdir()
        add(rows, "initial sync --once", label, sync_once(lib, root, home, MAX_SYNC_S), "s")
        if n in NOOP_GOAL_S:
            add(rows, "no-op sync --once", label, noop_runs(lib, root, home, args.noop_runs), "s")
        if n == 2_000:
            return
        daemon = start_daemon(lib, root, home)
        time.sleep(args.warmup_s)  # start-up scan and first long poll, not part of idle
        if daemon.poll() is not None:
            sys.exit(f"daemon exited with {daemon.returncode}; see {home / 'daemon.log'}")
        if n == 20_000:
            median, peak, cpu = idle_rss(daemon.pid, args.idle_s)
            add(rows, "idle RSS", label, median, "MiB")
            add(rows, "idle peak RSS (VmHWM)", label, peak, "MiB")
            add(rows, "idle CPU % of a core", label, cpu, "%")
        pushes, pulls = latency(lib, root, args.trials)
        for name, values in (("push", pushes), ("pull", pulls)):
            add(rows, f"{name} p50", label, percentile(values, 50), "s")
            add(rows, f"{name} p95", label, percentile(values, 95), "s")
    finally:
        stop_daemon(daemon)
        lib.close()
        shutil.rmtree(work, ignore_errors=True)


class AccountProbe(threading.Thread):
    """GET /v1/account every 0.1 s while the sync runs: the server stays responsive."""

    def __init__(self, api: Api) -> None:
        super().__init__(daemon=True)
        self.api, self.latencies, self.stop = api, list[float](), threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.1):
            started = time.perf_counter()
            self.api.call("GET", "/v1/account")
            self.latencies.append(time.perf_counter() - started)


def initial_50k(args: argparse.Namespace, rows: list[Row]) -> None:
    """`syncd run` into an empty root until all 50,000 files are there: time and peak RSS,
    and the server's `GET /v1/account` latency meanwhile."""
    n = 50_000
    work = Path(tempfile.mkdtemp(prefix="syncd-engine-50k-"))
    lib = library(n, work)
    daemon = None
    try:
        root, home = work / "root", work / "home"
        home.mkdir()
        daemon = start_daemon(lib, root, home)
        probe = AccountProbe(Api(lib))
        probe.start()
        started = time.monotonic()
        while not (root.is_dir() and count_files(root) >= n):
            if daemon.poll() is not None:
                sys.exit(f"daemon exited during the sync; see {home / 'daemon.log'}")
            if time.monotonic() - started > MAX_SYNC_S:
                sys.exit(f"not synced within {MAX_SYNC_S}s")
            time.sleep(0.5)
        took = time.monotonic() - started
        probe.stop.set()
        probe.join(timeout=60)
        account_p95 = percentile(probe.latencies, 95) if probe.latencies else float("nan")
        peak = sample(daemon.pid).peak_rss_bytes / MIB
        add(rows, "initial sync (syncd run)", "50,000", took, "s")
        add(rows, "initial sync peak RSS", "50,000", peak, "MiB")
        add(rows, "GET /v1/account p95 during it", "50,000", account_p95, "s")
    finally:
        stop_daemon(daemon)
        lib.close()
        shutil.rmtree(work, ignore_errors=True)


def goal_for(figure: str, label: str) -> float | None:
    if figure == "no-op sync --once":
        return NOOP_GOAL_S.get(int(label.replace(",", "")))
    return GOALS.get(figure)


def report(rows: list[Row], started: float, load: tuple[float, float, float]) -> str:
    rev = (SRC / ".rev").read_text().strip() if (SRC / ".rev").is_file() else _git_rev()
    lines = [
        f"# bench/engine.py, {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC",
        "",
        f"syncd code: `{SRC.name}` at {rev}; {os.cpu_count()} CPUs; run took "
        f"{time.monotonic() - started:.0f} s; load average at start "
        f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, at end "
        + " ".join(f"{v:.2f}" for v in os.getloadavg()),
        "",
        "| figure | files | value | goal | met | load (1 min) |",
        "|---|---:|---:|---:|:---:|---:|",
    ]
    for figure, label, value, unit, at_load in rows:
        goal = goal_for(figure, label)
        shown = f"{value:.3f} {unit}" if unit == "s" else f"{value:.1f} {unit}"
        target = "" if goal is None else f"< {goal:g} {unit}"
        met = "" if goal is None else ("yes" if value < goal else "**no**")
        lines.append(f"| {figure} | {label} | {shown} | {target} | {met} | {at_load:.2f} |")
    return "\n".join(lines) + "\n"


def _git_rev() -> str:
    done = subprocess.run(
        ["git", "-C", str(SRC), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    )
    return done.stdout.strip() or "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phases", default="2000,10000,20000,50000", help="library sizes to run")
    parser.add_argument("--trials", type=int, default=20, help="latency trials per library")
    parser.add_argument("--noop-runs", type=int, default=3)
    parser.add_argument("--idle-s", type=float, default=20.0)
    parser.add_argument("--warmup-s", type=float, default=10.0)
    parser.add_argument("--out", type=Path, default=None, help="also write the report here")
    args = parser.parse_args()
    started, load = time.monotonic(), os.getloadavg()
    rows: list[Row] = []
    phases: dict[int, Callable[[], None]] = {
        n: (lambda n=n: tracked(n, args, rows)) for n in (2_000, 10_000, 20_000)
    }
    phases[50_000] = lambda: initial_50k(args, rows)
    work_dir()  # fail early if $BENCH_WORK is not writable
    for size in (int(p) for p in args.phases.split(",")):
        phases[size]()
        print(f"engine bench: {size} files done", flush=True)
    text = report(rows, started, load)
    print(text)
    if args.out is not None:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
