"""Fixtures for the client CLI tests: a real server subprocess with one user, a config and
token file (0600) in an isolated XDG environment, and a runner for `python -m syncd`."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.server import Api, ServerProcess, start_server

REPO = Path(__file__).resolve().parents[3]


@dataclass
class CliEnv:
    server: ServerProcess
    api: Api
    root: Path
    config: Path
    home: Path
    runtime_dir: Path
    token: str = ""

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCD_")}
        env.pop("CREDENTIALS_DIRECTORY", None)
        env.update(
            HOME=str(self.home),
            XDG_CONFIG_HOME=str(self.home / ".config"),
            XDG_STATE_HOME=str(self.home / ".local" / "state"),
            XDG_RUNTIME_DIR=str(self.runtime_dir),
            PYTHONPATH=str(REPO),
        )
        return env

    def run(
        self, *args: str, config: bool = True, cwd: Path | None = None, stdin: str = ""
    ) -> Result:
        argv = [sys.executable, "-m", "syncd", *args]
        if config:
            argv += ["--config", str(self.config)]
        done = subprocess.run(
            argv,
            env=self.env(),
            cwd=cwd or REPO,
            input=stdin,  # never the terminal pytest may run in
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        return Result(done.returncode, done.stdout, done.stderr)


@dataclass
class Result:
    code: int
    out: str
    err: str


def write_config(path: Path, url: str, token: str, root: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    token_file = path.parent / "token"
    token_file.write_text(token + "\n")
    token_file.chmod(0o600)
    path.write_text(
        f'[server]\nurl = "{url}"\ntoken_file = "{token_file}"\n\n[sync]\nroot = "{root}"\n'
    )
    path.chmod(0o600)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with start_server(tmp_path_factory.mktemp("cli") / "srv") as proc:
        yield proc


@pytest.fixture
def cli(server: ServerProcess, tmp_path: Path) -> Iterator[CliEnv]:
    """A fresh user per test (the server process is shared by the module)."""
    token = server.add_user(f"user-{secrets.token_hex(4)}", quota="10MiB")
    home = tmp_path / "home"
    root = home / "Media"
    root.mkdir(parents=True)
    config = home / ".config" / "syncd" / "config.toml"
    write_config(config, server.url, token, root)
    runtime = Path(tempfile.mkdtemp(prefix="sdc-", dir="/tmp"))  # AF_UNIX paths are short
    os.chmod(runtime, 0o700)
    try:
        yield CliEnv(server, Api(server.url, token), root, config, home, runtime, token)
    finally:
        shutil.rmtree(runtime, ignore_errors=True)
