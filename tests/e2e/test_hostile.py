"""Hostile and odd input against a running daemon: Unicode normalisation, emoji, 255-byte and
undecodable names, case-only renames and case clashes, a symlink to /etc/passwd, a FIFO, empty
files, files growing or deleted while uploaded, a full disk and a read-only folder during
downloads, malformed server JSON, a rotated token. Each gives its documented outcome
(docs/architecture.md, "Hostile input") and a status entry; the daemon never crashes and
nothing is lost."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import threading
import unicodedata
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from tests.e2e.campaign_tools import (
    alive,
    daemon_errors,
    fast_status,
    local_digests,
    proxy_for,
    remote_digests,
    server_upload_sizes,
    sha,
    spawn,
    temp_files,
    wait_converged,
)
from tests.support.daemon import wait_until
from tests.support.mounts import mounted_tmpfs, remount
from tests.support.server import Api, ServerProcess

MiB = 1024 * 1024
SIDES = ("local", "remote")


def _not_synced(daemon) -> dict[str, str]:
    status = fast_status(daemon) or {}
    return {e["path"]: e["reason"] for e in status.get("not_synced", [])}


def _errors(daemon) -> list[dict[str, Any]]:
    return list((fast_status(daemon) or {}).get("errors", []))


def _remote_names(api: Api, folder: str) -> set[str]:
    return {rel.split("/", 1)[1] for rel in remote_digests(api) if rel.split("/", 1)[0] == folder}


def test_odd_names_links_and_special_files(
    server: ServerProcess, api: Api, root: Path, make_daemon
) -> None:
    folder = api.create_folder("Odd Names")
    photo_id = api.upload(folder["id"], "Photo.JPG", b"case rename me")["id"]
    daemon = make_daemon(settle_s=0.2)
    spawn(daemon)
    wait_converged(daemon, api, root, timeout_s=30)
    base = root / "Odd Names"
    nfd = unicodedata.normalize("NFD", "Café déjà vu.jpg")
    (base / nfd).write_bytes(b"nfd bytes")
    (base / "🎉 party 👩‍👩‍👧.jpg").write_bytes(b"emoji")
    long_name = "é" * 125 + ".jpg"  # 254 UTF-8 bytes
    (base / long_name).write_bytes(b"long name")
    (base / ("a" * 251 + ".jpg")).write_bytes(b"255 bytes")
    (base / "empty.txt").write_bytes(b"")
    os.symlink("/etc/passwd", base / "passwd-link")
    os.mkfifo(base / "pipe")
    bad = os.fsencode(str(base)) + b"/bad-\xff\xfe.jpg"
    with open(bad, "wb") as handle:
        handle.write(b"undecodable name")
    os.rename(base / "Photo.JPG", base / "photo.jpg")  # case-only rename

    expected_remote = {
        "Café déjà vu.jpg",
        "🎉 party 👩‍👩‍👧.jpg",
        long_name,
        "a" * 251 + ".jpg",
        "empty.txt",
        "photo.jpg",
    }
    wait_until(
        lambda: _remote_names(api, "Odd Names") == expected_remote, 30, 0.2, "odd names uploaded"
    )
    skipped = wait_until(
        lambda: (s := _not_synced(daemon)) and len(s) >= 3 and s, 30, 0.2, "not_synced entries"
    )
    assert "symlink" in skipped["Odd Names/passwd-link"]
    assert "FIFO" in skipped["Odd Names/pipe"]
    assert "UTF-8" in skipped["Odd Names/bad-\\xff\\xfe.jpg"]
    remote = {f["name"]: f for f in api.files(folder["id"])}
    assert remote["empty.txt"]["size"] == 0
    assert remote["Café déjà vu.jpg"]["sha256"] == sha(b"nfd bytes")
    assert remote["photo.jpg"]["sha256"] == sha(b"case rename me")
    assert all(f["sha256"] != sha(Path("/etc/passwd").read_bytes()) for f in remote.values())
    assert (base / nfd).exists() and not (base / "Café déjà vu.jpg").exists(), "disk name kept"
    # The case-only rename reaches the server as a rename: one file of the new spelling, the
    # same file id, nothing uploaded again (a scan racing it sees a pending delete and a new
    # file with its inode and content: tests/integration/sync_remote/test_incremental_passes.py).
    assert [n for n in remote if n.casefold() == "photo.jpg"] == ["photo.jpg"]
    assert remote["photo.jpg"]["id"] == photo_id
    assert api.counters()["uploads"] == 1 + 5
    assert api.json("GET", "/v1/trash")["items"] == []
    # an NFC twin of the NFD file is a clash: reported, never uploaded over the first one
    (base / "Café déjà vu.jpg").write_bytes(b"nfc twin")
    clash = wait_until(
        lambda: {p: r for p, r in _not_synced(daemon).items() if "clash" in r}, 30, 0.2, "clash"
    )
    assert len(clash) == 1
    assert remote_digests(api)["Odd Names/Café déjà vu.jpg"] in {
        sha(b"nfd bytes"),
        sha(b"nfc twin"),
    }
    assert alive(daemon) and daemon_errors(daemon) == []


def test_case_clash_is_reported_not_lost(api: Api, root: Path, make_daemon) -> None:
    """Two local names that differ only by case: the server keeps names unique regardless of
    case, so one syncs and the other stays local, listed in not_synced. A synced name always
    wins over a newcomer, so the synced file is never dropped from the server."""
    folder = api.create_folder("Case")
    api.upload(folder["id"], "notes.txt", b"synced")
    daemon = make_daemon(settle_s=0.2)
    spawn(daemon)
    wait_converged(daemon, api, root, timeout_s=30)
    (root / "Case" / "Report.pdf").write_bytes(b"upper")
    (root / "Case" / "report.pdf").write_bytes(b"lower")
    (root / "Case" / "NOTES.txt").write_bytes(b"newcomer")
    wait_until(
        lambda: _remote_names(api, "Case") == {"notes.txt", "Report.pdf"}, 30, what="uploaded"
    )
    skipped = wait_until(
        lambda: (s := _not_synced(daemon)) and len(s) == 2 and s, 30, 0.2, "clashes reported"
    )
    assert set(skipped) == {"Case/report.pdf", "Case/NOTES.txt"}
    assert all("case" in reason for reason in skipped.values()), skipped
    assert remote_digests(api)["Case/notes.txt"] == sha(b"synced")
    for name, data in (
        ("Report.pdf", b"upper"),
        ("report.pdf", b"lower"),
        ("NOTES.txt", b"newcomer"),
    ):
        assert (root / "Case" / name).read_bytes() == data
    assert alive(daemon) and daemon_errors(daemon) == []


def test_file_growing_or_deleted_during_upload(
    server: ServerProcess, api: Api, root: Path, make_daemon
) -> None:
    """Through a 4 MiB/s link, two 6 MiB uploads run; one file is appended to, the other is
    deleted. Whatever the server stored is a complete version the scan saw (the upload sends
    exactly the scanned bytes under their digest), then the grown version replaces it; the
    deleted file ends deleted on the server (an upload that finished first goes to its trash)."""
    api.create_folder("Growing")
    proxy = proxy_for(server)
    proxy.state.rate_bytes_per_s = 4 * MiB
    try:
        daemon = make_daemon(url=proxy.url, settle_s=0.2)
        spawn(daemon)
        wait_until(lambda: (root / "Growing").is_dir(), 30, what="folder")
        grow = root / "Growing" / "grow.mp4"
        gone = root / "Growing" / "gone.mp4"
        # Written under ignored names, then moved in together: both must be in one pass (a
        # pass that saw only the first would upload it alone, and the two never overlap).
        for path in (grow, gone):
            path.with_name(f".{path.name}.part").write_bytes(os.urandom(6 * MiB))
        for path in (grow, gone):
            os.rename(path.with_name(f".{path.name}.part"), path)

        def uploading(name: str) -> bool:
            status = fast_status(daemon) or {}
            return any(
                t["path"].endswith(name) and t["direction"] == "up" and t["bytes_done"] > MiB
                for t in status.get("transfers", [])
            )

        wait_until(lambda: uploading("grow.mp4") and uploading("gone.mp4"), 60, 0.05, "uploads")
        with grow.open("ab") as handle:
            handle.write(os.urandom(MiB))
        gone.unlink()
        final = wait_converged(daemon, api, root, timeout_s=90)
        assert final == {"Growing/grow.mp4": sha(grow.read_bytes())}
        server.stop()  # flush its log
        stored = server_upload_sizes(server)
        assert set(stored) <= {6 * MiB, 7 * MiB}, f"a partial version was stored: {stored}"
        assert stored[7 * MiB] == 1
        assert alive(daemon) and daemon_errors(daemon) == []
    finally:
        proxy.stop()


def test_disk_full_during_download(
    server: ServerProcess, api: Api, tmp_path: Path, make_daemon
) -> None:
    """The root is a 5 MiB tmpfs and an 8 MiB file arrives: reported as a local disk error
    (not as an unreachable server), no partial file in the root, small files still arrive."""
    root = tmp_path / "MediaLibrary"  # the fixture's root path
    with mounted_tmpfs(root, "5m"):
        folder = api.create_folder("Full")
        big = os.urandom(8 * MiB)
        api.upload(folder["id"], "big.mp4", big)
        daemon = make_daemon(settle_s=0.2)
        spawn(daemon)
        for i in range(3):
            api.upload(folder["id"], f"small-{i}.jpg", os.urandom(10_000))
        wait_until(
            lambda: all((root / "Full" / f"small-{i}.jpg").exists() for i in range(3)),
            45,
            0.2,
            "small files despite the full disk",
        )
        entry = wait_until(
            lambda: [e for e in _errors(daemon) if e["path"] == "Full/big.mp4"], 45, 0.2, "error"
        )
        assert "space" in entry[-1]["reason"].lower(), entry
        assert not (root / "Full" / "big.mp4").exists()
        assert (fast_status(daemon) or {}).get("state") != "offline"
        assert alive(daemon)
    # the tmpfs is gone: a roomy (empty) root again; the marker went with the tmpfs
    daemon.kill()


def test_read_only_folder(server: ServerProcess, api: Api, root: Path, make_daemon) -> None:
    """A folder on a read-only mount: downloads into it fail with a clear error, the rest of
    the library syncs, local files in it still upload."""
    folder = api.create_folder("Locked")
    api.create_folder("Open")
    daemon = make_daemon(settle_s=0.2)
    spawn(daemon)
    wait_until(lambda: (root / "Locked").is_dir() and (root / "Open").is_dir(), 30, what="dirs")
    locked = root / "Locked"
    with mounted_tmpfs(locked, "1m"):
        (locked / "mine.jpg").write_bytes(b"local file in a read-only folder")
        remount(locked, "ro")
        api.upload(folder["id"], "incoming.jpg", b"cannot land")
        open_id = next(f["id"] for f in api.folders() if f["name"] == "Open")
        api.upload(open_id, "fine.jpg", b"lands")
        wait_until(lambda: (root / "Open" / "fine.jpg").exists(), 30, what="other folder syncs")
        wait_until(lambda: "mine.jpg" in _remote_names(api, "Locked"), 30, what="upload from ro")
        entry = wait_until(
            lambda: [e for e in _errors(daemon) if e["path"] == "Locked/incoming.jpg"], 30
        )
        assert "read-only" in entry[-1]["reason"].lower(), entry
        assert alive(daemon)
    daemon.kill()


class _GarbleProxy:
    """Forwards to the real server, but /v1/changes answers garbage while `mode` says so."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.mode = "ok"  # ok | garbage | shape
        self.url = ""
        self._runner: web.AppRunner | None = None
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        runner = web.AppRunner(app, shutdown_timeout=0.5)  # a forwarded long poll may be open
        self._runner = runner
        self._loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        self._ready.set()
        self._loop.run_forever()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if request.path == "/v1/changes" and self.mode == "garbage":
            return web.Response(text='{"changes": [tru', content_type="application/json")
        if request.path == "/v1/changes" and self.mode == "shape":
            return web.json_response({"changes": "nope", "cursor": "x"})
        async with (
            aiohttp.ClientSession() as session,
            session.request(
                request.method,
                self.target + request.path_qs,
                headers={k: v for k, v in request.headers.items() if k.lower() != "host"},
                data=await request.read(),
            ) as upstream,
        ):
            body = await upstream.read()
            headers = {
                k: v
                for k, v in upstream.headers.items()
                if k.lower() not in ("content-length", "transfer-encoding", "content-encoding")
            }
            return web.Response(status=upstream.status, body=body, headers=headers)

    def start(self) -> _GarbleProxy:
        self._thread.start()
        self._ready.wait(10)
        return self

    def stop(self) -> None:
        if self._runner is not None:
            cleanup = asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop)
            with contextlib.suppress(Exception):
                cleanup.result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


def test_malformed_server_json(server: ServerProcess, api: Api, root: Path, make_daemon) -> None:
    """/v1/changes answers invalid JSON, then JSON of the wrong shape: each time the daemon
    stays up, says so in status, keeps local work safe, and catches up once the answers are
    sane again."""
    folder = api.create_folder("Feed")
    garble = _GarbleProxy(server.url).start()
    try:
        daemon = make_daemon(url=garble.url, settle_s=0.2)
        spawn(daemon)
        wait_until(lambda: (root / "Feed").is_dir(), 30, what="folder")
        for mode in ("garbage", "shape"):
            garble.mode = mode
            api.upload(folder["id"], f"remote-{mode}.jpg", mode.encode())
            (root / "Feed" / f"local-{mode}.jpg").write_bytes(mode.encode() * 2)

            def reported() -> str:
                status = fast_status(daemon) or {}
                texts = [status.get("reason", "")] + [e["reason"] for e in status["errors"]]
                return next((t for t in texts if "malformed" in t), "")

            assert wait_until(reported, 60, 0.2, f"{mode} answer reported")
            assert alive(daemon)
            garble.mode = "ok"
            wait_converged(daemon, api, root, timeout_s=60)
        final = local_digests(root)
        names = {f"Feed/{side}-{mode}.jpg" for mode in ("garbage", "shape") for side in SIDES}
        assert set(final) == names
        assert daemon_errors(daemon) == []
    finally:
        garble.stop()


def test_rotated_token(server: ServerProcess, api: Api, root: Path, make_daemon) -> None:
    """The token is rotated: the daemon says so (state error, 401), deletes nothing, and a
    restart with the new token file catches up."""
    folder = api.create_folder("Token")
    api.upload(folder["id"], "kept.jpg", b"kept")
    daemon = make_daemon(settle_s=0.2)
    spawn(daemon)
    wait_converged(daemon, api, root, timeout_s=30)
    new_token = server.rotate_token("alice")
    (root / "Token" / "kept.jpg").unlink()
    (root / "Token" / "new.jpg").write_bytes(b"new")

    def auth_error() -> str:
        status = fast_status(daemon) or {}
        return status.get("reason", "") if status.get("state") == "error" else ""

    assert "401" in wait_until(auth_error, 60, 0.2, "token error reported")
    fresh = Api(server.url, new_token)
    assert "Token/kept.jpg" in remote_digests(fresh), "nothing deleted with a bad token"
    assert alive(daemon)
    assert daemon.stop(signal.SIGTERM, 30) == 0
    daemon.write_token(new_token)
    spawn(daemon)
    final = wait_converged(daemon, fresh, root, timeout_s=30)
    assert sorted(final) == ["Token/new.jpg"]
    assert temp_files(root) == [] and local_digests(root) == final
