"""Shared tools of the crash, fault, hostile-input and model-based campaigns: start a daemon
subprocess without the slow CLI poll, read its status straight from the status socket,
SIGKILL it, measure its CPU time from /proc, and compare both trees by content."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from syncd.errors import DaemonNotRunning
from syncd.sync.status_client import query, socket_path_for
from tests.support.daemon import DaemonProcess, wait_until
from tests.support.proxy import FaultProxy
from tests.support.server import Api, ServerProcess

TEMP_PREFIX = ".syncd-tmp-"


def socket_of(daemon: DaemonProcess) -> Path:
    """The daemon's status socket (derived like `syncd status` does, in the daemon's env)."""
    return Path(daemon.env["XDG_RUNTIME_DIR"]) / "syncd" / socket_path_for(daemon.config).name


def alive(daemon: DaemonProcess) -> bool:
    return daemon.proc is not None and daemon.proc.poll() is None


def fast_status(daemon: DaemonProcess) -> dict[str, Any] | None:
    """The status snapshot over the socket (~1 ms, the CLI costs ~1 s of interpreter start);
    None while nothing answers. Fails loudly when the daemon process died."""
    if daemon.proc is not None and daemon.proc.poll() is not None:
        raise AssertionError(f"daemon exited with {daemon.proc.returncode}:\n{daemon.log_tail()}")
    try:
        answer = query(socket_of(daemon), "status", timeout_s=2.0)
    except DaemonNotRunning:
        return None
    status = answer.get("status")
    return status if isinstance(status, dict) else None


def spawn(daemon: DaemonProcess, timeout_s: float = 30.0) -> None:
    """Start `syncd run` and wait until its status socket answers."""
    with daemon.log_path.open("ab") as log:
        daemon.proc = subprocess.Popen(
            [sys.executable, "-m", "syncd", "run", "--config", str(daemon.config)],
            env=daemon.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=daemon.home,
        )
    wait_until(lambda: fast_status(daemon) is not None, timeout_s, 0.02, "daemon status socket")


def sigkill(daemon: DaemonProcess) -> None:
    assert daemon.proc is not None
    if daemon.proc.poll() is None:
        daemon.proc.send_signal(signal.SIGKILL)
    daemon.proc.wait(10)


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc/<pid>/stat (psutil is not installed)."""
    raw = Path(f"/proc/{pid}/stat").read_text()
    fields = raw[raw.rindex(")") + 2 :].split()
    # after "pid (comm) ": state is fields[0]; utime, stime are stat fields 14, 15
    ticks = int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def local_digests(root: Path) -> dict[str, str]:
    """{folder/name: sha256} of the synced part of the root (dot entries are not synced)."""
    out: dict[str, str] = {}
    if not root.is_dir():
        return out
    for folder in sorted(root.iterdir()):
        if folder.name.startswith(".") or folder.is_symlink() or not folder.is_dir():
            continue
        for entry in folder.iterdir():
            if entry.name.startswith(".") or entry.is_symlink() or not entry.is_file():
                continue
            try:
                out[f"{folder.name}/{entry.name}"] = sha(entry.read_bytes())
            except FileNotFoundError:
                continue
    return out


def remote_digests(api: Api) -> dict[str, str]:
    out: dict[str, str] = {}
    for folder in api.folders():
        for file in api.files(folder["id"]):
            out[f"{folder['name']}/{file['name']}"] = file["sha256"]
    return out


def temp_files(root: Path) -> list[Path]:
    return list(root.rglob(TEMP_PREFIX + "*")) if root.is_dir() else []


def converged(
    daemon: DaemonProcess, api: Api, root: Path, expected: dict[str, str] | None = None
) -> dict[str, str] | None:
    """The common tree when the daemon is idle, both sides hold the same bytes (and they are
    `expected`, when given); else None."""
    status = fast_status(daemon)
    if not status or status.get("state") != "idle" or status.get("transfers"):
        return None
    local = local_digests(root)
    if expected is not None and local != expected:
        return None
    if local != remote_digests(api):
        return None
    return local


def wait_converged(
    daemon: DaemonProcess,
    api: Api,
    root: Path,
    expected: dict[str, str] | None = None,
    timeout_s: float = 60.0,
) -> dict[str, str]:
    try:
        found: dict[str, str] = wait_until(
            lambda: converged(daemon, api, root, expected), timeout_s, 0.2, "convergence"
        )
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{tree_diff(api, root, expected)}") from None
    return found


def tree_diff(api: Api, root: Path, expected: dict[str, str] | None) -> str:
    local, remote = local_digests(root), remote_digests(api)
    lines = []
    for name in sorted(set(local) | set(remote) | set(expected or {})):
        sides = (local.get(name), remote.get(name), (expected or {}).get(name))
        if len({s and s[:8] for s in sides[: 3 if expected is not None else 2]}) > 1:
            shown = " ".join(f"{k}={(v or '-')[:8]}" for k, v in zip("LRE", sides, strict=True))
            lines.append(f"  {name}: {shown}")
    return "tree differences (L local, R remote, E expected):\n" + "\n".join(lines[:40])


def server_upload_sizes(server: ServerProcess) -> Counter[int]:
    """How many uploads the server stored per size (from its `upload_finished` log lines)."""
    sizes: Counter[int] = Counter()
    for line in server.log().splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if event.get("event") == "upload_finished" and "size_bytes" in event:
            sizes[int(event["size_bytes"])] += 1
    return sizes


def proxy_for(server: ServerProcess) -> FaultProxy:
    host, port = server.url.removeprefix("http://").split(":")
    return FaultProxy(host, int(port)).start()


def daemon_errors(daemon: DaemonProcess) -> list[dict[str, Any]]:
    """Log events that mean the daemon itself broke (not a refused action)."""
    bad = {"task_failed", "daemon_failed"}
    return [e for e in daemon.log_events() if e.get("event") in bad]


def settle_pause(seconds: float) -> None:
    """A pause that is part of the scenario (a writer's rhythm), never an assertion."""
    time.sleep(seconds)
