"""Shared pieces of the syncd benchmarks: a synthetic tree generator, a running copy of a
cached library (bench/syncd_serve.py), a `syncd run` daemon with private dirs, /proc sampling
(CPU seconds, RSS, peak RSS) and percentiles."""

from __future__ import annotations

import math
import os
import random
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from syncd_serve import build_cache, child_env, start_server, stop, syncd_cmd

CLK_TCK = os.sysconf("SC_CLK_TCK")


def make_tree(root: Path, n_files: int, n_folders: int, min_bytes: int, max_bytes: int) -> Path:
    """Deterministic `root/Person NNN/IMG-...jpg` tree; skipped if it already has n_files."""
    marker = root / ".complete"
    if marker.is_file() and marker.read_text() == str(n_files):
        return root
    rng = random.Random(n_files)
    base_mtime_ns = 1_600_000_000 * 10**9
    for i in range(n_files):
        folder = root / f"Person {i % n_folders:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"IMG-2023{i % 12 + 1:02d}{i % 28 + 1:02d}-WA{i:06d}.jpg"
        path.write_bytes(rng.randbytes(rng.randint(min_bytes, max_bytes)))
        os.utime(path, ns=(base_mtime_ns + i * 10**9, base_mtime_ns + i * 10**9))
    marker.write_text(str(n_files))
    return root


@dataclass
class Library:
    """A running server on a private copy of a cached, imported library."""

    proc: subprocess.Popen[bytes]
    url: str
    token_file: Path
    data: Path

    def close(self) -> None:
        stop(self.proc)
        shutil.rmtree(self.data, ignore_errors=True)


def open_library(tree: Path, work: Path) -> Library:
    cache = build_cache(tree)
    data = work / "server-data"
    shutil.rmtree(data, ignore_errors=True)
    subprocess.run(["cp", "-a", str(cache / "pristine"), str(data)], check=True)
    token_file = work / "token"
    shutil.copy2(cache / "token", token_file)
    token_file.chmod(0o600)
    proc, url = start_server(data, "127.0.0.1", 0, work / "server.log")
    return Library(proc, url, token_file, data)


def daemon_env(home: Path) -> dict[str, str]:
    env = child_env()
    for key, sub in (
        ("XDG_CONFIG_HOME", "config"),
        ("XDG_STATE_HOME", "state"),
        ("XDG_RUNTIME_DIR", "run"),
        ("XDG_DATA_HOME", "data"),
    ):
        (home / sub).mkdir(parents=True, exist_ok=True, mode=0o700)
        env[key] = str(home / sub)
    env["SYNCD_NOTIFY__ENABLED"] = "false"
    env.pop("NOTIFY_SOCKET", None)
    return env


def sync_args(lib: Library, root: Path, home: Path) -> list[str]:
    return [
        "--url",
        lib.url,
        "--token-file",
        str(lib.token_file),
        "--root",
        str(root),
        "--state-dir",
        str(home / "db"),
    ]


def sync_once(lib: Library, root: Path, home: Path, timeout_s: float) -> float:
    """`syncd sync --once`; returns its wall-clock seconds (raises on failure)."""
    root.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with (home / "sync-once.log").open("ab") as log:
        subprocess.run(
            syncd_cmd("sync", "--once", *sync_args(lib, root, home)),
            env=daemon_env(home),
            stdout=log,
            stderr=log,
            check=True,
            timeout=timeout_s,
            cwd="/tmp",
        )
    return time.perf_counter() - started


def start_daemon(lib: Library, root: Path, home: Path) -> subprocess.Popen[bytes]:
    root.mkdir(parents=True, exist_ok=True)
    with (home / "daemon.log").open("ab") as log:
        return subprocess.Popen(
            syncd_cmd("run", *sync_args(lib, root, home)),
            env=daemon_env(home),
            stdout=log,
            stderr=log,
            cwd="/tmp",
        )


@dataclass(frozen=True)
class ProcSample:
    cpu_s: float  # user + system CPU time so far
    rss_bytes: int
    peak_rss_bytes: int  # VmHWM: the kernel's high-water mark of RSS


def sample(pid: int) -> ProcSample:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu_s = (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime (fields 14, 15)
    status = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        status[key] = value.strip()
    rss = int(status["VmRSS"].split()[0]) * 1024
    hwm = int(status["VmHWM"].split()[0]) * 1024
    return ProcSample(cpu_s, rss, hwm)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]


def count_files(root: Path) -> int:
    return sum(
        1
        for folder in root.iterdir()
        if folder.is_dir() and not folder.name.startswith(".")
        for entry in folder.iterdir()
        if entry.is_file() and not entry.name.startswith(".")
    )
