"""Benchmark of the scale-out backends on loopback: uploads per second (small files) and MB/s
(4 MiB files) through one `syncd serve` on SQLite + the blob folder, one on PostgreSQL + an
S3 bucket (SeaweedFS), and two instances on the same PostgreSQL + bucket, clients split
evenly between them. PostgreSQL and SeaweedFS come from the test fixtures (tests/support).

    .venv/bin/python bench/scale.py [--small-files 400] [--big-files 24] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.postgres import PostgresServer  # noqa: E402
from tests.support.s3 import SeaweedS3  # noqa: E402
from tests.support.server import Api, ServerProcess, start_server  # noqa: E402

SMALL_BYTES = 20 * 1024
BIG_BYTES = 4 << 20


async def uploads(urls: list[str], token: str, folder: str, n: int, size: int, conc: int) -> float:
    """Seconds for `n` uploads of `size` bytes, `conc` in flight, spread over `urls`."""
    payload = os.urandom(size)
    queue = list(range(n))
    headers = {"Authorization": f"Bearer {token}"}

    async def worker(session: aiohttp.ClientSession, url: str) -> None:
        while queue:
            i = queue.pop()
            name = f"{size}-{i}.bin"
            async with session.put(
                f"{url}/v1/folders/{folder}/files/{name}", data=payload, headers=headers
            ) as resp:
                assert resp.status in (200, 201), resp.status

    async with aiohttp.ClientSession() as session:
        started = time.perf_counter()
        await asyncio.gather(*(worker(session, urls[w % len(urls)]) for w in range(conc)))
        return time.perf_counter() - started


@contextlib.contextmanager
def instances(
    work: Path, count: int, db_url: str | None, blobs: str | None
) -> Iterator[list[ServerProcess]]:
    args = ["--log-level", "warning", *(["--blobs", blobs] if blobs else [])]
    with contextlib.ExitStack() as stack:
        yield [
            stack.enter_context(
                start_server(work / f"i{i}", test_hooks=False, args=args, db_url=db_url)
            )
            for i in range(count)
        ]


def measure(servers: list[ServerProcess], args: argparse.Namespace) -> tuple[float, float]:
    token = servers[0].add_user("bench", quota="100GiB")
    folder = Api(servers[0].url, token).create_folder("Bench")["id"]
    urls = [s.url for s in servers]
    small_s = asyncio.run(
        uploads(urls, token, folder, args.small_files, SMALL_BYTES, args.concurrency)
    )
    big_s = asyncio.run(uploads(urls, token, folder, args.big_files, BIG_BYTES, args.concurrency))
    return args.small_files / small_s, args.big_files * BIG_BYTES / big_s / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small-files", type=int, default=400)
    parser.add_argument("--big-files", type=int, default=24)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="syncd-scale-") as tmp:
        work = Path(tmp)
        with PostgresServer(work / "pg") as pg, SeaweedS3(work / "s3") as s3:
            os.environ.update(s3.env())
            setups = [
                ("SQLite + blob folder, 1 instance", 1, None, None),
                ("PostgreSQL + S3, 1 instance", 1, pg.fresh_database(), s3.blobs_url("one")),
                ("PostgreSQL + S3, 2 instances", 2, pg.fresh_database(), s3.blobs_url("two")),
            ]
            print(f"| setup | {SMALL_BYTES // 1024} KiB uploads/s | 4 MiB uploads MB/s |")
            print("|---|---:|---:|")
            for n, (label, count, db_url, blobs) in enumerate(setups):
                with instances(work / f"s{n}", count, db_url, blobs) as servers:
                    per_s, mb_s = measure(servers, args)
                print(f"| {label} | {per_s:.0f} | {mb_s:.1f} |", flush=True)
    print(f"\n{args.concurrency} uploads in flight; load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
