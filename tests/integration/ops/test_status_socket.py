"""The status socket for real: a StatusServer on a Unix socket in a temp XDG_RUNTIME_DIR,
queried by the client functions and by the `syncd status|pause` commands as subprocesses."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import stat
import sys
from pathlib import Path
from typing import Any

import pytest

from syncd.config import load_settings
from syncd.errors import DaemonNotRunning, LocalError
from syncd.sync.status import StatusBoard, StatusServer, socket_path_for_settings
from syncd.sync.status_client import discover, query, runtime_dir, socket_path_for

from .conftest import OpsEnv, write_private


async def run_cli(ops_env: OpsEnv, *args: str) -> tuple[int, str, str]:
    """Run `syncd` without blocking the loop that serves the socket."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "syncd",
        *args,
        env=ops_env.env(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


class Engine:
    """Stands in for the engine's command callback: records what reached it."""

    def __init__(self, board: StatusBoard) -> None:
        self.board, self.commands = board, []  # type: ignore[var-annotated]

    async def on_command(self, cmd: str, request: dict[str, Any]) -> dict[str, Any]:
        self.commands.append(cmd)
        if cmd == "approve":
            raise RuntimeError("nothing is held")
        self.board.set_state("paused" if cmd == "pause" else "idle", f"{cmd} by the user")
        return {"message": f"{cmd}d"}


def _board() -> StatusBoard:
    board = StatusBoard(name="t", mode="mirror")
    board.set_usage(50_000_000, 200_000_000)
    board.set_state("syncing")
    board.transfer_started("Alice/clip.mp4", "down", 8_000_000)
    return board


async def test_round_trip_mode_and_commands(ops_env: OpsEnv, tmp_path: Path) -> None:
    config = write_private(tmp_path / "c.toml", "[sync]\n")
    path = socket_path_for(config)
    assert path.parent == ops_env.runtime_dir / "syncd"
    board = _board()
    engine = Engine(board)
    async with StatusServer(board, path, engine.on_command):
        assert stat.S_ISSOCK(path.stat().st_mode)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700

        first = await asyncio.to_thread(query, path, "status")
        assert first["ok"] and first["status"]["transfers"][0]["bytes_done"] == 0
        board.transfer_progress("Alice/clip.mp4", 6_000_000)  # a slow transfer moves on
        second = await asyncio.to_thread(query, path, "status")
        assert second["status"]["transfers"][0]["bytes_done"] == 6_000_000

        answer = await asyncio.to_thread(query, path, "pause")
        assert answer == {"ok": True, "message": "paused"}
        assert engine.commands == ["pause"]
        assert (await asyncio.to_thread(query, path, "status"))["status"]["state"] == "paused"

        failed = await asyncio.to_thread(query, path, "approve")
        assert failed == {"ok": False, "error": "approve: nothing is held"}
        unknown = await asyncio.to_thread(query, path, "format-disk")
        assert not unknown["ok"] and "unknown command" in unknown["error"]
        assert (await asyncio.to_thread(query, path, "status"))["ok"]  # server survived
    assert not path.exists()  # closed server removes its socket


async def test_garbage_request_gets_an_error_answer(ops_env: OpsEnv) -> None:
    path = ops_env.runtime_dir / "syncd" / "g.sock"
    async with StatusServer(StatusBoard(), path):
        reader, writer = await asyncio.open_unix_connection(str(path))
        writer.write(b"not json\n")
        await writer.drain()
        answer = json.loads(await asyncio.wait_for(reader.readline(), 10))
        writer.close()
    assert answer["ok"] is False and "bad request" in answer["error"]


async def test_cli_status_json_pause_and_plain(ops_env: OpsEnv, tmp_path: Path) -> None:
    config = write_private(tmp_path / "c.toml", "[sync]\n")
    path = socket_path_for_settings(load_settings(config, {}))
    board = _board()
    engine = Engine(board)
    async with StatusServer(board, path, engine.on_command):
        code, out, err = await run_cli(ops_env, "status", "--json", "--config", str(config))
        assert code == 0, err
        snap = json.loads(out)
        assert snap["state"] == "syncing" and snap["pid"] == os.getpid()
        assert snap["usage"] == {"used_bytes": 50_000_000, "limit_bytes": 200_000_000}

        code, out, err = await run_cli(ops_env, "status", "--json")  # discovery: a list
        assert code == 0, err
        assert [s["socket"] for s in json.loads(out)] == [str(path)]

        code, out, err = await run_cli(ops_env, "pause", "--config", str(config))
        assert code == 0, err
        assert engine.commands == ["pause"] and "paused" in out

        code, out, err = await run_cli(ops_env, "status")  # stdout is a pipe: plain text
        assert code == 0, err
        assert "paused: pause by the user" in out
        assert "usage: 47.7 MiB of 190.7 MiB (25%)" in out
        assert "down Alice/clip.mp4" in out


async def test_cli_without_daemon_exits_3(ops_env: OpsEnv) -> None:
    for command in ("status", "pause", "resume"):
        code, _out, err = await run_cli(ops_env, command)
        assert code == 3, (command, err)
        assert "no syncd daemon is running" in err


def _stale_socket(path: Path) -> None:
    """A socket file whose daemon died (kill -9): the file stays, nobody listens."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    sock.close()


async def test_discover_ignores_stale_sockets(ops_env: OpsEnv) -> None:
    directory = runtime_dir()
    _stale_socket(directory / "dead.sock")
    (directory / "junk.sock").write_text("not a socket")
    live = directory / "live.sock"
    assert await asyncio.to_thread(discover) == []
    async with StatusServer(StatusBoard(), live):
        assert await asyncio.to_thread(discover) == [live]
    with pytest.raises(DaemonNotRunning):
        query(directory / "dead.sock", "status", timeout_s=1)


async def test_start_replaces_stale_socket_but_not_a_live_one(ops_env: OpsEnv) -> None:
    path = runtime_dir() / "x.sock"
    _stale_socket(path)
    async with StatusServer(StatusBoard(), path):
        assert (await asyncio.to_thread(query, path, "status"))["ok"]
        with pytest.raises(LocalError, match="already answering"):
            await StatusServer(StatusBoard(), path).start()
        assert (await asyncio.to_thread(query, path, "status"))["ok"]  # first one untouched


def test_several_configs_get_several_sockets(ops_env: OpsEnv, tmp_path: Path) -> None:
    a, b = socket_path_for(tmp_path / "a.toml"), socket_path_for(tmp_path / "b.toml")
    assert a != b and a.parent == b.parent == ops_env.runtime_dir / "syncd"
    assert len(str(a)) < 108  # AF_UNIX limit
