"""The sync root on a real exFAT backup drive (mkfs.exfat image on a loop device, mounted with
exfat-fuse), with the real server and `syncd run`: no hard links, case-insensitive names,
refused characters, coarse mtimes and inode numbers that change per mount. Each scenario ends
with both sides holding the same bytes (under mapped names where the disk needs them), the
status telling the truth, and no partial file under a final name."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from syncd.sync.model import RootTraits
from syncd.sync.rootfs import probe_root
from tests.e2e.campaign_tools import (
    alive,
    daemon_errors,
    fast_status,
    proxy_for,
    remote_digests,
    sha,
    sigkill,
    spawn,
    temp_files,
)
from tests.support.daemon import DaemonProcess, partial_bytes, wait_until
from tests.support.exfat import exfat_mount, exfat_skip_reason, remount
from tests.support.server import Api, ServerProcess

MiB = 1024 * 1024
SKIP = exfat_skip_reason()
pytestmark = pytest.mark.skipif(SKIP is not None, reason=SKIP or "")


@pytest.fixture
def root(tmp_path: Path) -> Iterator[Path]:
    """The sync root is the top of the mounted drive, as for a real backup disk."""
    with exfat_mount(tmp_path / "drive.img", tmp_path / "drive") as mountpoint:
        yield mountpoint


def disk_digests(root: Path) -> dict[str, str]:
    """{folder/disk name: sha256} of everything synced-looking on the drive."""
    out: dict[str, str] = {}
    for folder in sorted(root.iterdir()):
        if folder.name.startswith(".") or not folder.is_dir():
            continue
        for entry in folder.iterdir():
            if not entry.name.startswith(".") and entry.is_file():
                out[f"{folder.name}/{entry.name}"] = sha(entry.read_bytes())
    return out


def idle(daemon: DaemonProcess) -> dict[str, Any] | None:
    status = fast_status(daemon)
    return status if status and status["state"] == "idle" and not status["transfers"] else None


def wait_state(
    daemon: DaemonProcess, api: Api, root: Path, disk: dict[str, str], timeout_s: float = 60
) -> dict[str, Any]:
    """Wait until the daemon is idle and the drive holds exactly `disk` (disk names)."""

    def done() -> dict[str, Any] | None:
        status = idle(daemon)
        return status if status is not None and disk_digests(root) == disk else None

    try:
        result: dict[str, Any] = wait_until(done, timeout_s, 0.2, "idle with the expected drive")
    except AssertionError as exc:
        raise AssertionError(
            f"{exc}\ndrive: {disk_digests(root)}\nserver: {remote_digests(api)}\n"
            f"status: {fast_status(daemon)}\n{daemon.log_tail(30)}"
        ) from None
    return result


def test_probe_sees_an_exfat_drive(root: Path) -> None:
    traits = probe_root(root)
    assert traits == RootTraits(
        case_insensitive=True,
        normalising=False,
        windows_names=True,
        stable_inodes=False,
        mtime_granularity_ns=1_000_000_000,
        max_file_bytes=None,
        placement="recheck",  # exfat-fuse: link() EPERM, RENAME_NOREPLACE EINVAL
        fs_type="fuseblk",
    )
    assert [p.name for p in root.iterdir()] == [], "the probe leaves nothing behind"


def test_mirror_case_renames_refused_names_and_deletes(api: Api, root: Path, make_daemon) -> None:
    alice = api.create_folder("Alice")
    photo = api.upload(alice["id"], "Photo.JPG", b"photo bytes")
    api.upload(alice["id"], "Invoice: March?.pdf", b"invoice")
    api.upload(alice["id"], "notes.", b"trailing dot")
    api.upload(alice["id"], "keep.txt", b"keep")
    daemon = make_daemon(settle_s=0.2)
    spawn(daemon)
    status = wait_state(
        daemon,
        api,
        root,
        {
            "Alice/Photo.JPG": sha(b"photo bytes"),
            "Alice/Invoice_ March_.pdf": sha(b"invoice"),
            "Alice/notes_": sha(b"trailing dot"),
            "Alice/keep.txt": sha(b"keep"),
        },
    )
    stored = {e["path"]: e["reason"] for e in status["stored_as"]}
    assert set(stored) == {"Alice/Invoice: March?.pdf", "Alice/notes."}, stored
    assert "Invoice_ March_.pdf" in stored["Alice/Invoice: March?.pdf"]
    assert status["errors"] == [] and temp_files(root) == []

    # case-only rename on the server -> the local file follows (no clash, no re-download)
    downloads = api.counters()["download_bytes"]
    api.json("PATCH", f"/v1/files/{photo['id']}", {"name": "photo.jpg"})
    wait_state(
        daemon,
        api,
        root,
        {
            "Alice/photo.jpg": sha(b"photo bytes"),
            "Alice/Invoice_ March_.pdf": sha(b"invoice"),
            "Alice/notes_": sha(b"trailing dot"),
            "Alice/keep.txt": sha(b"keep"),
        },
    )
    assert api.counters()["download_bytes"] == downloads

    # case-only rename on the drive -> renamed on the server, same file
    (root / "Alice" / "photo.jpg").rename(root / "Alice" / "PHOTO.jpg")
    wait_until(lambda: "Alice/PHOTO.jpg" in remote_digests(api), 30, 0.2, "server rename")
    assert api.json("GET", f"/v1/files/{photo['id']}")["name"] == "PHOTO.jpg"

    # a mapped file edited on the drive goes back under its remote name
    (root / "Alice" / "Invoice_ March_.pdf").write_bytes(b"invoice v2")
    wait_until(
        lambda: remote_digests(api).get("Alice/Invoice: March?.pdf") == sha(b"invoice v2"),
        30,
        0.2,
        "edit of a mapped file uploaded under the remote name",
    )
    # deleted on the drive -> deleted on the server; deleted on the server -> off the drive
    (root / "Alice" / "notes_").unlink()
    keep = next(f for f in api.files(alice["id"]) if f["name"] == "keep.txt")
    api.delete_file(keep["id"])
    final = {
        "Alice/PHOTO.jpg": sha(b"photo bytes"),
        "Alice/Invoice_ March_.pdf": sha(b"invoice v2"),
    }
    status = wait_state(daemon, api, root, final)
    remote_final = {
        "Alice/PHOTO.jpg": sha(b"photo bytes"),
        "Alice/Invoice: March?.pdf": sha(b"invoice v2"),
    }
    # a local delete is sent once confirmed (a second look after the quiet period)
    wait_until(lambda: remote_digests(api) == remote_final, 30, 0.2, "the delete confirmed")
    assert [e["path"] for e in status["stored_as"]] == ["Alice/Invoice: March?.pdf"]
    assert alive(daemon) and daemon_errors(daemon) == []


def test_names_that_are_one_on_the_drive(api: Api, root: Path, make_daemon) -> None:
    """The server keeps names unique by NFC + case fold, so two of its names clash on the drive
    only through the safe spelling (`a:b.jpg` -> `a_b.jpg` next to a real `a_b.jpg`) or against
    a local file the server has not got (`Report.pdf` on the drive, `report.PDF` arriving). One
    keeps its name, the other becomes a clash copy, both are reported, nothing is lost, and the
    daemon settles (no endless deferral)."""
    shop = api.create_folder("Shop")
    api.create_folder("Bob: plumber")
    api.upload(shop["id"], "a_b.jpg", b"plain")
    api.upload(shop["id"], "a:b.jpg", b"colon")
    daemon = make_daemon(settle_s=0.2)
    (root / "Shop").mkdir()
    (root / "Shop" / "Report.pdf").write_bytes(b"mine, not on the server")
    api.upload(shop["id"], "report.PDF", b"theirs")
    spawn(daemon)

    def settled() -> dict[str, Any] | None:
        status = idle(daemon)
        if status is None or "Shop/Report.pdf" not in {e["path"] for e in status["not_synced"]}:
            return None
        return status

    status = wait_until(settled, 60, 0.2, "settled with the clash reported")
    assert disk_digests(root) == {
        "Shop/a_b.jpg": sha(b"plain"),
        "Shop/a_b (name clash).jpg": sha(b"colon"),
        "Shop/Report.pdf": sha(b"mine, not on the server"),
        "Shop/report (case clash).PDF": sha(b"theirs"),
    }
    assert (root / "Bob_ plumber").is_dir()
    stored = {e["path"]: e["reason"] for e in status["stored_as"]}
    assert set(stored) == {"Shop/a:b.jpg", "Shop/report.PDF", "Bob: plumber"}, stored
    assert "case clash" in stored["Shop/report.PDF"]
    not_synced = {e["path"]: e["reason"] for e in status["not_synced"]}
    assert "case" in not_synced["Shop/Report.pdf"], not_synced
    assert remote_digests(api) == {
        "Shop/a_b.jpg": sha(b"plain"),
        "Shop/a:b.jpg": sha(b"colon"),
        "Shop/report.PDF": sha(b"theirs"),
    }
    # a file dropped into the mapped folder uploads into the server's folder of that name
    (root / "Bob_ plumber" / "quote.pdf").write_bytes(b"quote")
    wait_until(lambda: remote_digests(api).get("Bob: plumber/quote.pdf") == sha(b"quote"), 30, 0.2)
    assert alive(daemon) and daemon_errors(daemon) == []


def _scans(daemon: DaemonProcess) -> list[dict[str, Any]]:
    return [e for e in daemon.log_events() if e.get("event") == "pass_planned"]


def test_remount_reads_nothing_again(api: Api, root: Path, make_daemon) -> None:
    """Unplugged and plugged back, the drive shows new inode numbers for every file: the
    daemon trusts size + mtime there (stable_inodes False) instead of hashing the whole disk,
    and transfers nothing."""
    folder = api.create_folder("Alice")
    # An hour old: a file modified within two mtime steps of now is read again on purpose
    # (scanner.known_sha, coarse mtimes), which is not what this test is about.
    taken_ns = time.time_ns() - 3600 * 1_000_000_000
    for i in range(5):
        api.upload(folder["id"], f"IMG-{i}.jpg", f"photo {i}".encode() * 1000, mtime_ns=taken_ns)
    daemon = make_daemon(settle_s=0.2)
    spawn(daemon)
    expected = {f"Alice/IMG-{i}.jpg": sha(f"photo {i}".encode() * 1000) for i in range(5)}
    wait_state(daemon, api, root, expected)
    daemon.stop(signal.SIGTERM)
    inodes = {p.name: p.stat().st_ino for p in (root / "Alice").iterdir()}
    remount(root)
    assert {p.name: p.stat().st_ino for p in (root / "Alice").iterdir()} != inodes
    counters = api.counters()
    before = len(_scans(daemon))
    spawn(daemon)
    wait_until(lambda: len(_scans(daemon)) > before, 30, 0.1, "a pass after the restart")
    wait_state(daemon, api, root, expected)
    assert [e["hashed"] for e in _scans(daemon)[before:]] == [0] * (len(_scans(daemon)) - before)
    after = api.counters()
    assert (after["uploads"], after["download_bytes"]) == (
        counters["uploads"],
        counters["download_bytes"],
    )


def test_kill_during_download_leaves_no_partial_file(
    server: ServerProcess, api: Api, root: Path, make_daemon
) -> None:
    """kill -9 while a big file streams onto the drive through a slow link: only the temp file
    exists (never a partial file under the final name); after a restart the download resumes
    and lands whole."""
    folder = api.create_folder("Alice")
    data = os.urandom(48 * MiB)
    api.upload(folder["id"], "video.mp4", data)
    proxy = proxy_for(server)
    proxy.state.rate_bytes_per_s = 8 * MiB
    try:
        daemon = make_daemon(url=proxy.url, settle_s=0.2)
        spawn(daemon)
        wait_until(lambda: partial_bytes(root) > 8 * MiB, 60, 0.05, "download under way")
        sigkill(daemon)
        assert temp_files(root), "a crash leaves the temp file to resume from"
        assert not (root / "Alice" / "video.mp4").exists()
        assert disk_digests(root) == {}
        proxy.state.rate_bytes_per_s = None
        spawn(daemon)
        wait_state(daemon, api, root, {"Alice/video.mp4": sha(data)})
        assert temp_files(root) == []
        assert api.counters()["download_bytes"] < 2 * len(data), "resumed, not restarted"
    finally:
        proxy.stop()


def _enable_notifications(daemon: DaemonProcess, tmp_path: Path) -> Path:
    """A notify-send on the daemon's PATH that records each call (the real notifier runs it)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "notifications.txt"
    script = bin_dir / "notify-send"
    script.write_text(f'#!/bin/sh\necho "$@" >> {calls}\n')
    script.chmod(0o755)
    daemon.env["PATH"] = f"{bin_dir}:{daemon.env['PATH']}"
    daemon.config.write_text(daemon.config.read_text().replace("enabled = false", "enabled = true"))
    return calls


def test_full_drive_is_not_idle(
    server: ServerProcess, api: Api, token: str, tmp_path: Path
) -> None:
    """The drive fills up: downloads that keep failing put the daemon in state `attention`
    (not `idle`) with the count and first reason, one desktop notification, and `sync --once`
    exits 1 listing them; freeing space lets the backup complete and the state go idle."""
    with exfat_mount(tmp_path / "small.img", tmp_path / "small", size="12M") as drive:
        folder = api.create_folder("Alice")
        api.upload(folder["id"], "small.jpg", b"fits")
        big = api.upload(folder["id"], "big.mp4", os.urandom(16 * MiB))
        daemon = DaemonProcess(tmp_path / "home", server.url, token, drive, settle_s=0.2)
        once = daemon.cli("sync", "--once", timeout_s=120)
        assert once.returncode == 1, once.stderr
        assert "not synced: Alice/big.mp4" in once.stderr and "space" in once.stderr.lower()
        calls = _enable_notifications(daemon, tmp_path)
        spawn(daemon)
        try:

            def attention() -> dict[str, Any] | None:
                status = fast_status(daemon) or {}
                return status if status.get("state") == "attention" else None

            status = wait_until(attention, 60, 0.2, "state attention")
            assert "1 item keeps failing" in status["reason"], status["reason"]
            assert "space" in status["reason"].lower()
            assert (drive / "Alice" / "small.jpg").read_bytes() == b"fits"
            # later passes fail again: still attention, and still one notification
            (drive / "Alice" / "touch.txt").write_bytes(b"wake a pass")
            wait_until(lambda: "Alice/touch.txt" in remote_digests(api), 30, 0.2)
            wait_until(attention, 60, 0.2, "attention again")
            assert len(calls.read_text().splitlines()) == 1, calls.read_text()
            assert not (drive / "Alice" / "big.mp4").exists() and temp_files(drive) == []
            # the file goes from the server (or the user takes a bigger drive): idle again
            api.delete_file(big["id"])
            wait_until(lambda: idle(daemon), 60, 0.2, "idle once everything fits")
            assert idle(daemon)["errors"], "the error history is kept"
        finally:
            daemon.kill()


def test_folder_case_rename_and_adoption(api: Api, root: Path, make_daemon) -> None:
    """A server folder renamed only in case is renamed on the drive (not deleted and fetched
    again); a server folder arriving while the drive holds a folder of that name in another
    case is adopted: both sides' files meet in it, nothing is deleted anywhere."""
    alice = api.create_folder("alice")
    api.upload(alice["id"], "a.jpg", b"a")
    (root / "CAROL").mkdir()
    (root / "CAROL" / "mine.txt").write_bytes(b"local file")
    carol = api.create_folder("Carol")
    api.upload(carol["id"], "theirs.txt", b"server file")
    daemon = make_daemon(settle_s=0.2)
    spawn(daemon)
    expected = {
        "alice/a.jpg": sha(b"a"),
        "CAROL/mine.txt": sha(b"local file"),
        "CAROL/theirs.txt": sha(b"server file"),
    }
    wait_state(daemon, api, root, expected)
    wait_until(lambda: remote_digests(api).get("Carol/mine.txt") == sha(b"local file"), 30, 0.2)
    downloads = api.counters()["download_bytes"]
    api.json("PATCH", f"/v1/folders/{alice['id']}", {"name": "Alice"})
    expected = {f.replace("alice/", "Alice/"): d for f, d in expected.items()}
    wait_state(daemon, api, root, expected)
    assert api.counters()["download_bytes"] == downloads
    assert sorted(remote_digests(api)) == ["Alice/a.jpg", "Carol/mine.txt", "Carol/theirs.txt"]
    assert (fast_status(daemon) or {})["errors"] == [], "adopted, not refused as a taken name"
    assert alive(daemon) and daemon_errors(daemon) == []
