"""Import a local tree (`ROOT/<folder>/<file>`) into a syncd library through the HTTP API:
one library folder per top-level directory, mtimes kept (X-Syncd-Mtime-Ns), N uploads in
flight. Resumable: files already on the server with the same size are skipped.

    .venv/bin/python bench/import_tree.py --url URL --token-file F ROOT [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

# Files up to this size are read into memory and sent with a Repr-Digest; bigger ones are
# streamed (the digest would need a second read of the file).
INLINE_BYTES = 8 << 20
PAGE_LIMIT = 5000
MAX_PAGES = 10_000


@dataclass(frozen=True)
class Item:
    folder: str
    path: Path
    size_bytes: int
    mtime_ns: int


def scan(root: Path) -> list[Item]:
    """Every regular file one level below a top-level directory (dot entries skipped)."""
    items: list[Item] = []
    for folder in sorted(root.iterdir()):
        if folder.name.startswith(".") or not folder.is_dir():
            continue
        for entry in sorted(folder.iterdir()):
            if entry.is_file() and not entry.name.startswith("."):
                st = entry.stat()
                items.append(Item(folder.name, entry, st.st_size, st.st_mtime_ns))
    return items


class Library:
    """The few API calls an importer needs, on one aiohttp session."""

    def __init__(self, session: aiohttp.ClientSession, url: str, token: str) -> None:
        self.session = session
        self.url = url.rstrip("/")
        self.auth = {"Authorization": f"Bearer {token}"}

    async def get_json(self, path: str) -> Any:
        async with self.session.get(self.url + path, headers=self.auth) as resp:
            resp.raise_for_status()
            return await resp.json()

    async def folders(self) -> dict[str, str]:
        body = await self.get_json("/v1/folders")
        return {f["name"]: f["id"] for f in body["folders"]}

    async def ensure_folder(self, name: str, known: dict[str, str]) -> str:
        if name not in known:
            async with self.session.post(
                self.url + "/v1/folders", json={"name": name}, headers=self.auth
            ) as resp:
                resp.raise_for_status()
                known[name] = (await resp.json())["id"]
        return known[name]

    async def sizes(self, folder_id: str) -> dict[str, int]:
        """{name: size} of one folder, all pages."""
        out: dict[str, int] = {}
        after = ""
        for _ in range(MAX_PAGES):
            page = await self.get_json(
                f"/v1/folders/{folder_id}/files?limit={PAGE_LIMIT}&after={after}"
            )
            out.update({f["name"]: f["size"] for f in page["files"]})
            if not page["next_after"]:
                break
            after = urllib.parse.quote(page["next_after"], safe="")
        return out

    async def upload(self, folder_id: str, item: Item) -> None:
        name = urllib.parse.quote(item.path.name, safe="")
        headers = {
            **self.auth,
            "Content-Type": "application/octet-stream",
            "Content-Length": str(item.size_bytes),
            "X-Syncd-Mtime-Ns": str(item.mtime_ns),
        }
        target = f"{self.url}/v1/folders/{folder_id}/files/{name}"
        if item.size_bytes <= INLINE_BYTES:
            data = item.path.read_bytes()
            digest = base64.b64encode(hashlib.sha256(data).digest()).decode()
            headers["Repr-Digest"] = f"sha-256=:{digest}:"
            async with self.session.put(target, data=data, headers=headers) as resp:
                resp.raise_for_status()
            return
        with item.path.open("rb") as handle:
            async with self.session.put(target, data=handle, headers=headers) as resp:
                resp.raise_for_status()


async def import_tree(url: str, token: str, root: Path, concurrency: int = 8) -> tuple[int, int]:
    """Upload what is missing; returns (files uploaded, bytes uploaded)."""
    items = scan(root)
    timeout = aiohttp.ClientTimeout(total=None, sock_read=300)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        lib = Library(session, url, token)
        known = await lib.folders()
        ids = {
            name: await lib.ensure_folder(name, known) for name in sorted({i.folder for i in items})
        }
        present: dict[str, dict[str, int]] = {}
        for name, folder_id in ids.items():
            present[name] = await lib.sizes(folder_id)
        todo = [i for i in items if present[i.folder].get(i.path.name) != i.size_bytes]
        queue = iter(todo)

        async def worker() -> None:
            for item in queue:  # a shared iterator: each item is taken by exactly one worker
                await lib.upload(ids[item.folder], item)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return len(todo), sum(i.size_bytes for i in todo)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("--url", required=True)
    parser.add_argument("--token-file", type=Path, required=True)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    token = args.token_file.read_text().strip()
    started = time.perf_counter()
    n, size = asyncio.run(import_tree(args.url, token, args.root, args.concurrency))
    elapsed = time.perf_counter() - started
    print(f"imported {n} files, {size / 1e6:.1f} MB in {elapsed:.1f}s ({n / elapsed:.0f} files/s)")


if __name__ == "__main__":
    main()
