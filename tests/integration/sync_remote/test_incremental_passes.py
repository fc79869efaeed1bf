"""Incremental passes against the real server and engine (issue 10 item 3): a pass plans the
paths the feed touched and the folders the watcher hinted, finds the other end of a move through
the inode index when only one folder was hinted, and the periodic audit (a full scan and full
plan) counts a change that no dirty set held, but not one whose events may still be on their way."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from syncd.sync import model as m
from syncd.sync.client import ApiClient
from syncd.sync.daemon import open_engine
from syncd.sync.engine import Engine, EngineOptions
from syncd.sync.scanner import hash_file
from syncd.sync.status import StatusBoard
from tests.support.server import Api, ServerProcess

OLD_NS = 10**10  # mtimes 10 s old: settled, uploaded at once


def _run(
    server: ServerProcess, token: str, tmp_path: Path, body: Callable[[Engine], Awaitable[None]]
) -> None:
    async def run() -> None:
        async with ApiClient(server.url, token) as client:
            options = EngineOptions(root=tmp_path / "root", settle_s=0.2)
            engine = await open_engine(options, client, StatusBoard(), tmp_path / "state")
            try:
                await engine.reconcile(None)  # the start: a full pass
                await engine.pull()
                await engine.reconcile(set())
                await body(engine)
            finally:
                engine.db.close()

    asyncio.run(run())


def _kinds(planned: m.Plan | list[m.Action]) -> list[str]:
    actions = planned.actions if isinstance(planned, m.Plan) else planned
    return sorted(type(a).__name__ for a in actions)


def _write_old(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    os.utime(path, ns=(time.time_ns() - OLD_NS,) * 2)


def test_feed_changes_and_hinted_folders_are_planned(server: ServerProcess, tmp_path: Path) -> None:
    api = Api(server.url, server.add_user("alice"))
    a = api.create_folder("A")["id"]
    api.create_folder("B")
    api.upload(a, "x.jpg", b"x")
    root = tmp_path / "root"

    async def body(engine: Engine) -> None:
        api.upload(a, "new.jpg", b"from the phone")
        await engine.pull()
        result = await engine.reconcile(set())  # no folder hinted: the feed's path is dirty
        assert _kinds(result.gated.run_files) == ["Download"]
        _write_old(root / "B" / "mine.jpg", b"mine")
        assert not (await engine.reconcile(set())).progressed, "B was not hinted"
        result = await engine.reconcile({"B"})
        assert _kinds(result.gated.run_files) == ["Upload"]

    _run(server, api.token, tmp_path, body)
    assert (root / "A" / "new.jpg").read_bytes() == b"from the phone"


def test_a_move_seen_from_one_folder_is_a_rename(server: ServerProcess, tmp_path: Path) -> None:
    api = Api(server.url, server.add_user("bob"))
    a = api.create_folder("A")["id"]
    api.create_folder("B")
    x = api.upload(a, "x.jpg", os.urandom(10_000))["id"]
    root = tmp_path / "root"

    async def body(engine: Engine) -> None:
        os.rename(root / "A" / "x.jpg", root / "B" / "x.jpg")
        # Only the destination is hinted (its moved-from event in A not seen yet): the inode
        # index finds the old place, which is looked at again.
        result = await engine.reconcile({"B"})
        assert _kinds(result.gated.run_files) == ["RenameRemote"]

    before = api.counters()["uploads"]
    _run(server, api.token, tmp_path, body)
    assert [(f["id"], f["name"]) for f in api.files(api.folders()[1]["id"])] == [(x, "x.jpg")]
    assert api.counters()["uploads"] == before


def test_a_move_whose_old_folder_was_hinted_a_pass_earlier_is_a_rename(
    server: ServerProcess, tmp_path: Path
) -> None:
    """The crash campaign's rare "uploaded more than once": the watcher's hint for the old
    folder came a pass before the one for the new folder, so the first pass saw only a missing
    file (a pending delete) and the next one a new file holding its inode and its content."""
    api = Api(server.url, server.add_user("dora"))
    a = api.create_folder("A")["id"]
    api.create_folder("B")
    x = api.upload(a, "x.jpg", os.urandom(10_000))["id"]
    root = tmp_path / "root"

    async def body(engine: Engine) -> None:
        os.rename(root / "A" / "x.jpg", root / "B" / "x.jpg")
        result = await engine.reconcile({"A"})  # only the old folder: a pending delete
        assert _kinds(result.gated.run_files) == []
        result = await engine.reconcile({"B"})  # before it is due, the new folder
        assert _kinds(result.gated.run_files) == ["RenameRemote"]
        await engine.pull()
        await asyncio.sleep(1.0)  # beyond the pending delete's confirmation
        result = await engine.reconcile({"A", "B"})
        assert _kinds(result.gated.run_files + result.gated.run_last) == []

    before = api.counters()["uploads"]
    _run(server, api.token, tmp_path, body)
    assert [(f["id"], f["name"]) for f in api.files(api.folders()[1]["id"])] == [(x, "x.jpg")]
    assert api.files(a) == []
    assert api.counters()["uploads"] == before


def test_a_case_only_rename_racing_the_scan_is_a_rename(
    server: ServerProcess, tmp_path: Path
) -> None:
    """A case-only rename racing a scan (how it once went out as delete + upload, when a file
    missing from a scan was deleted at once): the rename lands between the scan's listing of
    the folder and its lstat of `Photo.JPG` (here while the scan hashes a changed file listed
    before it), so that pass sees `Photo.JPG` missing (a pending delete) and not yet
    `photo.jpg`; the next pass sees `photo.jpg` holding its inode and content: a rename."""
    api = Api(server.url, server.add_user("erin"))
    a = api.create_folder("A")["id"]
    api.upload(a, "Other.jpg", b"other")
    photo = api.upload(a, "Photo.JPG", os.urandom(10_000))["id"]
    folder = tmp_path / "root" / "A"

    def rename_while_hashing(path: Path) -> tuple[str, int]:
        if path.name == "Other.jpg" and (folder / "Photo.JPG").exists():
            os.rename(folder / "Photo.JPG", folder / "photo.jpg")
        return hash_file(path)

    async def body(engine: Engine) -> None:
        _write_old(folder / "Other.jpg", b"other, edited")
        engine.passes.hasher = rename_while_hashing
        result = await engine.reconcile({"A"})
        assert _kinds(result.gated.run_files) == ["Upload"]  # Other.jpg; Photo.JPG pending
        result = await engine.reconcile({"A"})  # the rename's event
        assert _kinds(result.gated.run_files) == ["RenameRemote"]
        await engine.pull()
        await asyncio.sleep(1.0)  # beyond the pending delete's confirmation
        result = await engine.reconcile({"A"})
        assert _kinds(result.gated.run_files + result.gated.run_last) == []

    before = api.counters()["uploads"]
    _run(server, api.token, tmp_path, body)
    assert {f["name"]: f["id"] for f in api.files(a)}["photo.jpg"] == photo
    assert sorted(f["name"] for f in api.files(a)) == ["Other.jpg", "photo.jpg"]
    assert api.counters()["uploads"] == before + 1


def test_the_audit_counts_only_changes_no_dirty_set_held(
    server: ServerProcess, tmp_path: Path
) -> None:
    api = Api(server.url, server.add_user("carol"))
    api.create_folder("A")
    api.create_folder("B")
    root = tmp_path / "root"

    async def body(engine: Engine) -> None:
        _write_old(root / "A" / "hinted.jpg", b"1")
        _write_old(root / "B" / "missed.jpg", b"2")
        await asyncio.sleep(3.5)  # beyond the debounce window: no event can still be coming
        _write_old(root / "B" / "fresh.jpg", b"3")  # its event may still be on its way
        result = await engine.reconcile(None, audit={"A"})  # the watcher hinted A only
        assert _kinds(result.gated.run_files) == ["Upload"] * 3
        assert engine.passes.audit_missed == 1
        await engine.pull()
        await engine.reconcile(set())
        await engine.reconcile(None, audit=set())  # nothing left: nothing missed
        assert engine.passes.audit_missed == 1

    _run(server, api.token, tmp_path, body)


def test_a_failed_downloads_temp_goes_once_the_file_is_gone(
    server: ServerProcess, tmp_path: Path
) -> None:
    """A download that failed keeps its temp file to resume; once the server's file is gone
    it resumes nothing and goes with the pass that learns it, even when that pass has other
    work to do (the model test's round 7038 kept one: only a pass that ran nothing swept, and
    later passes no longer looked at that folder)."""
    api = Api(server.url, server.add_user("fred"))
    a = api.create_folder("A")["id"]
    b = api.create_folder("B")["id"]
    root = tmp_path / "root"

    async def body(engine: Engine) -> None:
        x = api.upload(a, "x.mp4", os.urandom(2 << 20))["id"]  # the single-file path
        api.inject_fault(status=500, count=50, path_prefix=f"/v1/files/{x}/content")
        await engine.pull()
        result = await engine.reconcile(set())
        assert [path for path, _reason in result.failed] == ["A/x.mp4"]
        assert [p.name for p in (root / "A").iterdir()] == [f".syncd-tmp-{x}.part"]
        api.delete_file(x)
        api.upload(b, "y.jpg", b"y")
        await engine.pull()
        result = await engine.reconcile(set())  # x's delete and y's download
        assert _kinds(result.gated.run_files) == ["Download"]
        await engine.reconcile(set())  # its follow-ups (B only)
        assert list((root / "A").iterdir()) == []

    _run(server, api.token, tmp_path, body)
