"""The daemon mirrors the library both ways: first sync, new local files, deletes, renames,
new folders — real server, real daemon subprocess, real inotify."""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

from tests.support.daemon import (
    DaemonProcess,
    local_tree,
    remote_file,
    remote_tree,
    temp_files,
    wait_until,
)
from tests.support.server import Api


def _seed_library(api: Api, participants: int, files_each: int) -> dict[str, bytes]:
    rng = random.Random(7)
    contents: dict[str, bytes] = {}
    for p in range(participants):
        folder = api.create_folder(f"Participant {p} José")
        for i in range(files_each):
            data = rng.randbytes(rng.randint(0, 40_000))
            name = f"IMG-2026112{p}-WA{i:04d}.jpg"
            api.upload(folder["id"], name, data, mtime_ns=1_700_000_000_000_000_000 + i * 10**9)
            contents[f"{folder['name']}/{name}"] = data
    return contents


def test_first_sync_makes_identical_trees(api: Api, root: Path, make_daemon) -> None:
    """3 participants / 200 files: same names, bytes and mtimes locally as on the server."""
    contents = _seed_library(api, 3, 67)
    daemon: DaemonProcess = make_daemon().start()
    wait_until(lambda: local_tree(root) == remote_tree(api), 60, 0.3, "trees equal")
    for rel, data in contents.items():
        assert (root / rel).read_bytes() == data
    assert len(local_tree(root)) == len(contents) == 201
    assert (root / ".syncd-root").exists()
    assert temp_files(root) == []
    assert daemon.stop() == 0


def test_dropped_file_reaches_its_server_folder(api: Api, root: Path, make_daemon) -> None:
    api.create_folder("Alice Martin")
    api.create_folder("Bruno Costa")
    make_daemon().start()
    wait_until(lambda: (root / "Bruno Costa").is_dir(), 30, what="folders mirrored")
    (root / "Bruno Costa" / "offer.pdf").write_bytes(b"%PDF-1.4 offer")
    found = wait_until(lambda: remote_file(api, "Bruno Costa/offer.pdf"), 30, what="upload")
    assert found["size"] == len(b"%PDF-1.4 offer")
    assert remote_file(api, "Alice Martin/offer.pdf") is None


def test_slowly_written_file_is_uploaded_once_complete(
    api: Api, server, root: Path, make_daemon
) -> None:
    """1 MB every 200 ms for 2 s: one upload, of the complete file."""
    api.create_folder("Alice Martin")
    make_daemon(settle_s=1.0).start()
    wait_until(lambda: (root / "Alice Martin").is_dir(), 30, what="folder mirrored")
    before = api.counters()["uploads"]
    chunk = os.urandom(1024 * 1024)
    with (root / "Alice Martin" / "VID-slow.mp4").open("wb") as handle:
        for _ in range(10):
            handle.write(chunk)
            handle.flush()
            time.sleep(0.2)
    found = wait_until(lambda: remote_file(api, "Alice Martin/VID-slow.mp4"), 30, what="upload")
    assert found["size"] == 10 * 1024 * 1024
    time.sleep(1.5)  # give a second (wrong) upload the chance to happen before counting
    assert api.counters()["uploads"] - before == 1


def test_closed_file_is_pushed_without_waiting_for_settle_s(
    api: Api, root: Path, make_daemon
) -> None:
    """Written and closed (or saved by a rename into place): uploaded at once, though
    settle_s is 30 s; the stat rule only waits where no close was seen."""
    api.create_folder("Alice Martin")
    # The folder exists before the daemon watches the root: inotify may miss the first events
    # in a folder created while watched (before its own watch is set), leaving the stat rule.
    (root / "Alice Martin").mkdir(parents=True)
    make_daemon(settle_s=30.0).start().wait_idle()
    # The start's own root-level events (marker, probe files) come as a full-rescan batch,
    # which drops per-path close events merged into it: let that batch pass first.
    time.sleep(1.0)
    (root / "Alice Martin" / "closed.jpg").write_bytes(b"written and closed")
    staging = root / "Alice Martin" / ".~draft.pdf"
    staging.write_bytes(b"saved by rename")
    os.replace(staging, root / "Alice Martin" / "saved.pdf")
    for name in ("closed.jpg", "saved.pdf"):
        wait_until(lambda n=name: remote_file(api, f"Alice Martin/{n}"), 15, what=name)


def test_deletes_both_ways(api: Api, root: Path, make_daemon) -> None:
    folder = api.create_folder("Alice Martin")
    api.upload(folder["id"], "a.jpg", b"a" * 100)
    api.upload(folder["id"], "b.jpg", b"b" * 100)
    daemon = make_daemon().start()
    wait_until(lambda: len(local_tree(root)) == 2, 30, what="mirrored")
    (root / "Alice Martin" / "a.jpg").unlink()
    wait_until(lambda: remote_file(api, "Alice Martin/a.jpg") is None, 30, what="remote delete")
    remote_b = remote_file(api, "Alice Martin/b.jpg")
    assert remote_b is not None
    api.delete_file(remote_b["id"])
    wait_until(lambda: not (root / "Alice Martin" / "b.jpg").exists(), 30, what="local delete")
    trashed = wait_until(lambda: list(daemon.trash.glob("b*.jpg")), 10, what="in Trash")
    assert trashed[0].read_bytes() == b"b" * 100


def test_renames_are_renames_not_transfers(api: Api, root: Path, make_daemon) -> None:
    folder = api.create_folder("Alice Martin")
    other = api.create_folder("Bruno Costa")
    api.upload(folder["id"], "a.jpg", os.urandom(50_000))
    api.upload(folder["id"], "b.jpg", os.urandom(50_000))
    make_daemon().start()
    wait_until(lambda: len(local_tree(root)) == 2, 30, what="mirrored")
    before = api.counters()
    # local rename (across folders) -> server move
    os.rename(root / "Alice Martin" / "a.jpg", root / "Bruno Costa" / "a-moved.jpg")
    wait_until(lambda: remote_file(api, "Bruno Costa/a-moved.jpg"), 30, what="remote rename")
    # remote rename -> local rename
    b = remote_file(api, "Alice Martin/b.jpg")
    assert b is not None
    api.json("PATCH", f"/v1/files/{b['id']}", {"name": "b-renamed.jpg", "folder_id": other["id"]})
    wait_until(lambda: (root / "Bruno Costa" / "b-renamed.jpg").exists(), 30, what="local rn")
    assert remote_file(api, "Alice Martin/a.jpg") is None
    after = api.counters()
    assert after["uploads"] == before["uploads"]
    assert after["downloads"] == before["downloads"]


def test_new_local_folder_becomes_custom_folder(api: Api, root: Path, make_daemon) -> None:
    api.create_folder("Alice Martin")
    make_daemon().start()
    wait_until(lambda: (root / "Alice Martin").is_dir(), 30, what="mirrored")
    (root / "Campaign assets").mkdir()
    (root / "Campaign assets" / "banner.png").write_bytes(b"\x89PNG banner")
    found = wait_until(lambda: remote_file(api, "Campaign assets/banner.png"), 30, what="up")
    assert found["size"] == len(b"\x89PNG banner")
    folder = next(f for f in api.folders() if f["name"] == "Campaign assets")
    assert folder["kind"] == "custom"
