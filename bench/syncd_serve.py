"""The `serve` and `inject` ops of bench/runners/syncd.sh: serve a corpus folder as a syncd
library on HOST:PORT (imported once through the API, cached, copied per run), and export new
server files back into the corpus folder so peers.sh can see pushes.

    syncd_serve.py serve ROOT HOST:PORT     # foreground until SIGTERM
    syncd_serve.py prepare ROOT             # only build the cached library (untimed warm-up)
    syncd_serve.py inject SRC REL           # PUT a new file (BENCH_URL from the environment)

The port answers only when the library is ready: while importing, a placeholder socket
listens without answering, so peers.sh's readiness probe (`curl --max-time 1`) keeps waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

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


def placeholder(host: str, port: int) -> socket.socket:
    """Listen on the port without ever answering: the harness's probe times out, retries."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(512)
    return sock


def live_dir(root: Path, port: int) -> Path:
    """Per-port folder the other runner ops read: token, exporter cursor. Folders of serve
    processes that are gone (the harness SIGKILLs 5 s after SIGTERM, which can cut the
    clean-up short) are removed first."""
    base = work_dir() / "by-port"
    for old in base.glob("*"):
        pid_file = old / "serve.pid"
        with contextlib.suppress(OSError, ValueError):
            if pid_file.is_file() and Path(f"/proc/{int(pid_file.read_text())}").exists():
                continue
        shutil.rmtree(old, ignore_errors=True)
    path = base / str(port)
    path.mkdir(parents=True, exist_ok=True)
    (path / "serve.pid").write_text(str(os.getpid()))
    return path


def serve(root: Path, address: str) -> int:
    host, port_text = address.rsplit(":", 1)
    port = int(port_text)
    hold = placeholder(host, port)
    cache = build_cache(root)
    live = live_dir(root, port)
    data = live / "data"
    shutil.rmtree(data, ignore_errors=True)
    subprocess.run(["cp", "-a", "--reflink=auto", str(cache / "pristine"), str(data)], check=True)
    shutil.copy2(cache / "token", live / "token")
    (live / "token").chmod(0o600)
    cursor = int(json.loads((cache / "meta.json").read_text())["cursor"])
    (live / "cursor").write_text(str(cursor))
    hold.close()
    proc, url = start_server(data, host, port, live / "server.log")
    try:
        asyncio.run(export_loop(url, (live / "token").read_text().strip(), root, live, cursor))
    finally:
        stop(proc)
        shutil.rmtree(live, ignore_errors=True)
    return 0


async def export_loop(url: str, token: str, root: Path, live: Path, cursor: int) -> None:
    """Mirror new or changed server files into ROOT until SIGTERM (push checks look there)."""
    stop_event = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop_event.set)
    timeout = aiohttp.ClientTimeout(total=POLL_WAIT_S + 30)
    async with aiohttp.ClientSession(
        headers={"Authorization": f"Bearer {token}"}, timeout=timeout
    ) as session:
        names: dict[str, str] = {}
        while not stop_event.is_set():
            poll = asyncio.ensure_future(
                get_json(session, f"{url}/v1/changes?cursor={cursor}&limit=1000&wait={POLL_WAIT_S}")
            )
            halt = asyncio.ensure_future(stop_event.wait())
            await asyncio.wait({poll, halt}, return_when=asyncio.FIRST_COMPLETED)
            if stop_event.is_set():
                poll.cancel()
                break
            halt.cancel()
            try:
                page = poll.result()
                for change in page["changes"]:
                    await export_change(session, url, root, names, change)
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                print(f"syncd_serve: export failed: {exc!r}; retrying", flush=True)
                await asyncio.sleep(0.5)
                continue
            cursor = int(page["cursor"])
            temp = live / "cursor.tmp"
            temp.write_text(str(cursor))
            os.replace(temp, live / "cursor")


async def get_json(session: aiohttp.ClientSession, url: str) -> Any:
    async with session.get(url) as resp:
        resp.raise_for_status()
        return await resp.json()


async def export_change(
    session: aiohttp.ClientSession, url: str, root: Path, names: dict[str, str], change: Any
) -> None:
    obj = change.get("object")
    if change["op"] != "upsert" or not obj:
        return
    if change["type"] == "folder":
        names[obj["id"]] = obj["name"]
        return
    if obj["folder_id"] not in names:
        folder = await get_json(session, f"{url}/v1/folders/{obj['folder_id']}")
        names[obj["folder_id"]] = folder["name"]
    target = root / names[obj["folder_id"]] / obj["name"]
    if target.is_file() and target.stat().st_size == obj["size"]:
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.parent / f".export-{os.getpid()}.tmp"
    async with session.get(f"{url}/v1/files/{obj['id']}/content") as resp:
        if resp.status == 404:  # deleted meanwhile; a later change says so
            return
        resp.raise_for_status()
        temp.write_bytes(await resp.read())
    os.utime(temp, ns=(obj["mtime_ns"], obj["mtime_ns"]))
    os.replace(temp, target)


def inject(src: Path, rel: str) -> int:
    """PUT SRC as REL (`folder/name`) on the server at BENCH_URL, creating the folder."""
    import urllib.request

    url = os.environ["BENCH_URL"].rstrip("/")
    port = urllib.parse.urlsplit(url).port
    token = (work_dir() / "by-port" / str(port) / "token").read_text().strip()
    auth = {"Authorization": f"Bearer {token}"}
    folder_name, name = rel.split("/", 1)

    def call(method: str, path: str, body: bytes | None = None, **headers: str) -> Any:
        req = urllib.request.Request(url + path, body, {**auth, **headers}, method=method)
        with urllib.request.urlopen(req, timeout=60) as resp:
            return json.loads(resp.read() or b"null")

    folders = {f["name"]: f["id"] for f in call("GET", "/v1/folders")["folders"]}
    if folder_name not in folders:
        created = call(
            "POST",
            "/v1/folders",
            json.dumps({"name": folder_name}).encode(),
            **{"Content-Type": "application/json"},
        )
        folders[folder_name] = created["id"]
    quoted = urllib.parse.quote(name, safe="")
    data = src.read_bytes()
    mtime = str(src.stat().st_mtime_ns)
    call(
        "PUT",
        f"/v1/folders/{folders[folder_name]}/files/{quoted}",
        data,
        **{"X-Syncd-Mtime-Ns": mtime},
    )
    src.unlink()
    return 0


def main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[0] == "serve":
        return serve(Path(argv[1]).resolve(), argv[2])
    if len(argv) == 2 and argv[0] == "prepare":
        print(build_cache(Path(argv[1]).resolve()))
        return 0
    if len(argv) == 3 and argv[0] == "inject":
        return inject(Path(argv[1]), argv[2])
    print(__doc__, file=sys.stderr)
    return 64


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
