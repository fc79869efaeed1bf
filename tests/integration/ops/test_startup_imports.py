"""Commands that only talk to the local status socket (and `syncd --help`) start fast: they
import neither aiohttp, pydantic-settings nor the server (issue 11; speed itself is measured in
bench/, this checks the imports that cost most of a second). The daemon never loads rich
(issue 10 item 6: start-up time and memory)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from syncd.sync.status import StatusBoard, StatusServer
from tests.integration.ops.conftest import OpsEnv

HEAVY = ("aiohttp", "pydantic_settings", "syncd.server")
PROBE = """
import json, sys
from syncd.cli import main
argv, watched = json.loads(sys.argv[1]), tuple(json.loads(sys.argv[2]))
sys.argv, code = ["syncd", *argv], 0
try:
    main()
except SystemExit as exc:
    code = exc.code
heavy = sorted(m for m in sys.modules if m.startswith(watched))
print("IMPORTED " + json.dumps([code, heavy]), file=sys.stderr)
import gc
print("GC " + json.dumps([gc.isenabled(), gc.get_freeze_count()]), file=sys.stderr)
"""


def probe(ops_env: OpsEnv, *argv: str, watched: tuple[str, ...] = HEAVY) -> tuple[Any, list[str]]:
    """Run `syncd ARGV` in a fresh interpreter; its exit code and the heavy modules it loaded."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(argv), json.dumps(watched)],
        env=ops_env.env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    last = done.stderr.strip().splitlines()[-2]
    assert last.startswith("IMPORTED "), done.stderr
    code, heavy = json.loads(last.removeprefix("IMPORTED "))
    return code, heavy


async def on_command(cmd: str, request: dict[str, Any]) -> dict[str, Any]:
    return {"message": f"{cmd}d"}


def test_help_imports_no_command_module(ops_env: OpsEnv) -> None:
    code, heavy = probe(ops_env, "--help")
    assert code == 0
    assert heavy == []


@pytest.mark.parametrize("command", ["status", "pause", "resume"])
def test_socket_commands_without_daemon_stay_light(ops_env: OpsEnv, command: str) -> None:
    code, heavy = probe(ops_env, command)
    assert code == 3  # no daemon answers
    assert heavy == []


async def test_socket_commands_with_a_daemon_stay_light(ops_env: OpsEnv) -> None:
    path = ops_env.runtime_dir / "syncd" / "d.sock"
    board = StatusBoard(name="t", mode="mirror")
    async with StatusServer(board, path, on_command):
        for argv in (("status",), ("status", "--json"), ("pause",), ("resume",)):
            code, heavy = await asyncio.to_thread(probe, ops_env, *argv)
            assert (argv, code, heavy) == (argv, 0, [])


def test_sync_once_loads_no_watcher_and_no_rich(ops_env: OpsEnv) -> None:
    """`sync --once` never watches: watchdog (~0.1 s) is imported by `syncd run` only; nor
    does it need pathspec without user ignore patterns (ignore.py BUILT_IN_REGEX)."""
    watched = ("watchdog", "rich", "pygments", "pathspec")
    _code, heavy = probe(ops_env, "sync", "--help", watched=watched)
    assert heavy == []


def test_collection_resumes_once_the_command_is_imported(ops_env: OpsEnv) -> None:
    """main() pauses the garbage collector while a command's modules are imported; it must
    run again (with those modules frozen) for the command itself: a daemon without it
    would keep every cycle it ever made."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(["sync", "--help"]), json.dumps(HEAVY)],
        env=ops_env.env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    enabled, frozen = json.loads(done.stderr.strip().splitlines()[-1].removeprefix("GC "))
    assert enabled is True
    assert frozen > 10_000


def test_probe_sees_heavy_imports(ops_env: OpsEnv, tmp_path: Path) -> None:
    """The probe itself works: a command that needs the server client does load aiohttp."""
    _code, heavy = probe(ops_env, "sync", "--help")
    assert "aiohttp" in heavy


DAEMON_PROBE = """
import importlib, pkgutil, sys
import syncd.sync
from syncd import log
for info in pkgutil.iter_modules(syncd.sync.__path__, "syncd.sync."):
    importlib.import_module(info.name)
log.configure("debug", "console")  # the dev renderer a terminal gets
log.get_logger("t").info("probe_ran")
log.configure("info", "json")
print(sorted(m for m in sys.modules if m.split(".")[0] in ("rich", "pygments")), file=sys.stderr)
"""


def test_daemon_modules_never_import_rich(ops_env: OpsEnv) -> None:
    """structlog pulls rich (and pygments) in for pretty tracebacks we never render: every
    module of syncd.sync plus both log renderers load neither."""
    done = subprocess.run(
        [sys.executable, "-c", DAEMON_PROBE],
        env=ops_env.env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stderr.strip().splitlines()[-1] == "[]", done.stderr
