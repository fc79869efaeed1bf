"""Runs the real `syncd run` daemon as a subprocess with its own XDG dirs, config and token
file, for e2e tests; plus bounded polling and tree comparison helpers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


def wait_until(
    predicate: Callable[[], Any], timeout_s: float = 30.0, interval_s: float = 0.1, what: str = ""
) -> Any:
    """Poll until predicate() is truthy; fail with `what` after timeout_s (never a bare sleep)."""
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what or predicate}: {last!r}")


def local_tree(root: Path) -> dict[str, tuple[int, int]]:
    """{folder/name: (size, mtime_ns)} of the synced part of a root (dotfiles skipped)."""
    out: dict[str, tuple[int, int]] = {}
    if not root.is_dir():
        return out
    for folder in sorted(root.iterdir()):
        if folder.name.startswith(".") or not folder.is_dir():
            continue
        for entry in folder.iterdir():
            if entry.name.startswith(".syncd-tmp-") or not entry.is_file():
                continue
            st = entry.lstat()
            out[f"{folder.name}/{entry.name}"] = (st.st_size, st.st_mtime_ns)
    return out


def temp_files(root: Path) -> list[Path]:
    return list(root.rglob(".syncd-tmp-*"))


def partial_bytes(root: Path) -> int:
    """Size of the biggest download temp file (`.part`). Other temp files (the marker's,
    written then renamed at the first sync) may vanish between listing and stat."""
    biggest = 0
    for part in root.rglob(".syncd-tmp-*.part") if root.is_dir() else ():
        try:
            biggest = max(biggest, part.stat().st_size)
        except FileNotFoundError:
            continue
    return biggest


class DaemonProcess:
    """One daemon with a private home: XDG_{CONFIG,STATE,RUNTIME,DATA}_HOME under `home`."""

    def __init__(
        self,
        home: Path,
        server_url: str,
        token: str,
        root: Path,
        *,
        mode: str = "mirror",
        settle_s: float = 0.5,
        extra_sync: str = "",
    ) -> None:
        self.home = home
        self.root = root
        self.env = dict(os.environ)
        for key, sub in (
            ("XDG_CONFIG_HOME", "config"),
            ("XDG_STATE_HOME", "state"),
            ("XDG_RUNTIME_DIR", "run"),
            ("XDG_DATA_HOME", "data"),
        ):
            path = home / sub
            path.mkdir(parents=True, exist_ok=True, mode=0o700)
            self.env[key] = str(path)
        self.env.pop("NOTIFY_SOCKET", None)
        self.token_file = home / "config" / "token"
        self.write_token(token)
        self.config = home / "config" / "syncd.toml"
        self.config.write_text(
            f'[server]\nurl = "{server_url}"\ntoken_file = "{self.token_file}"\n\n'
            f'[sync]\nroot = "{root}"\nmode = "{mode}"\nsettle_s = {settle_s}\n'
            f'rescan_interval_s = 30\n{extra_sync}\n\n[log]\nlevel = "debug"\n'
            f'format = "json"\n\n[notify]\nenabled = false\n'
        )
        self.config.chmod(0o600)
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = home / "daemon.log"

    @property
    def trash(self) -> Path:
        return Path(self.env["XDG_DATA_HOME"]) / "Trash" / "files"

    def write_token(self, token: str) -> None:
        self.token_file.write_text(token + "\n")
        self.token_file.chmod(0o600)

    def start(self) -> DaemonProcess:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "syncd", "run", "--config", str(self.config)],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.home,
        )
        log.close()
        wait_until(lambda: self.status() is not None, 20, what="daemon status socket")
        return self

    def cli(self, *args: str, timeout_s: float = 30) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "syncd", *args, "--config", str(self.config)],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )

    def status(self) -> dict[str, Any] | None:
        """The daemon's status snapshot over its socket (None while it is not answering)."""
        from syncd.errors import DaemonNotRunning

        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"daemon exited with {self.proc.returncode}:\n{self.log_tail()}")
        try:
            answer = self.command("status")
        except DaemonNotRunning:
            return None
        status: dict[str, Any] = answer["status"]
        return status

    def command(self, cmd: str) -> dict[str, Any]:
        """Send a status-socket command (approve, restore, pause, ...) to this daemon."""
        from syncd.sync.status_client import query, socket_path_for

        saved = os.environ.get("XDG_RUNTIME_DIR")
        os.environ["XDG_RUNTIME_DIR"] = self.env["XDG_RUNTIME_DIR"]
        try:
            return query(socket_path_for(self.config), cmd)
        finally:
            if saved is None:
                os.environ.pop("XDG_RUNTIME_DIR", None)
            else:
                os.environ["XDG_RUNTIME_DIR"] = saved

    def wait_idle(self, timeout_s: float = 30) -> dict[str, Any]:
        def idle() -> dict[str, Any] | None:
            status = self.status()
            return status if status and status.get("state") == "idle" else None

        result: dict[str, Any] = wait_until(idle, timeout_s, 0.2, "daemon idle")
        return result

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 30) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        rc = self.proc.wait(timeout_s)
        return rc

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def log_events(self) -> list[dict[str, Any]]:
        events = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            try:
                events.append(json.loads(line))
            except ValueError:
                continue
        return events


def remote_tree(api: Any) -> dict[str, tuple[int, int]]:
    """{folder/name: (size, mtime_ns)} of a user's library, read through the API."""
    out: dict[str, tuple[int, int]] = {}
    for folder in api.folders():
        for file in api.files(folder["id"]):
            out[f"{folder['name']}/{file['name']}"] = (file["size"], file["mtime_ns"])
    return out


def remote_file(api: Any, rel: str) -> dict[str, Any] | None:
    folder_name, name = rel.split("/", 1)
    for folder in api.folders():
        if folder["name"] == folder_name:
            return next((f for f in api.files(folder["id"]) if f["name"] == name), None)
    return None
