"""`make bench`: the initial mirror of each corpus profile, timed in one run for syncd
(`syncd sync --once` against `syncd serve`), rclone copy from `rclone serve webdav`, curl with 4
parallel transfers (HTTP floor) and cp (disk floor); prints a table with rclone time / syncd time.

    python bench/mirror.py [--profiles "small many large"] [--work DIR] [--out FILE.md]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import open_library, sync_once
from syncd_serve import SRC, stop

BENCH = Path(__file__).resolve().parent
OP_TIMEOUT_S = 900.0  # any single timed command
READY_TIMEOUT_S = 30.0
RUNNERS = ("cp", "cp+sync", "curl-par4", "rclone", "syncd")


def make_corpus(work: Path, profile: str) -> Path:
    out = work / "corpus" / profile
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, str(BENCH / "corpus.py"), str(out), "--profile", profile]
    subprocess.run(cmd, check=True, timeout=OP_TIMEOUT_S)
    return out


def expected(corpus: Path) -> dict[str, int]:
    lines = Path(f"{corpus}.manifest.jsonl").read_text(encoding="utf-8").splitlines()[1:]
    return {entry["path"]: entry["size"] for entry in map(json.loads, lines)}


def tree(dest: Path) -> dict[str, int]:
    """relpath -> size of every file, top-level dot names left out (tools' metadata)."""
    found: dict[str, int] = {}
    for top in dest.iterdir():
        if top.name.startswith("."):
            continue
        for folder, _dirs, files in os.walk(top):
            for name in files:
                path = Path(folder, name)
                found[str(path.relative_to(dest))] = path.stat().st_size
    return found


def timed(dest: Path, want: dict[str, int], run: Callable[[Path], object]) -> float:
    """Empty DEST, flush the disk, time run(DEST), then check DEST holds exactly the corpus."""
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    os.sync()
    started = time.perf_counter()
    run(dest)
    took_s = time.perf_counter() - started
    got = tree(dest)
    if got != want:
        missing = len(want.keys() - got.keys())
        raise RuntimeError(f"{dest}: {missing} missing, {len(got.keys() - want.keys())} extra")
    shutil.rmtree(dest, ignore_errors=True)
    return took_s


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve_webdav(rclone: str, corpus: Path, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [rclone, "serve", "webdav", str(corpus), "--addr", f"127.0.0.1:{port}", "--read-only"],
            stdout=out,
            stderr=out,
            start_new_session=True,
        )
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"rclone serve exited with {proc.returncode}; see {log}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return proc, f"http://127.0.0.1:{port}"
        time.sleep(0.05)
    stop(proc)
    raise RuntimeError(f"rclone serve not ready after {READY_TIMEOUT_S}s; see {log}")


def curl_config(path: Path, url: str, want: dict[str, int]) -> Path:
    def quoted(text: str) -> str:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'

    with path.open("w", encoding="utf-8") as out:
        for rel in want:
            out.write(f"url = {quoted(url + '/' + urllib.parse.quote(rel))}\n")
            out.write(f"output = {quoted(rel)}\n")
    return path


def run(cmd: list[str], env: dict[str, str] | None = None) -> None:
    subprocess.run(cmd, check=True, timeout=OP_TIMEOUT_S, env=env, stdout=subprocess.DEVNULL)


def bench_profile(args: argparse.Namespace, profile: str) -> dict[str, float]:
    corpus = make_corpus(args.work, profile)
    want = expected(corpus)
    scratch = args.work / "run" / profile
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    dest = scratch / "dest"
    times: dict[str, float] = {}
    cp = ["cp", "-r", "--", f"{corpus}/."]
    times["cp"] = timed(dest, want, lambda d: run([*cp, f"{d}/"]))
    # syncd makes every file durable before it calls it synced; the others leave it dirty in
    # the page cache. cp then sync(1) is the floor for durable copies.
    times["cp+sync"] = timed(dest, want, lambda d: (run([*cp, f"{d}/"]), os.sync()))
    proc, url = serve_webdav(args.rclone, corpus, scratch / "webdav.log")
    try:
        cfg = curl_config(scratch / "curl.cfg", url, want)
        curl = ["curl", "-sS", "--no-progress-meter", "--fail", "--create-dirs", "-R", "--parallel"]
        curl += ["--parallel-max", "4", "-K", str(cfg), "--output-dir"]
        times["curl-par4"] = timed(dest, want, lambda d: run([*curl, str(d)]))
        env = dict(os.environ, RCLONE_CONFIG=str(scratch / "rclone.conf"))
        env |= {"RCLONE_CONFIG_BENCH_TYPE": "webdav", "RCLONE_CONFIG_BENCH_URL": url}
        env["RCLONE_CONFIG_BENCH_VENDOR"] = "other"
        (scratch / "rclone.conf").touch()
        copy = [args.rclone, "copy", "bench:", "--webdav-pacer-min-sleep", "0.01ms"]
        times["rclone"] = timed(dest, want, lambda d: run([*copy, str(d)], env))
    finally:
        stop(proc)
    library = open_library(corpus, scratch)  # imported once per corpus and cached, untimed
    try:
        home = scratch / "syncd-home"
        home.mkdir()
        times["syncd"] = timed(dest, want, lambda d: sync_once(library, d, home, OP_TIMEOUT_S))
    finally:
        library.close()
    size_mb = sum(want.values()) / 1e6
    print(f"bench: {profile}: {len(want)} files, {size_mb:.0f} MB: {times}", file=sys.stderr)
    return times | {"files": len(want), "mb": size_mb}


def revision() -> str:
    def git(*args: str) -> str:
        done = subprocess.run(["git", "-C", str(SRC), *args], capture_output=True, text=True)
        return done.stdout.strip()

    rev = (
        (SRC / ".rev").read_text().strip()
        if (SRC / ".rev").is_file()
        else git("rev-parse", "--short", "HEAD")
    )
    return rev + (" (with uncommitted changes)" if git("status", "--porcelain", "syncd") else "")


def report(results: dict[str, dict[str, float]], rclone: str, loads: list[str]) -> str:
    version = subprocess.run([rclone, "version"], capture_output=True, text=True).stdout
    lines = [
        f"# Initial mirror, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, syncd at {revision()}",
        "",
        f"{os.cpu_count()} CPUs; load average before / after: {loads[0]} / {loads[1]} (the",
        "machine may be shared: compare runs only within one file). One run each, seconds.",
        f"rclone: {version.split(chr(10))[0]} `copy` from `rclone serve webdav` on loopback,",
        "`--webdav-pacer-min-sleep 0.01ms`; curl-par4 and cp read the same corpus.",
        "",
        "| profile | files | MB | cp | cp+sync | curl-par4 | rclone | syncd | rclone / syncd |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for profile, row in results.items():
        cells = [f"{row[name]:.2f}" for name in RUNNERS]
        ratio = row["rclone"] / row["syncd"]
        lines.append(
            f"| {profile} | {row['files']:,.0f} | {row['mb']:.0f} | {' | '.join(cells)} "
            f"| {ratio:.2f}x |"
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profiles", default="small many large")
    parser.add_argument(
        "--work", type=Path, default=Path(os.environ.get("BENCH_WORK", "/tmp/syncd-bench"))
    )
    parser.add_argument(
        "--rclone",
        default=shutil.which("rclone", path=str(Path(sys.executable).parent)) or "rclone",
    )
    parser.add_argument("--out", type=Path, help="also write the report here (markdown)")
    args = parser.parse_args()
    args.work = args.work.resolve()
    os.environ["BENCH_WORK"] = str(args.work)  # where benchlib caches imported libraries
    loads = [" ".join(f"{x:.1f}" for x in os.getloadavg())]
    results = {profile: bench_profile(args, profile) for profile in args.profiles.split()}
    loads.append(" ".join(f"{x:.1f}" for x in os.getloadavg()))
    text = report(results, args.rclone, loads)
    print(text)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
