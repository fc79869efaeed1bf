"""The status socket's client side: where daemons' sockets live, one question to a daemon, and
which daemons answer. Standard library only: `status`, `pause` and `resume` start fast."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import tempfile
from pathlib import Path
from typing import Any

from syncd.errors import DaemonNotRunning

QUERY_TIMEOUT_S = 3.0


def runtime_dir() -> Path:
    """$XDG_RUNTIME_DIR/syncd; without it /run/user/<uid>/syncd, else a per-user dir in /tmp."""
    if os.environ.get("XDG_RUNTIME_DIR"):
        return Path(os.environ["XDG_RUNTIME_DIR"]) / "syncd"
    run_user = Path(f"/run/user/{os.getuid()}")
    if run_user.is_dir():
        return run_user / "syncd"
    return Path(tempfile.gettempdir()) / f"syncd-{os.getuid()}"


def socket_path_for(config_path: Path) -> Path:
    """One socket per config file, so several daemons can run side by side."""
    digest = hashlib.sha1(str(config_path.expanduser().resolve()).encode(), usedforsecurity=False)
    return runtime_dir() / f"{digest.hexdigest()[:12]}.sock"


def query(
    socket_path: Path, cmd: str, timeout_s: float = QUERY_TIMEOUT_S, **args: Any
) -> dict[str, Any]:
    """Send one command and return the daemon's answer. Raises DaemonNotRunning when nothing
    answers on socket_path within timeout_s."""
    request = json.dumps({"cmd": cmd, **args}).encode() + b"\n"
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC) as sock:
            sock.settimeout(timeout_s)
            sock.connect(str(socket_path))
            sock.sendall(request)
            answer = _read_line(sock)
    except OSError as exc:  # refused, missing, timed out
        raise DaemonNotRunning(f"no syncd daemon answers on {socket_path} ({exc})") from None
    try:
        decoded = json.loads(answer)
    except ValueError:
        raise DaemonNotRunning(f"garbled answer from {socket_path}") from None
    if not isinstance(decoded, dict):
        raise DaemonNotRunning(f"garbled answer from {socket_path}")
    return decoded


def _read_line(sock: socket.socket) -> bytes:
    chunks: list[bytes] = []
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            break
        chunks.append(chunk)
        if chunk.endswith(b"\n"):
            break
    return b"".join(chunks)


def answers(path: Path, timeout_s: float = 1.0) -> bool:
    try:
        return bool(query(path, "status", timeout_s=timeout_s).get("ok"))
    except DaemonNotRunning:
        return False


def discover(directory: Path | None = None, timeout_s: float = 1.0) -> list[Path]:
    """Sockets under $XDG_RUNTIME_DIR/syncd whose daemon answers; stale ones are ignored."""
    directory = directory or runtime_dir()
    if not directory.is_dir():
        return []
    return [p for p in sorted(directory.glob("*.sock")) if answers(p, timeout_s)]
