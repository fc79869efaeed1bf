"""Which config a command uses, one rule for every command: `--config` if given, else the
default config file if it exists, else the config of the one running daemon (asked over its
status socket), else none, and then a missing token says "no config file at PATH"."""

from __future__ import annotations

from pathlib import Path

import click

from syncd.config import Settings, default_config_path, load_settings
from syncd.errors import DaemonNotRunning
from syncd.sync.status import socket_path_for_settings
from syncd.sync.status_client import answers, discover, query


def running_configs() -> list[Path]:
    """Config files of the daemons answering under $XDG_RUNTIME_DIR/syncd (one each)."""
    found: list[Path] = []
    for sock in discover():
        try:
            snap = query(sock, "status", timeout_s=1.0).get("status") or {}
        except DaemonNotRunning:
            continue  # stopped between discovery and the question
        path = Path(str(snap.get("config_path") or ""))
        if path.is_absolute() and path.is_file() and path not in found:
            found.append(path)
    return found


def config_for_command(config_path: Path | None) -> Path | None:
    """The config file a command should read (None: defaults and environment only)."""
    if config_path is not None:
        return config_path
    if default_config_path().exists():
        return default_config_path()
    running = running_configs()
    if len(running) > 1:
        listed = ", ".join(str(p) for p in running)
        raise click.UsageError(f"several daemons are running ({listed}): choose one with --config")
    return running[0] if running else None


def command_settings(config_path: Path | None) -> Settings:
    return load_settings(config_for_command(config_path), {})


def one_daemon_socket(config_path: Path | None) -> Path:
    """The socket of the daemon a command talks to: --config's, else the default config's if
    it answers, else the only one running; several need --config (approve is no broadcast).
    Raises DaemonNotRunning when none answers."""
    if config_path is not None:
        return socket_path_for_settings(load_settings(config_path, {}))
    if default_config_path().exists():
        own = socket_path_for_settings(load_settings(None, {}))
        if answers(own):
            return own
    running = discover()
    if not running:
        raise DaemonNotRunning("no syncd daemon is running (start one with `syncd run`)")
    if len(running) > 1:
        raise click.UsageError("several daemons are running: choose one with --config FILE")
    return running[0]
