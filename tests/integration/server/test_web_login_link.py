"""`syncd admin login-link`: the one-time URL alone on the last line, its base from
--base-url or the running server, and refusals (no server and no --base-url, unknown user,
a lifetime over 7 days)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.server import REPO


def admin(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "syncd", "admin", *args, "--data", str(data)]
    return subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=60)


def test_login_link_prints_a_one_time_url_on_its_last_line(tmp_path: Path) -> None:
    data = tmp_path / "srv"
    token = admin(data, "add-user", "alice", "--quota", "1GiB").stdout.splitlines()[-1]
    done = admin(data, "login-link", "alice", "--base-url", "https://media.example.com/")
    assert done.returncode == 0, done.stderr
    url = done.stdout.strip().splitlines()[-1]
    assert url.startswith("https://media.example.com/login/ln_") and token not in done.stdout
    again = admin(data, "login-link", "alice", "--base-url", "https://media.example.com")
    assert again.stdout.strip().splitlines()[-1] != url  # a new secret each time


def test_login_link_refuses_without_a_base_and_for_unknown_users_or_long_lives(
    tmp_path: Path,
) -> None:
    data = tmp_path / "srv"
    admin(data, "add-user", "alice", "--quota", "1GiB")
    done = admin(data, "login-link", "alice")
    assert done.returncode == 1 and "pass --base-url" in done.stderr
    done = admin(data, "login-link", "nobody", "--base-url", "http://127.0.0.1:1")
    assert done.returncode == 1 and "no user named 'nobody'" in done.stderr
    done = admin(data, "login-link", "alice", "--base-url", "http://x", "--expires", "8d")
    assert done.returncode == 2 and "at most 7d" in done.stderr
