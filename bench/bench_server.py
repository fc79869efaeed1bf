"""Benchmark of the library server on loopback: small-file uploads/downloads per second with
8 concurrent clients and MB/s of one 200 MB upload and download, each measured with the
Python client (aiohttp) and with `curl` against the same server in the same run.

    .venv/bin/python bench/bench_server.py [--small-files 400] [--big-mb 200]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.server import Api, start_server  # noqa: E402

SMALL_BYTES = 20 * 1024
CONCURRENCY = 8


async def py_small_uploads(url: str, token: str, folder: str, n: int) -> float:
    payload = os.urandom(SMALL_BYTES)
    queue = list(range(n))
    headers = {"Authorization": f"Bearer {token}"}

    async def worker(session: aiohttp.ClientSession) -> None:
        while queue:
            i = queue.pop()
            async with session.put(
                f"{url}/v1/folders/{folder}/files/py{i}.bin", data=payload, headers=headers
            ) as resp:
                assert resp.status in (200, 201), resp.status

    async with aiohttp.ClientSession() as session:
        started = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(CONCURRENCY)))
        return n / (time.perf_counter() - started)


async def py_small_downloads(url: str, token: str, file_ids: list[str]) -> float:
    queue = list(file_ids)
    headers = {"Authorization": f"Bearer {token}"}

    async def worker(session: aiohttp.ClientSession) -> None:
        while queue:
            file_id = queue.pop()
            async with session.get(f"{url}/v1/files/{file_id}/content", headers=headers) as r:
                assert r.status == 200 and len(await r.read()) == SMALL_BYTES

    async with aiohttp.ClientSession() as session:
        started = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(CONCURRENCY)))
        return len(file_ids) / (time.perf_counter() - started)


async def py_big(url: str, token: str, folder: str, path: Path) -> tuple[float, float]:
    size = path.stat().st_size
    headers = {"Authorization": f"Bearer {token}", "Content-Length": str(size)}
    timeout = aiohttp.ClientTimeout(total=600)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        started = time.perf_counter()
        with path.open("rb") as handle:
            async with session.put(
                f"{url}/v1/folders/{folder}/files/py-big.bin", data=handle, headers=headers
            ) as resp:
                assert resp.status in (200, 201), await resp.text()
                file_id = (await resp.json())["id"]
        up = size / (time.perf_counter() - started) / 1e6
        started = time.perf_counter()
        got = 0
        async with session.get(
            f"{url}/v1/files/{file_id}/content", headers={"Authorization": f"Bearer {token}"}
        ) as resp:
            async for chunk in resp.content.iter_chunked(1 << 20):
                got += len(chunk)
        assert got == size
        down = size / (time.perf_counter() - started) / 1e6
    return up, down


def curl_parallel(token: str, lines: list[str], work: Path) -> float:
    """Run one curl with --parallel-max 8 over a config of transfers; returns seconds."""
    config = work / "curl.cfg"
    config.write_text("\n".join(lines) + "\n")
    started = time.perf_counter()
    subprocess.run(
        [
            "curl",
            "-sS",
            "--fail",
            "-Z",
            "--no-progress-meter",
            "--parallel-max",
            str(CONCURRENCY),
            "-H",
            f"Authorization: Bearer {token}",
            "-K",
            str(config),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - started


def curl_small(url: str, token: str, folder: str, n: int, work: Path) -> tuple[float, float]:
    small = work / "small.bin"
    small.write_bytes(os.urandom(SMALL_BYTES))
    ups = [
        f'url = "{url}/v1/folders/{folder}/files/curl{i}.bin"\nupload-file = "{small}"\n'
        f'output = "/dev/null"'
        for i in range(n)
    ]
    up_rate = n / curl_parallel(token, ups, work)
    ids = [f["id"] for f in Api(url, token).files(folder) if f["name"].startswith("curl")]
    downs = [f'url = "{url}/v1/files/{i}/content"\noutput = "/dev/null"' for i in ids]
    down_rate = len(ids) / curl_parallel(token, downs, work)
    return up_rate, down_rate


def curl_big(url: str, token: str, folder: str, path: Path) -> tuple[float, float]:
    auth = ["-H", f"Authorization: Bearer {token}"]
    size = path.stat().st_size
    started = time.perf_counter()
    out = subprocess.run(
        [
            "curl",
            "-sS",
            "--fail",
            *auth,
            "-T",
            str(path),
            f"{url}/v1/folders/{folder}/files/curl-big.bin",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    up = size / (time.perf_counter() - started) / 1e6
    file_id = out.split('"id": "', 1)[1].split('"', 1)[0]
    started = time.perf_counter()
    subprocess.run(
        ["curl", "-sS", "--fail", *auth, "-o", "/dev/null", f"{url}/v1/files/{file_id}/content"],
        check=True,
    )
    down = size / (time.perf_counter() - started) / 1e6
    return up, down


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small-files", type=int, default=400)
    parser.add_argument("--big-mb", type=int, default=200)
    args = parser.parse_args()
    if shutil.which("curl") is None:
        sys.exit("curl is required for the comparison")
    work = Path(tempfile.mkdtemp(prefix="syncd-bench-"))
    try:
        with start_server(work / "data", test_hooks=False) as server:
            token = server.add_user("bench", quota="100GiB", max_file="10GiB")
            api = Api(server.url, token)
            folder = api.create_folder("bench")["id"]
            big = work / "big.bin"
            with big.open("wb") as handle:
                for _ in range(args.big_mb):
                    handle.write(os.urandom(1 << 20))
            rows = run_all(server.url, token, folder, args.small_files, big, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print_table(rows, args.small_files, args.big_mb)


def run_all(
    url: str, token: str, folder: str, n: int, big: Path, work: Path
) -> list[tuple[str, float, float]]:
    py_up = asyncio.run(py_small_uploads(url, token, folder, n))
    ids = [f["id"] for f in Api(url, token).files(folder) if f["name"].startswith("py")]
    py_down = asyncio.run(py_small_downloads(url, token, ids))
    curl_up, curl_down = curl_small(url, token, folder, n, work)
    py_big_up, py_big_down = asyncio.run(py_big(url, token, folder, big))
    curl_big_up, curl_big_down = curl_big(url, token, folder, big)
    return [
        ("20 KB uploads/s (8 concurrent)", py_up, curl_up),
        ("20 KB downloads/s (8 concurrent)", py_down, curl_down),
        ("big upload MB/s", py_big_up, curl_big_up),
        ("big download MB/s", py_big_down, curl_big_down),
    ]


def print_table(rows: list[tuple[str, float, float]], n: int, big_mb: int) -> None:
    print(f"syncd server bench (loopback; {n} small files; big file {big_mb} MiB)")
    print(f"{'measure':<34} {'python':>10} {'curl':>10}")
    for name, py, curl in rows:
        print(f"{name:<34} {py:>10.1f} {curl:>10.1f}")


if __name__ == "__main__":
    main()
