"""Landing a batch of downloads on real files and a real state DB: each file lands or fails on
its own; a file at its final name has its full content, mtime and a base row."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
from pathlib import Path

import pytest

from syncd.errors import StaleError
from syncd.sync import landing as landing_module
from syncd.sync.landing import Landing
from syncd.sync.model import LocalFile, RelPath, RemoteFile, RootTraits
from syncd.sync.rootfs import can_syncfs, mount_type
from syncd.sync.statedb import StateDB
from syncd.sync.transfer import Fetched, temp_path_for

MTIME_NS = 1_600_000_000_123_456_789


def fetched(root: Path, folder: str, name: str, body: bytes, n: int) -> Fetched:
    """A verified temp file, as fetch_file leaves it."""
    remote = RemoteFile(
        RelPath(folder, name), f"f{n}", "d1", len(body), hashlib.sha256(body).hexdigest(),
        MTIME_NS, 1,
    )  # fmt: skip
    (root / folder).mkdir(exist_ok=True)
    target = root / folder / name
    temp = temp_path_for(target, remote.file_id)
    temp.write_bytes(body)
    os.utime(temp, ns=(MTIME_NS, MTIME_NS))
    return Fetched(remote, temp, target, None)


def traits_for(root: Path, durability: str) -> RootTraits:
    """The root's real traits for the syncfs path; unknown ones for one fsync per file."""
    if durability == "fsync":
        return RootTraits()
    traits = RootTraits(fs_type=mount_type(root))
    if not can_syncfs(traits):
        pytest.skip(f"no syncfs on {traits.fs_type}")
    return traits


@pytest.mark.parametrize("durability", ["syncfs", "fsync"])
def test_a_batch_lands_each_file_on_its_own(tmp_path: Path, durability: str) -> None:
    root = tmp_path / "root"
    root.mkdir()
    traits = traits_for(root, durability)
    db = StateDB.open(tmp_path / "state.db")
    items = [fetched(root, f"P{i % 3}", f"IMG-{i}.jpg", b"x" * i, i) for i in range(1, 40)]
    clash = items[7]
    clash.target.write_bytes(b"the user's own file")  # appeared since the scan
    changed = fetched(root, "P0", "doc.pdf", b"new", 99)
    changed.target.write_bytes(b"old, then edited")
    changed = Fetched(changed.remote, changed.temp, changed.target, LocalFile(
        changed.remote.path, size=3, mtime_ns=1, inode=1, sha256=None,
    ))  # fmt: skip
    landing = Landing(db, lambda: traits)

    async def land_all() -> list[object]:
        jobs = [landing.land(item) for item in [*items, changed]]
        return await asyncio.gather(*jobs, return_exceptions=True)

    outcomes = asyncio.run(land_all())
    base = db.load_base().files
    for item, outcome in zip([*items, changed], outcomes, strict=True):
        if item in (clash, changed):
            assert isinstance(outcome, StaleError), outcome
            assert item.remote.path not in base
            continue
        assert isinstance(outcome, os.stat_result), outcome
        assert item.target.read_bytes() == b"x" * item.remote.size
        assert item.target.stat().st_mtime_ns == MTIME_NS
        assert not item.temp.exists()
        assert base[item.remote.path].sha256 == item.remote.sha256
        assert base[item.remote.path].inode == item.target.stat().st_ino
    assert clash.target.read_bytes() == b"the user's own file"  # never clobbered
    assert changed.target.read_bytes() == b"old, then edited"
    db.close()


@pytest.mark.parametrize("durability", ["syncfs", "fsync"])
@pytest.mark.parametrize("batch", [1, 600])
def test_every_waiter_gets_its_answer(tmp_path: Path, batch: int, durability: str) -> None:
    """More files than one batch holds (MAX_BATCH_FILES): later ones land in later batches."""
    root = tmp_path / "root"
    root.mkdir()
    traits = traits_for(root, durability)
    db = StateDB.open(tmp_path / "state.db")
    items = [fetched(root, "P", f"f{i}", str(i).encode(), i) for i in range(batch)]
    landing = Landing(db, lambda: traits)

    async def land_all() -> list[os.stat_result]:
        return await asyncio.gather(*(landing.land(item) for item in items))

    assert len(asyncio.run(land_all())) == batch
    assert len(db.load_base().files) == batch
    db.close()


@pytest.mark.parametrize("download_in_flight", [False, True])
def test_a_batch_waits_for_more_files_only_while_downloads_are_in_flight(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, download_in_flight: bool
) -> None:
    """The last files of a pass land as soon as the batch before them has landed: nothing more
    can join them (this waited out the batch interval at the end of every pass). While a
    download is still in flight, the next batch waits for it, up to the interval."""
    monkeypatch.setattr(landing_module, "MIN_BATCH_INTERVAL_S", 30.0)
    root = tmp_path / "root"
    root.mkdir()
    traits = traits_for(root, "syncfs")
    db = StateDB.open(tmp_path / "state.db")
    first, last = (fetched(root, "P", f"f{i}", b"x" * i, i) for i in (1, 2))
    landing = Landing(db, lambda: traits)

    async def scenario() -> None:
        with landing.fetching() if download_in_flight else contextlib.nullcontext():
            landing_first = asyncio.ensure_future(landing.land(first))
            await asyncio.sleep(0)  # the first file is queued and its batch starts...
            await asyncio.sleep(0)  # ...and takes it: the last file comes while it lands
            landing_last = asyncio.ensure_future(landing.land(last))
            await landing_first
            done, _pending = await asyncio.wait([landing_last], timeout=1.0)
            assert bool(done) is not download_in_flight
        await asyncio.wait_for(landing_last, timeout=5.0)  # the download ended: no more waiting

    asyncio.run(scenario())
    assert len(db.load_base().files) == 2
    db.close()
