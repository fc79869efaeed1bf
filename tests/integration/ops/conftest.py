"""Shared fixtures for the operations tests: an isolated XDG environment with a short runtime
dir (AF_UNIX paths are limited to 108 bytes) and a runner for the real `syncd` CLI."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]


@dataclass
class OpsEnv:
    home: Path
    config_home: Path
    runtime_dir: Path

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCD_")}
        for key in ("CREDENTIALS_DIRECTORY", "NOTIFY_SOCKET", "WATCHDOG_USEC"):
            env.pop(key, None)
        env.update(
            HOME=str(self.home),
            XDG_CONFIG_HOME=str(self.config_home),
            XDG_STATE_HOME=str(self.home / ".local" / "state"),
            XDG_DATA_HOME=str(self.home / ".local" / "share"),
            XDG_RUNTIME_DIR=str(self.runtime_dir),
            PYTHONPATH=str(REPO),
        )
        env.update(extra)
        return env

    def run(
        self, *args: str, input_text: str | None = None, **extra: str
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "syncd", *args],
            env=self.env(**extra),
            input=input_text or "",  # never the terminal pytest may run in
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )


@pytest.fixture
def ops_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[OpsEnv]:
    runtime = Path(tempfile.mkdtemp(prefix="sdo-", dir="/tmp"))
    os.chmod(runtime, 0o700)
    env = OpsEnv(home=tmp_path / "home", config_home=tmp_path / "config", runtime_dir=runtime)
    env.home.mkdir()
    for key, value in env.env().items():
        monkeypatch.setenv(key, value)
    for key in [k for k in os.environ if k.startswith("SYNCD_")] + [
        "CREDENTIALS_DIRECTORY",
        "NOTIFY_SOCKET",
        "WATCHDOG_USEC",
    ]:
        monkeypatch.delenv(key, raising=False)
    yield env
    shutil.rmtree(runtime, ignore_errors=True)


def write_private(path: Path, text: str, mode: int = 0o600) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    os.chmod(path, mode)
    return path
