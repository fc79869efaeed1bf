"""The systemd units pass `systemd-analyze verify`, the repo's user unit is exactly what
`syncd init` renders, and `syncd init` writes private config/token files and the unit."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from syncd.init_command import DEFAULT_UNIT_VALUES, render_user_unit

from .conftest import REPO, OpsEnv, write_private

ANALYZE = shutil.which("systemd-analyze")
needs_analyze = pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze is not installed")


def _verify(unit: Path, ops_env: OpsEnv, user: bool) -> None:
    """Run `systemd-analyze verify`; unknown keys only warn, so the output is checked too."""
    assert ANALYZE is not None
    argv = [ANALYZE, *(["--user"] if user else []), "verify", str(unit)]
    done = subprocess.run(
        argv, env=ops_env.env(), capture_output=True, text=True, timeout=60, check=False
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert not re.search(r"unknown|ignoring|invalid|not executable", output, re.I), output


def _with_exec(source: Path, dest: Path) -> Path:
    """verify insists the ExecStart binary exists: point it at this Python for the check."""
    text = re.sub(r"^ExecStart=\S+", f"ExecStart={sys.executable}", source.read_text(), flags=re.M)
    dest.write_text(text)
    return dest


def test_repo_user_unit_is_the_rendered_template() -> None:
    text = (REPO / "systemd" / "syncd.service").read_text()
    assert text == render_user_unit(**DEFAULT_UNIT_VALUES)
    for line in (
        "Type=notify",
        "WatchdogSec=60",
        "Restart=on-failure",
        "RestartPreventExitStatus=78",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "PrivateTmp=yes",
        "ExecStart=%h/.local/bin/syncd run --config %h/.config/syncd/config.toml",
    ):
        assert f"\n{line}\n" in text


@needs_analyze
@pytest.mark.parametrize("user", [True, False])
def test_user_unit_verifies(ops_env: OpsEnv, tmp_path: Path, user: bool) -> None:
    _verify(
        _with_exec(REPO / "systemd" / "syncd.service", tmp_path / "syncd.service"),
        ops_env,
        user=user,
    )


def _documented_prefix() -> str:
    """The prefix docs/run-the-server.md installs syncd into (`python3.11 -m venv PREFIX`)."""
    text = (REPO / "docs" / "run-the-server.md").read_text()
    block = text.split("<!-- server-install:", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    venv = re.search(r"^python3\.11 -m venv (\S+)$", block, re.M)
    assert venv is not None, block
    assert f"{venv.group(1)}/bin/pip install" in block
    return venv.group(1)


@needs_analyze
def test_server_unit_verifies(ops_env: OpsEnv, tmp_path: Path) -> None:
    """The unit runs `PREFIX/bin/syncd` of the documented install; with PREFIX standing for
    this test's own virtual environment (the same layout) it verifies clean."""
    source = REPO / "systemd" / "syncd-server.service"
    text = source.read_text()
    prefix = _documented_prefix()
    assert "DynamicUser=yes" in text and "StateDirectory=syncd-server" in text
    assert "\nLimitNOFILE=65536\n" in text
    assert f"\nExecStart={prefix}/bin/syncd serve --data ${{STATE_DIRECTORY}} " in text
    installed = Path(sys.prefix) / "bin" / "syncd"
    assert installed.is_file() and os.access(installed, os.X_OK)
    unit = tmp_path / "syncd-server.service"
    unit.write_text(text.replace(f"{prefix}/bin/syncd", str(installed)))
    _verify(unit, ops_env, user=False)


def test_init_writes_private_files_and_unit(ops_env: OpsEnv, tmp_path: Path) -> None:
    config = ops_env.config_home / "syncd" / "config.toml"
    root = ops_env.home / "Media 100%"
    done = ops_env.run(
        "init",
        "--config",
        str(config),
        "--server",
        "http://127.0.0.1:8750",
        "--root",
        str(root),
        "--token-stdin",
        "--offline",  # no server here; the check itself: test_init_checks_the_server...
        "--systemd",
        "--no-start",
        input_text="t0ken-from-stdin\n",
    )
    assert done.returncode == 0, done.stderr
    token = config.parent / "token"
    for path in (config, token):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert token.read_text().strip() == "t0ken-from-stdin"
    assert "t0ken-from-stdin" not in done.stdout + done.stderr + config.read_text()
    assert root.is_dir()
    assert "systemctl --user enable --now syncd" in done.stdout  # --no-start: printed only

    unit = ops_env.config_home / "systemd" / "user" / "syncd.service"
    text = unit.read_text()
    assert f'--config "{config}"' in text and '"-' + str(root).replace("%", "%%") in text
    if ANALYZE is not None:
        _verify(unit, ops_env, user=True)  # real paths, spaces and % included

    check = ops_env.run("check-config", "--config", str(config), "--offline")
    assert check.returncode == 0, check.stderr
    assert f'root = "{root}"' in check.stdout


def test_init_refusals(ops_env: OpsEnv, tmp_path: Path) -> None:
    config = tmp_path / "cfg" / "config.toml"
    base = ["init", "--config", str(config), "--server", "http://h:1", "--root", str(tmp_path)]
    base.append("--offline")
    assert ops_env.run(*base).returncode == 2  # neither --token-file nor --token-stdin
    loose = write_private(tmp_path / "loose-token", "abc\n", mode=0o644)
    done = ops_env.run(*base, "--token-file", str(loose))
    assert done.returncode == 78 and f"chmod 600 {loose}" in done.stderr
    assert not config.exists()
    good = write_private(tmp_path / "token", "abc\n")
    assert ops_env.run(*base, "--token-file", str(good)).returncode == 0
    again = ops_env.run(*base, "--token-file", str(good))
    assert again.returncode == 7 and "--force" in again.stderr  # its own code, not "refused"
    assert ops_env.run(*base, "--token-file", str(good), "--force").returncode == 0
    bad_url = ops_env.run(
        "init",
        "--config",
        str(config),
        "--server",
        "ftp://h",
        "--root",
        str(tmp_path),
        "--token-file",
        str(good),
        "--force",
        "--offline",
    )
    assert bad_url.returncode == 78 and "server.url" in bad_url.stderr
