"""The first hour with real daemon subprocesses: `connecting` before the server's first answer,
the activity feed, client commands that find the one running daemon without --config, and
`approve` with nothing held (exit 1; it used to say "approved" and pre-approve)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

from tests.support.daemon import local_tree, wait_until
from tests.support.server import Api


def _cli(daemon, *args: str) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    """`syncd ARGS` in the daemon's environment, without --config."""
    return subprocess.run(
        [sys.executable, "-m", "syncd", *args],
        env=daemon.env,
        cwd=daemon.home,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_connecting_until_the_server_first_answers(make_daemon, tmp_path: Path) -> None:
    with socket.socket() as silent:  # accepts connections (backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        daemon = make_daemon(url=f"http://127.0.0.1:{silent.getsockname()[1]}").start()
        status = daemon.status() or {}
        assert status["state"] == "connecting", status  # was "idle ... last sync: never"
        assert "connecting" in daemon.cli("status").stdout


def test_commands_find_the_running_daemon_and_activity_tells_what_happened(
    api: Api, root: Path, make_daemon
) -> None:
    folder = api.create_folder("Bruno Costa")
    api.upload(folder["id"], "Price list.pdf", b"%PDF-1.4 price list")
    daemon = make_daemon().start()
    wait_until(lambda: local_tree(root), 30, what="mirrored")
    assert not (Path(daemon.env["XDG_CONFIG_HOME"]) / "syncd" / "config.toml").exists()
    listing = _cli(daemon, "ls", "Bruno Costa")  # no --config, no default config file
    assert listing.returncode == 0, listing.stderr
    assert "Price list.pdf" in listing.stdout
    done = _cli(daemon, "activity", "--json")
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    assert ("downloaded", "Bruno Costa/Price list.pdf") in [(e["kind"], e["path"]) for e in events]
    (root / "Bruno Costa" / "order.jpg").write_bytes(b"jpeg")
    wait_until(
        lambda: "uploaded  Bruno Costa/order.jpg (4 B)" in _cli(daemon, "activity").stdout,
        30,
        what="upload in the activity feed",
    )


def test_approve_with_nothing_held_says_so_and_exits_1(api: Api, root: Path, make_daemon) -> None:
    daemon = make_daemon().start()
    daemon.wait_idle()
    done = _cli(daemon, "approve")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "nothing to approve: no deletes are held" in done.stderr
    restore = _cli(daemon, "restore")
    assert restore.returncode == 1 and "nothing to restore" in restore.stderr
