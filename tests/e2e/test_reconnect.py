"""Reconnects that re-read the whole library - the feed compacted while the daemon was cut
off, the server restored from an older backup, a server that keeps answering 410 - never move
a local file to the Trash that the server still has, while local writes keep the daemon
planning passes during the re-read (the server's answers are slowed by a test hook so the
re-read window is seconds long, every run)."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.e2e.campaign_tools import fast_status, proxy_for, spawn, wait_converged
from tests.support.daemon import DaemonProcess, wait_until
from tests.support.proxy import FaultProxy
from tests.support.server import Api, ServerProcess

FOLDERS, PER_FOLDER = 4, 30
SYNC = "max_delete = 100000\nquiet_s = 0.1\nmax_wait_s = 0.5"
REREAD_DELAY_MS = 2500  # each slowed /v1/changes answer: the window a pass could misuse
WRITE_EVERY_S = 0.3


def _library(api: Api) -> dict[str, str]:
    """FOLDERS x PER_FOLDER small files; {folder/name: file id}."""
    ids = {}
    for f in range(FOLDERS):
        folder = api.create_folder(f"Folder {f}")
        for i in range(PER_FOLDER):
            ids[f"Folder {f}/{i:03}.txt"] = api.upload(folder["id"], f"{i:03}.txt", b"%d" % i)["id"]
    return ids


def _upload(api: Api, folder_name: str, names: list[str]) -> set[str]:
    folder = next(f for f in api.folders() if f["name"] == folder_name)
    for name in names:
        api.upload(folder["id"], name, name.encode())
    return {f"{folder_name}/{n}" for n in names}


class LocalActivity:
    """While the daemon reconnects: a new local file every WRITE_EVERY_S (each one wakes a
    pass), and every 50 ms a check that none of `must_stay` left the root. Also records the
    daemon's state reasons seen."""

    def __init__(self, root: Path, must_stay: set[str], daemon: DaemonProcess) -> None:
        self.root, self.must_stay, self.daemon = root, set(must_stay), daemon
        self.written: set[str] = set()
        self.missing: set[str] = set()
        self.reasons: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        next_write = 0.0
        for _ in range(2400):  # bounded: 2 minutes at most
            if self._stop.is_set():
                return
            now = time.monotonic()
            if now >= next_write and len(self.written) < 300:
                name = f"Folder 0/local-{len(self.written):03}.txt"
                (self.root / name).write_bytes(name.encode())
                self.written.add(name)
                next_write = now + WRITE_EVERY_S
            self.missing |= {p for p in self.must_stay if not (self.root / p).exists()}
            status = fast_status(self.daemon) or {}
            self.reasons.add(str(status.get("reason", "")))
            time.sleep(0.05)

    @contextmanager
    def running(self) -> Iterator[LocalActivity]:
        self._thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            self._thread.join(10)


def _trashed(daemon: DaemonProcess) -> list[str]:
    return sorted(p.name for p in daemon.trash.iterdir()) if daemon.trash.exists() else []


def _mirrored(
    server: ServerProcess, api: Api, root: Path, make_daemon: object
) -> tuple[dict[str, str], FaultProxy, DaemonProcess]:
    ids = _library(api)
    proxy = proxy_for(server)
    daemon: DaemonProcess = make_daemon(url=proxy.url, settle_s=0.2, extra_sync=SYNC)  # type: ignore[operator]
    spawn(daemon)
    wait_converged(daemon, api, root, timeout_s=90)
    return ids, proxy, daemon


def test_reconnect_after_compaction_rereads_without_deleting(
    server: ServerProcess, api: Api, root: Path, make_daemon: object
) -> None:
    """Cut off while 3 files are deleted, 10 uploaded and the feed compacted; back online with
    a local write every 0.3 s: nothing the server still has leaves the root, the 3 deleted
    files go to the Trash, the 10 new ones and the local writes arrive."""
    ids, proxy, daemon = _mirrored(server, api, root, make_daemon)
    try:
        proxy.set_down()
        gone = sorted(ids)[:3]
        for path in gone:
            api.delete_file(ids[path])
        added = _upload(api, "Folder 1", [f"new-{i}.txt" for i in range(10)])
        api.compact(keep=0)  # the daemon's cursor is now below the floor: 410
        api.delay(REREAD_DELAY_MS, count=2, path_prefix="/v1/changes")
        must_stay = set(ids) - set(gone)
        with LocalActivity(root, must_stay, daemon).running() as activity:
            proxy.set_down(False)
            wait_until(lambda: all((root / p).exists() for p in added), 90, 0.2, "new files")
        assert activity.missing == set(), f"removed though on the server: {activity.missing}"
        final = wait_converged(daemon, api, root, timeout_s=90)
        assert set(final) == must_stay | added | activity.written
        assert _trashed(daemon) == sorted(p.split("/")[1] for p in gone)
    finally:
        proxy.stop()


def _restart(
    server: ServerProcess, token: str, proxy: FaultProxy, restore_from: Path | None = None
) -> Api:
    """Restart the server (from a backup of its data dir, if given) behind the same proxy."""
    server.stop()
    if restore_from is not None:
        shutil.rmtree(server.data_dir)
        shutil.copytree(restore_from, server.data_dir)
    server.start()
    proxy.retarget(int(server.url.rsplit(":", 1)[1]))
    return Api(server.url, token)


def test_server_restored_from_backup_deletes_nothing(
    server: ServerProcess, api: Api, token: str, root: Path, tmp_path: Path, make_daemon: object
) -> None:
    """The server's data dir goes back to an older backup (its feed is behind our cursor):
    nothing goes to the Trash; files the server lost are uploaded again from our copies, and
    files deleted after the backup come back (the backup still has them)."""
    ids, proxy, daemon = _mirrored(server, api, root, make_daemon)
    backup = tmp_path / "backup"
    try:
        proxy.set_down()
        server.stop()
        shutil.copytree(server.data_dir, backup)
        api = _restart(server, token, proxy)
        after = _upload(api, "Folder 2", [f"after-{i}.txt" for i in range(5)])
        gone = sorted(ids)[:2]
        for path in gone:
            api.delete_file(ids[path])
        proxy.set_down(False)
        wait_converged(daemon, api, root, timeout_s=90)
        assert _trashed(daemon) == sorted(p.split("/")[1] for p in gone)

        proxy.set_down()
        api = _restart(server, token, proxy, restore_from=backup)
        api.delay(REREAD_DELAY_MS, count=2, path_prefix="/v1/changes")
        must_stay = (set(ids) - set(gone)) | after
        with LocalActivity(root, must_stay, daemon).running() as activity:
            proxy.set_down(False)
            wait_until(lambda: all(_on_server(api, p) for p in after), 90, 0.5, "re-uploaded")
        assert activity.missing == set(), f"removed: {activity.missing}"
        final = wait_converged(daemon, api, root, timeout_s=90)
        assert set(final) == set(ids) | after | activity.written
        assert _trashed(daemon) == sorted(p.split("/")[1] for p in gone), "nothing new trashed"
    finally:
        proxy.stop()


def _on_server(api: Api, rel: str) -> bool:
    folder_name, name = rel.split("/", 1)
    folder = next((f for f in api.folders() if f["name"] == folder_name), None)
    return folder is not None and any(f["name"] == name for f in api.files(folder["id"]))


def test_feed_that_keeps_answering_410_deletes_nothing(
    server: ServerProcess, api: Api, root: Path, make_daemon: object
) -> None:
    """Seven 410s in a row: the re-read gives up ("keeps expiring", shown as offline even
    while local passes run), the daemon tries again later; through all of it the last
    complete view is used, so nothing is removed, and later changes arrive."""
    ids, proxy, daemon = _mirrored(server, api, root, make_daemon)
    try:
        api.inject_fault(status=410, count=7, retry_after_s=0, path_prefix="/v1/changes")
        with LocalActivity(root, set(ids), daemon).running() as activity:
            woke = _upload(api, "Folder 3", ["wake.txt"])  # ends the long poll in flight
            wait_until(
                lambda: any("keeps expiring" in r for r in activity.reasons), 60, 0.2, "offline"
            )
            later = _upload(api, "Folder 3", ["later.txt"])
            wait_until(lambda: all((root / p).exists() for p in later), 90, 0.2, "later")
        assert activity.missing == set(), f"removed: {activity.missing}"
        final = wait_converged(daemon, api, root, timeout_s=90)
        assert set(final) == set(ids) | woke | later | activity.written
        assert _trashed(daemon) == []
    finally:
        proxy.stop()


def test_restart_resumes_from_the_stored_cursor(
    server: ServerProcess, api: Api, root: Path, make_daemon: object
) -> None:
    """Stopped while files arrive and one is deleted: the restart reads only what changed
    (the remote mirror is kept in the state DB with its cursor), and converges."""
    ids, proxy, daemon = _mirrored(server, api, root, make_daemon)
    try:
        assert daemon.stop(timeout_s=30) == 0
        gone = sorted(ids)[0]
        api.delete_file(ids[gone])
        added = _upload(api, "Folder 1", ["while-stopped-1.txt", "while-stopped-2.txt"])
        spawn(daemon)
        final = wait_converged(daemon, api, root, timeout_s=60)
        assert set(final) == (set(ids) - {gone}) | added
        rereads = [e for e in daemon.log_events() if e.get("event") == "library_reread"]
        assert len(rereads) == 1, "only the very first start reads the whole library"
        assert _trashed(daemon) == [gone.split("/")[1]]
    finally:
        proxy.stop()
