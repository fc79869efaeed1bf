"""Operating the daemon: SIGTERM mid-transfer, live status during a slow transfer, backup
mode, the big-delete hold with approve/restore, webhook-to-disk, and the demo."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from syncd.server.ingest.sample_gateway import SampleGateway
from tests.support.daemon import (
    REPO,
    DaemonProcess,
    local_tree,
    remote_file,
    remote_tree,
    temp_files,
    wait_until,
)
from tests.support.proxy import FaultProxy
from tests.support.server import Api, ServerProcess

MB = 1024 * 1024


def _slow_proxy(server: ServerProcess, rate_bytes_per_s: int) -> FaultProxy:
    host, port = server.url.removeprefix("http://").split(":")
    proxy = FaultProxy(host, int(port)).start()
    proxy.state.rate_bytes_per_s = rate_bytes_per_s
    return proxy


def test_status_shows_progress_then_sigterm_exits_cleanly(
    server: ServerProcess, api: Api, root: Path, make_daemon
) -> None:
    """A slow 60 MB download shows growing progress; SIGTERM exits 0 and leaves no temp."""
    folder = api.create_folder("Alice Martin")
    api.request("PUT", f"/v1/folders/{folder['id']}/files/video.mp4", os.urandom(60 * MB))
    proxy = _slow_proxy(server, 2 * MB)
    try:
        daemon = make_daemon(url=proxy.url).start()

        def progress() -> int:
            status = daemon.status() or {}
            return max((t["bytes_done"] for t in status.get("transfers", [])), default=0)

        first = wait_until(progress, 30, 0.1, "transfer visible in status")
        later = wait_until(lambda: progress() > first and progress(), 30, 0.1, "progress grows")
        assert later > first
        assert (daemon.status() or {})["state"] == "syncing"
        assert daemon.stop(signal.SIGTERM, timeout_s=30) == 0
        assert temp_files(root) == []
        assert not (root / "Alice Martin" / "video.mp4").exists()
    finally:
        proxy.stop()


def test_backup_mode_downloads_only_and_keeps_local_files(
    api: Api, root: Path, make_daemon
) -> None:
    folder = api.create_folder("Alice Martin")
    api.upload(folder["id"], "a.jpg", b"a")
    api.upload(folder["id"], "b.jpg", b"b")
    daemon = make_daemon(mode="backup").start()
    wait_until(lambda: len(local_tree(root)) == 2, 30, what="downloaded")
    api.delete_file(remote_file(api, "Alice Martin/a.jpg")["id"])
    (root / "Alice Martin" / "local-only.jpg").write_bytes(b"mine")
    (root / "Alice Martin" / "b.jpg").unlink()
    api.upload(folder["id"], "c.jpg", b"c")
    wait_until(lambda: (root / "Alice Martin" / "c.jpg").exists(), 30, what="new download")
    daemon.wait_idle()
    assert (root / "Alice Martin" / "a.jpg").read_bytes() == b"a", "remote delete kept locally"
    assert remote_file(api, "Alice Martin/local-only.jpg") is None, "nothing uploaded"
    assert remote_file(api, "Alice Martin/b.jpg") is not None, "nothing deleted remotely"


def test_big_delete_is_held_until_approved(api: Api, root: Path, make_daemon) -> None:
    folder = api.create_folder("Alice Martin")
    for i in range(8):
        api.upload(folder["id"], f"{i}.jpg", f"{i}".encode())
    api.upload(folder["id"], "keep.jpg", b"keep")
    daemon = make_daemon(extra_sync="max_delete = 5").start()
    wait_until(lambda: len(local_tree(root)) == 9, 30, what="mirrored")
    for i in range(8):
        (root / "Alice Martin" / f"{i}.jpg").unlink()
    (root / "Alice Martin" / "new.jpg").write_bytes(b"new")

    def held() -> int:
        return int(((daemon.status() or {}).get("held_deletes") or {}).get("count", 0))

    assert wait_until(held, 30, what="deletes held") == 8
    wait_until(lambda: remote_file(api, "Alice Martin/new.jpg"), 30, what="rest goes on")
    assert len(remote_tree(api)) == 10, "nothing deleted on the server yet"
    answer = daemon.command("approve")
    assert answer["ok"], answer
    wait_until(lambda: len(remote_tree(api)) == 2, 30, what="approved deletes sent")
    assert held() == 0


def _eight_mirrored(api: Api, root: Path, make_daemon: Any) -> tuple[dict[str, Any], DaemonProcess]:
    """A folder of 8 files mirrored by a daemon whose max_delete is 5."""
    folder = api.create_folder("Alice Martin")
    for i in range(8):
        api.upload(folder["id"], f"{i}.jpg", f"{i}".encode())
    daemon = make_daemon(extra_sync="max_delete = 5").start()
    wait_until(lambda: len(local_tree(root)) == 8, 30, what="mirrored")
    return folder, daemon


def test_restore_cancels_held_deletes_and_brings_files_back(
    api: Api, root: Path, make_daemon
) -> None:
    _folder, daemon = _eight_mirrored(api, root, make_daemon)
    for i in range(8):
        (root / "Alice Martin" / f"{i}.jpg").unlink()
    wait_until(
        lambda: ((daemon.status() or {}).get("held_deletes") or {}).get("count") == 8,
        30,
        what="held",
    )
    answer = daemon.command("restore")
    assert answer["ok"] and answer["restored"] == 8, answer
    wait_until(lambda: len(local_tree(root)) == 8, 30, what="files back locally")
    assert (root / "Alice Martin" / "3.jpg").read_bytes() == b"3"
    assert len(remote_tree(api)) == 8


def _held(daemon) -> dict:  # type: ignore[no-untyped-def]
    return ((daemon.status() or {}).get("held_deletes")) or {}


def test_big_remote_delete_is_held_before_local_files_go_to_trash(
    api: Api, root: Path, make_daemon
) -> None:
    """A folder of 8 files deleted on the server in one change (max_delete 5): none goes to
    the local Trash until `approve`; a new remote file still arrives meanwhile; status says
    the side is local."""
    other = api.create_folder("Bruno Costa")
    folder, daemon = _eight_mirrored(api, root, make_daemon)
    api.delete_folder(folder["id"])
    api.upload(other["id"], "new.jpg", b"new")
    held = wait_until(lambda: _held(daemon).get("count") == 8 and _held(daemon), 30, what="held")
    assert (held["side"], held["local"], held["remote"]) == ("local", 8, 0)
    wait_until(lambda: (root / "Bruno Costa" / "new.jpg").exists(), 30, what="rest goes on")
    assert len(local_tree(root)) == 9 and not daemon.trash.exists(), "nothing trashed yet"
    assert "8 local to Trash" in daemon.cli("status").stdout
    assert daemon.command("approve")["ok"]
    wait_until(lambda: len(local_tree(root)) == 1, 30, what="approved: moved to the Trash")
    assert len(list(daemon.trash.iterdir())) == 8
    assert not (root / "Alice Martin").exists()
    assert _held(daemon).get("count") == 0


def test_restore_of_held_local_deletes_puts_the_files_back_on_the_server(
    api: Api, root: Path, make_daemon
) -> None:
    folder, daemon = _eight_mirrored(api, root, make_daemon)
    api.delete_folder(folder["id"])
    wait_until(lambda: _held(daemon).get("count") == 8, 30, what="held")
    answer = daemon.command("restore")
    assert answer["ok"] and answer["restored"] == 8 and answer["sides"] == ["local"], answer
    wait_until(lambda: len(remote_tree(api)) == 8, 30, what="files back on the server")
    assert (root / "Alice Martin" / "3.jpg").read_bytes() == b"3"
    assert not daemon.trash.exists()
    daemon.wait_idle()
    assert _held(daemon).get("count") == 0


def test_webhook_media_lands_in_the_local_participant_folder(
    server: ServerProcess, api: Api, root: Path, tmp_path: Path, make_daemon
) -> None:
    make_daemon().start()
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(b"\xff\xd8\xff\xe0" + os.urandom(20_000))

    async def deliver() -> None:
        gateway = SampleGateway(tmp_path)
        await gateway.start()
        try:
            hook = (
                server.admin(
                    "add-hook",
                    "alice",
                    "--type",
                    "waha",
                    "--gateway-url",
                    gateway.url,
                    "--api-key",
                    gateway.api_key,
                    "--hmac-key",
                    "k3y",
                )
                .strip()
                .splitlines()[-1]
            )
            status, _ = await gateway.deliver(
                server.url + hook,
                "k3y",
                "+4915112345678",
                "Dana Weber",
                photo,
                "image/jpeg",
                "ABC123",
            )
            assert status == 200
            for _ in range(300):  # bounded: the server fetches in the background
                if any(f["name"] == "Dana Weber" for f in api.folders()):
                    break
                await asyncio.sleep(0.1)
        finally:
            await gateway.stop()

    asyncio.run(deliver())
    local = wait_until(
        lambda: [p for p in local_tree(root) if p.startswith("Dana Weber/")], 30, what="on disk"
    )
    assert (root / local[0]).read_bytes() == photo.read_bytes()


def test_demo_mirrors_samples_then_incoming_items_arrive_by_themselves(tmp_path: Path) -> None:
    """`syncd demo` (what `make demo` runs) for a bounded time: the five samples, then a new
    contact's photo that nobody copied arrives in MediaLibrary/ through the webhook, each event
    is a line on the terminal, the intro carries a one-time sign-in link to the web page, and
    Ctrl-C exits 0."""
    env = dict(os.environ)
    for key, sub in (("XDG_RUNTIME_DIR", "run"), ("XDG_DATA_HOME", "data")):
        (tmp_path / sub).mkdir(mode=0o700)
        env[key] = str(tmp_path / sub)
    argv = [sys.executable, "-m", "syncd", "demo", "--dir", str(tmp_path)]
    argv += ["--interval", "1", "--port", "0"]  # port 0: never collide with a real 8750
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        library = tmp_path / "MediaLibrary"
        wait_until(lambda: len(local_tree(library)) >= 5, 60, 0.2, "demo samples mirrored")
        arrived = wait_until(
            lambda: [p for p in local_tree(library) if p.startswith("Dana Weber/")],
            60,
            0.2,
            "an incoming item from a new contact, by itself",
        )
        assert (library / arrived[0]).read_bytes()[:2] == b"\xff\xd8"  # the sample JPEG
        proc.send_signal(signal.SIGINT)
        out = proc.communicate(timeout=30)[0].decode()
        assert proc.returncode == 0, out
        assert "syncd demo is running" in out
        assert re.search(r"\n  http://127\.0\.0\.1:\d+/login/ln_[\w-]{40,}\n", out), out
        assert "incoming  Dana Weber sent a photo: received into folder Dana Weber" in out
        assert f"downloaded  {arrived[0]} (" in out
        assert "downloaded  Bruno Costa/Price list.pdf (673 B)" in out  # README's example name
    finally:
        if proc.poll() is None:
            proc.kill()


def _readme_block(marker: str) -> str:
    text = (REPO / "README.md").read_text()
    return text.split(marker, 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]


def test_readme_quick_start_runs_as_written(tmp_path: Path) -> None:
    """The README's curl quick start, extracted from README.md, run by bash from a scratch
    folder with only the installed `syncd` on PATH (the clone is not the working directory).
    Only the port is swapped for a free one."""
    script = _readme_block("<!-- quickstart:")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    script = script.replace("8750", str(port))
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCD_")}
    env["PATH"] = f"{Path(sys.executable).parent}:/usr/bin:/bin"
    env["TMPDIR"] = str(tmp_path)  # where mktemp -d makes the scratch folder
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    answers = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    uploaded = next(a for a in answers if a.get("name") == "photo.jpg")  # server logs mix in
    listing = next(a for a in answers if "files" in a)
    assert uploaded["size"] == 20000
    assert [f["name"] for f in listing["files"]] == ["photo.jpg"]
    assert not (REPO / "srv").exists() and not (REPO / "photo.jpg").exists()


def test_sync_once_dry_run_changes_nothing_then_sync_once_mirrors(
    server: ServerProcess, api: Api, token: str, tmp_path: Path
) -> None:
    folder = api.create_folder("Alice Martin")
    api.upload(folder["id"], "a.jpg", b"a")
    token_file = tmp_path / "token"
    token_file.write_text(token)
    token_file.chmod(0o600)
    root = tmp_path / "root"
    argv = [
        sys.executable,
        "-m",
        "syncd",
        "sync",
        "--once",
        "--url",
        server.url,
        "--token-file",
        str(token_file),
        "--root",
        str(root),
        "--state-dir",
        str(tmp_path / "st"),
    ]
    env = dict(os.environ, XDG_CONFIG_HOME=str(tmp_path / "cfg"))
    dry = subprocess.run([*argv, "--dry-run"], env=env, capture_output=True, text=True)
    assert dry.returncode == 0, dry.stderr
    assert "MakeLocalFolder" in dry.stdout and "Download" in dry.stdout
    assert not root.exists(), "a dry run creates nothing"
    done = subprocess.run(argv, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (root / "Alice Martin" / "a.jpg").read_bytes() == b"a"
    again = subprocess.run([*argv, "--dry-run"], env=env, capture_output=True, text=True)
    assert again.returncode == 0 and again.stdout.strip() == "", again.stdout


def test_sync_once_logs_a_summary_per_batch_not_a_line_per_file(
    server: ServerProcess, api: Api, token: str, tmp_path: Path
) -> None:
    """At the default level (info) a mirror of many files writes a few summary lines; the
    per-file lines are at debug (they were an info line with redaction per file)."""
    folder = api.create_folder("Alice Martin")
    for i in range(5):
        api.upload(folder["id"], f"IMG-{i}.jpg", b"x" * (i + 1))
    token_file = tmp_path / "token"
    token_file.write_text(token)
    token_file.chmod(0o600)
    argv = [sys.executable, "-m", "syncd", "sync", "--once", "--url", server.url]
    argv += ["--token-file", str(token_file), "--root", str(tmp_path / "root")]
    argv += ["--state-dir", str(tmp_path / "st")]
    env = dict(os.environ, XDG_CONFIG_HOME=str(tmp_path / "cfg"))
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    logs = done.stdout + done.stderr
    assert len(list((tmp_path / "root" / "Alice Martin").iterdir())) == 5
    assert "download_finished" not in logs
    assert "downloads_landed" in logs and "pass_finished" in logs


def test_pause_holds_uploads_without_spinning_and_resume_catches_up(
    api: Api, root: Path, make_daemon
) -> None:
    from tests.e2e.campaign_tools import cpu_seconds

    api.create_folder("Alice Martin")
    daemon = make_daemon(settle_s=0.2).start()
    wait_until(lambda: (root / "Alice Martin").is_dir(), 30, what="mirrored")
    daemon.wait_idle()
    assert daemon.command("pause")["ok"]
    assert (daemon.status() or {})["state"] == "paused"
    (root / "Alice Martin" / "while-paused.jpg").write_bytes(b"paused")
    assert daemon.proc is not None
    cpu_before = cpu_seconds(daemon.proc.pid)
    time.sleep(3)  # a paused daemon must stay put: nothing uploaded, no busy loop
    assert cpu_seconds(daemon.proc.pid) - cpu_before < 0.5
    assert remote_file(api, "Alice Martin/while-paused.jpg") is None
    assert daemon.command("resume")["ok"]
    wait_until(lambda: remote_file(api, "Alice Martin/while-paused.jpg"), 30, what="uploaded")


def test_restore_brings_back_a_whole_deleted_folder(api: Api, root: Path, make_daemon) -> None:
    folder = api.create_folder("Bruno Costa")
    for i in range(8):
        api.upload(folder["id"], f"{i}.pdf", f"doc {i}".encode())
    daemon = make_daemon(extra_sync="max_delete = 5").start()
    wait_until(lambda: len(local_tree(root)) == 8, 30, what="mirrored")
    daemon.wait_idle()
    shutil.rmtree(root / "Bruno Costa")
    wait_until(
        lambda: ((daemon.status() or {}).get("held_deletes") or {}).get("count") == 8,
        30,
        what="folder delete held",
    )
    answer = daemon.command("restore")
    assert answer["ok"] and answer["restored"] == 8, answer
    wait_until(lambda: len(local_tree(root)) == 8, 30, what="folder back locally")
    daemon.wait_idle()
    assert len(remote_tree(api)) == 8, "nothing deleted on the server"
    assert (root / "Bruno Costa" / "5.pdf").read_bytes() == b"doc 5"


def test_sync_once_removes_temp_files_left_behind_even_where_the_scan_does_not_look(
    server: ServerProcess, api: Api, token: str, tmp_path: Path
) -> None:
    """A no-op `sync --once` skips the temp sweep only when its scan listed every folder and
    saw no temp file: one left in a synced folder, or in a root folder the scan ignores
    (lost+found), is still removed."""
    folder = api.create_folder("Alice Martin")
    api.upload(folder["id"], "a.jpg", b"a")
    token_file = tmp_path / "token"
    token_file.write_text(token)
    token_file.chmod(0o600)
    root = tmp_path / "root"
    argv = [sys.executable, "-m", "syncd", "sync", "--once", "--url", server.url]
    argv += ["--token-file", str(token_file), "--root", str(root)]
    argv += ["--state-dir", str(tmp_path / "st")]
    env = dict(os.environ, XDG_CONFIG_HOME=str(tmp_path / "cfg"))
    for where in (None, "lost+found", "Alice Martin"):
        if where is not None:
            (root / where).mkdir(exist_ok=True)
            (root / where / ".syncd-tmp-f0123.part").write_bytes(b"half a download")
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert list(root.rglob(".syncd-tmp-*")) == [], where
    assert (root / "Alice Martin" / "a.jpg").read_bytes() == b"a"
