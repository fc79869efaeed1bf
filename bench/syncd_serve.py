"""The benchmarks' syncd server: a corpus folder imported once through the API into a pristine
library (cached under $BENCH_WORK/syncd-serve, keyed by the corpus and the data format), and
`syncd serve` started on a copy of it."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from import_tree import import_tree

BENCH = Path(__file__).resolve().parent
SRC = Path(os.environ.get("SYNCD_SRC") or BENCH.parent)
PYTHON = os.environ.get("SYNCD_PYTHON") or sys.executable
START_TIMEOUT_S = 30.0
POLL_WAIT_S = 20
# The server compacts its feed to the last --feed-keep seqs (default 10,000) every 60 s. Up to
# 2317d2b a fresh client paging a bigger library from cursor 0 then got 410 on page 2 and
# started over forever (fixed in 283758e; bench/repro_feed_410.py). The figures in
# bench/README.md were measured with the whole feed kept; SYNCD_BENCH_FEED_KEEP=10000 benches
# with the server's default.
FEED_KEEP = os.environ.get("SYNCD_BENCH_FEED_KEEP", "100000000")


def syncd_cmd(*args: str) -> list[str]:
    return [PYTHON, "-m", "syncd", *args]


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(SRC)
    # An installed syncd has its bytecode compiled; without this a shell that sets it would
    # time every start-up with syncd's sources compiled again (~0.3 s per process).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def work_dir() -> Path:
    base = Path(os.environ.get("BENCH_WORK") or "/tmp/syncbench") / "syncd-serve"
    base.mkdir(parents=True, exist_ok=True)
    return base


def cache_key(root: Path) -> str:
    """Corpus identity (manifest, else listing) plus the format of the data it was imported to."""
    digest = hashlib.sha256()
    manifest = Path(os.environ.get("BENCH_MANIFEST") or f"{root}.manifest.jsonl")
    if manifest.is_file():
        digest.update(manifest.read_bytes())
    else:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                digest.update(f"{path.relative_to(root)}\t{path.stat().st_size}\n".encode())
    # The data dir's format (schema, blob layout), not every server source: a cached library
    # stays valid across route changes, and a server migrates an older schema when it opens.
    server = SRC / "syncd" / "server"
    for source in sorted([server / "db.py", server / "storage.py", *server.glob("blobs/**/*.py")]):
        if source.is_file():
            digest.update(source.read_bytes())
    digest.update(FEED_KEEP.encode())
    return f"{root.name}-{digest.hexdigest()[:12]}"


def start_server(
    data: Path, host: str, port: int, log: Path
) -> tuple[subprocess.Popen[bytes], str]:
    info = data / "server.json"
    info.unlink(missing_ok=True)
    with log.open("ab") as out:
        proc = subprocess.Popen(
            syncd_cmd(
                "serve",
                "--data",
                str(data),
                "--host",
                host,
                "--port",
                str(port),
                "--feed-keep",
                FEED_KEEP,
            ),
            stdout=out,
            stderr=out,
            env=child_env(),
        )
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"syncd serve exited with {proc.returncode}; see {log}")
        with contextlib.suppress(OSError, ValueError, KeyError):
            url = str(json.loads(info.read_text())["url"])
            with socket.create_connection((host, int(url.rsplit(":", 1)[1])), timeout=1):
                return proc, url
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"syncd serve not ready after {START_TIMEOUT_S}s; see {log}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def head_cursor(url: str, token: str) -> int:
    """The feed position after the last change (pages through the feed once)."""
    cursor = 0
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as session:
        for _ in range(100_000):
            async with session.get(f"{url}/v1/changes?cursor={cursor}&limit=1000") as resp:
                if resp.status == 410:  # compacted: continue from the oldest cursor kept
                    cursor = int((await resp.json())["error"]["oldest_cursor"])
                    continue
                resp.raise_for_status()
                page = await resp.json()
            cursor = int(page["cursor"])
            if not page["more"]:
                break
    return cursor


def build_cache(root: Path) -> Path:
    """Import ROOT into a pristine data dir once; resumable if interrupted."""
    cache = work_dir() / cache_key(root)
    if (cache / "meta.json").is_file():
        return cache
    data = cache / "pristine"
    data.mkdir(parents=True, exist_ok=True)
    token_file = cache / "token"
    if not token_file.is_file():
        done = subprocess.run(
            syncd_cmd(
                "admin",
                "add-user",
                "bench",
                "--quota",
                "1TiB",
                "--max-file",
                "100GiB",
                "--data",
                str(data),
            ),
            capture_output=True,
            text=True,
            check=True,
            env=child_env(),
        )
        token_file.write_text(done.stdout.strip().splitlines()[-1] + "\n")
        token_file.chmod(0o600)
    token = token_file.read_text().strip()
    proc, url = start_server(data, "127.0.0.1", 0, cache / "import-server.log")
    try:
        started = time.perf_counter()
        n, size = asyncio.run(import_tree(url, token, root))
        cursor = asyncio.run(head_cursor(url, token))
        took_s = time.perf_counter() - started
    finally:
        stop(proc)
    meta = {"files": n, "bytes": size, "import_s": round(took_s, 1), "cursor": cursor}
    (cache / "meta.json").write_text(json.dumps(meta))
    print(f"syncd_serve: imported {n} files ({size} B) in {took_s:.1f}s", flush=True)
    return cache
