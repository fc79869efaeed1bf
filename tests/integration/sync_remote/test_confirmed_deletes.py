"""Local deletes are confirmed before they reach the server (issue 10 item 4), against the real
server and the real engine: moves between folders that race a full scan are renames (same file
id, nothing uploaded again, nothing in the server's trash), and a file that vanishes between two
scans and comes back (an editor's save) is never deleted on the server."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from syncd.sync.client import ApiClient
from syncd.sync.daemon import open_engine
from syncd.sync.engine import Engine, EngineOptions
from syncd.sync.status import StatusBoard
from tests.support.server import Api, ServerProcess

SETTLE_S = 0.5


def _when_open(path: Path, action: Callable[[], None]) -> threading.Thread:
    """Run `action` as soon as this process holds `path` open: the scanner is hashing it, after
    it listed (and stat'ed) the entries of that folder and before it lists the next folder."""

    def watch() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            for fd in os.listdir("/proc/self/fd"):
                try:
                    if os.readlink(f"/proc/self/fd/{fd}") == str(path):
                        action()
                        return
                except OSError:
                    continue
            time.sleep(0.0002)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


async def _passes(engine: Engine, count: int) -> None:
    """Full passes, `settle_s` apart, as the daemon's timers would run them."""
    for _ in range(count):
        await engine.reconcile(None)
        await engine.pull()
        await asyncio.sleep(SETTLE_S + 0.2)


async def _engine(client: ApiClient, tmp_path: Path, settle_s: float) -> Engine:
    """As the daemon opens it: account, state DB, the remote mirror pulled."""
    options = EngineOptions(root=tmp_path / "root", settle_s=settle_s, quiet_s=0.1, max_wait_s=0.3)
    return await open_engine(options, client, StatusBoard(), tmp_path / "state")


def _by_path(api: Api) -> dict[str, str]:
    return {
        f"{folder['name']}/{f['name']}": f["id"]
        for folder in api.folders()
        for f in api.files(folder["id"])
    }


def test_moves_racing_a_full_scan_are_renames(server: ServerProcess, tmp_path: Path) -> None:
    api = Api(server.url, server.add_user("alice"))
    a, b = api.create_folder("A")["id"], api.create_folder("B")["id"]
    x = api.upload(a, "x.jpg", os.urandom(20_000))["id"]
    y = api.upload(b, "y.jpg", os.urandom(20_000))["id"]
    root = tmp_path / "root"

    async def run() -> None:
        async with ApiClient(server.url, api.token) as client:
            engine = await _engine(client, tmp_path, SETTLE_S)
            try:
                await _passes(engine, 1)  # both files downloaded
                assert (root / "A" / "x.jpg").exists() and (root / "B" / "y.jpg").exists()
                big = root / "A" / "zz-big.bin"  # new: hashed after A's synced x.jpg was seen
                big.write_bytes(os.urandom(48 * 1024 * 1024))
                os.utime(big, ns=(time.time_ns() - 10**10,) * 2)  # settled: sent at once

                def move_both() -> None:
                    # A/x.jpg was seen, B not listed yet: x is seen at both ends, y at neither.
                    os.rename(root / "A" / "x.jpg", root / "B" / "x.jpg")
                    os.rename(root / "B" / "y.jpg", root / "A" / "y.jpg")

                racer = _when_open(big, move_both)
                await _passes(engine, 4)
                racer.join(1)
            finally:
                engine.db.close()

    before = api.counters()["uploads"]
    asyncio.run(run())
    files = _by_path(api)
    assert files["B/x.jpg"] == x and files["A/y.jpg"] == y, files
    assert set(files) == {"B/x.jpg", "A/y.jpg", "A/zz-big.bin"}
    assert api.counters()["uploads"] - before == 1, "only the new file was uploaded"
    assert api.json("GET", "/v1/trash")["items"] == [], "nothing was deleted on the server"


def test_a_file_that_vanishes_and_comes_back_is_never_deleted(
    server: ServerProcess, tmp_path: Path
) -> None:
    api = Api(server.url, server.add_user("bob"))
    folder = api.create_folder("Notes")["id"]
    doc = api.upload(folder, "doc.txt", b"first version")["id"]
    root, aside = tmp_path / "root", tmp_path / "doc.txt.saving"

    async def run() -> None:
        async with ApiClient(server.url, api.token) as client:
            engine = await _engine(client, tmp_path, settle_s=5.0)  # no second look here
            try:
                await engine.reconcile(None)
                # An editor's save: the old file is moved away, the new one put in its place.
                os.rename(root / "Notes" / "doc.txt", aside)
                await engine.reconcile(None)  # a scan in between sees nothing there
                aside.write_bytes(b"second version")
                os.utime(aside, ns=(time.time_ns() - 10**10,) * 2)
                os.rename(aside, root / "Notes" / "doc.txt")
                await engine.reconcile(None)
                await engine.pull()
                await engine.reconcile(None)
            finally:
                engine.db.close()

    asyncio.run(run())
    assert _by_path(api) == {"Notes/doc.txt": doc}
    assert api.download(doc) == b"second version"
    assert api.json("GET", "/v1/trash")["items"] == [], "never deleted on the server"
