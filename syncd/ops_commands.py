"""Operator commands of the sync daemon: check-config, status, pause, resume and init (config,
token file and the systemd user unit). The daemon itself (`run`) lives elsewhere."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import click
import platformdirs

from syncd.config import (
    Settings,
    check_private_file,
    default_config_path,
    load_settings,
    resolve_token,
    token_source,
)
from syncd.errors import ConfigError, DaemonNotRunning
from syncd.sync.status import discover, query, socket_path_for_settings

F = TypeVar("F", bound=Callable[..., Any])
EXIT_REFUSED = 1
CONFIG_OPTION = click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Config file (default: $XDG_CONFIG_HOME/syncd/config.toml).",
)


# `syncd init --systemd` renders this with the real paths; systemd/syncd.service in the repo
# is the same template rendered with DEFAULT_UNIT_VALUES (a test keeps the two identical).
USER_UNIT_TEMPLATE = """\
# syncd sync daemon as a systemd *user* service.
# `syncd init --systemd` installs this file as $XDG_CONFIG_HOME/systemd/user/syncd.service
# with ExecStart= rewritten to the real syncd executable and config, and ReadWritePaths=
# listing the real sync root and state directory. By hand: copy it there, adjust both, then
#   systemctl --user daemon-reload && systemctl --user enable --now syncd

[Unit]
Description=syncd: mirror the WhatsApp media library into a local folder

[Service]
# The daemon sends READY=1, STATUS=..., WATCHDOG=1 and STOPPING=1 itself (sd_notify).
Type=notify
NotifyAccess=main
ExecStart={exec_start} run --config {config}
WatchdogSec=60
Restart=on-failure
RestartSec=10
# 78 = EX_CONFIG: a bad config does not get better by restarting.
RestartPreventExitStatus=78
TimeoutStopSec=30

# Hardening: everything is read-only except the sync root, the daemon state, the runtime
# dir (status socket) and the Trash (remote-origin deletes). "-": skip a path that is missing.
NoNewPrivileges=yes
ProtectSystem=strict
PrivateTmp=yes
ReadWritePaths={rw_paths}

# Optional, safer than a token file: let systemd hand the token over. The daemon reads
# $CREDENTIALS_DIRECTORY/syncd-token when server.token_file is not set.
#LoadCredential=syncd-token:%h/.config/syncd/token

[Install]
WantedBy=default.target
"""
DEFAULT_UNIT_VALUES = {
    "exec_start": "%h/.local/bin/syncd",
    "config": "%h/.config/syncd/config.toml",
    "rw_paths": '"-%h/WhatsApp Media" -%S/syncd %t -%h/.local/share/Trash',
}


def unit_quote(value: str) -> str:
    """Quote one literal word for a unit file: escape specifiers (%), quotes, backslashes."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%")
    return f'"{escaped}"'


def render_user_unit(exec_start: str, config: str, rw_paths: str) -> str:
    """The user unit text; arguments are already unit-quoted (or specifiers like %h)."""
    return USER_UNIT_TEMPLATE.format(exec_start=exec_start, config=config, rw_paths=rw_paths)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)  # JSON strings are TOML basic strings


def _mask_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:********@{host}"))


def effective_config_text(settings: Settings) -> str:
    """The effective config as TOML, secrets masked (SecretStr dumps as ********)."""
    data = settings.model_dump(mode="json")
    data["server"]["url"] = _mask_url(data["server"]["url"])
    lines = [
        f"# config file: {settings.config_path or 'none (defaults and environment only)'}",
        f"# token from: {token_source(settings)}",
        f"# status socket: {socket_path_for_settings(settings)}",
    ]
    for section, values in data.items():
        lines.append(f"\n[{section}]")
        for key, value in values.items():
            lines.append(
                f"# {key} = (not set)" if value is None else f"{key} = {_toml_value(value)}"
            )
    return "\n".join(lines)


@click.command("check-config")
@CONFIG_OPTION
def check_config(config_path: Path | None) -> None:
    """Validate the config and token and print the effective settings (secrets masked).

    Exit 0 when the daemon could start with it, 78 with one message naming the bad key.

    \b
    Example:
      SYNCD_SYNC__TRANSFERS=8 syncd check-config --config ~/.config/syncd/config.toml
    """
    settings = load_settings(config_path, {})
    resolve_token(settings)  # raises ConfigError: missing, empty or world-readable token
    click.echo(effective_config_text(settings))
    click.echo("\n# config OK")


def _sockets(config_path: Path | None) -> list[Path]:
    if config_path is not None:
        return [socket_path_for_settings(load_settings(config_path, {}))]
    found = discover()
    if not found:
        raise DaemonNotRunning("no syncd daemon is running (start one with `syncd run`)")
    return found


def _daemon_errors(func: F) -> F:
    """Map DaemonNotRunning to its documented exit code (3) with a one-line message."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except DaemonNotRunning as exc:
            click.echo(f"syncd: {exc}", err=True)
            sys.exit(DaemonNotRunning.exit_code)

    wrapper.__name__, wrapper.__doc__ = func.__name__, func.__doc__
    return wrapper  # type: ignore[return-value]


@click.command()
@CONFIG_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the raw snapshot(s) as JSON.")
@_daemon_errors
def status(config_path: Path | None, as_json: bool) -> None:
    """Show what the running daemon(s) are doing: state, usage, transfers, held deletes,
    files waiting for quota and the last errors.

    Without --config every daemon under $XDG_RUNTIME_DIR/syncd is shown; --json then prints
    a list, with --config a single object. Exit 3 when no daemon answers.

    \b
    Example:
      syncd status
      syncd status --config ~/.config/syncd/config.toml --json | jq .usage
    """
    snapshots = []
    for sock in _sockets(config_path):
        answer = query(sock, "status")
        snapshots.append({**answer["status"], "socket": str(sock)})
    if as_json:
        click.echo(json.dumps(snapshots[0] if config_path else snapshots, indent=2))
        return
    from syncd.status_render import render_plain, render_rich

    if sys.stdout.isatty():
        from rich.console import Console

        console = Console()
        for snap in snapshots:
            render_rich(snap, console)
    else:
        click.echo("\n\n".join(render_plain(s) for s in snapshots))


def _send(config_path: Path | None, cmd: str) -> None:
    refused = False
    for sock in _sockets(config_path):
        answer = query(sock, cmd)
        if answer.get("ok"):
            click.echo(f"{sock}: {answer.get('message', cmd + 'd')}")
        else:
            refused = True
            click.echo(f"{sock}: {answer.get('error', 'refused')}", err=True)
    if refused:
        sys.exit(EXIT_REFUSED)


@click.command()
@CONFIG_OPTION
@_daemon_errors
def pause(config_path: Path | None) -> None:
    """Pause syncing (watching continues; nothing is transferred or deleted).

    Without --config every running daemon is paused.

    \b
    Example:
      syncd pause --config ~/.config/syncd/config.toml
    """
    _send(config_path, "pause")


@click.command()
@CONFIG_OPTION
@_daemon_errors
def resume(config_path: Path | None) -> None:
    """Resume syncing after `syncd pause`.

    \b
    Example:
      syncd resume
    """
    _send(config_path, "resume")


def _write_private(path: Path, text: str) -> None:
    """Create or replace a file readable only by its owner (mode 0600 from the first byte)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        os.fchmod(handle.fileno(), 0o600)  # an existing file keeps its old mode otherwise
        handle.write(text)


def _token_path(config_path: Path, token_file: Path | None, token_stdin: bool) -> Path:
    if token_file is not None:
        path = token_file.expanduser().absolute()
        check_private_file(path, "token file")
        if not path.read_text(encoding="utf-8").strip():
            raise ConfigError(f"token file {path}: token is empty")
        return path
    token = sys.stdin.readline().strip() if token_stdin else ""
    if not token:
        raise click.UsageError("--token-stdin: no token on standard input")
    path = config_path.parent / "token"
    _write_private(path, token + "\n")
    return path


def _config_text(url: str, token_path: Path, root: Path) -> str:
    return (
        "# Written by `syncd init`. Every key and its default: config.example.toml\n"
        "[server]\n"
        f"url = {_toml_value(url)}\n"
        f"token_file = {_toml_value(token_path)}\n\n"
        "[sync]\n"
        f"root = {_toml_value(root)}\n"
    )


def _syncd_argv() -> list[str]:
    """The command systemd should run: our own entry point, by absolute path."""
    script = Path(sys.argv[0])
    if script.name == "syncd" and script.is_file():
        return [str(script.absolute())]
    found = shutil.which("syncd")
    if found:
        return [found]
    return [sys.executable, "-m", "syncd"]


def _systemctl_usable() -> bool:
    if shutil.which("systemctl") is None:
        return False
    probe = subprocess.run(
        ["systemctl", "--user", "show-environment"],  # noqa: S607 - looked up on PATH on purpose
        capture_output=True,
        timeout=10,
        check=False,
    )
    return probe.returncode == 0


def _install_unit(config_path: Path, root: Path, start: bool) -> None:
    config_home = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    unit_path = config_home / "systemd" / "user" / "syncd.service"
    state_dir = platformdirs.user_state_path("syncd")
    trash_dir = platformdirs.user_data_path("Trash")
    for directory in (state_dir, trash_dir):
        # ReadWritePaths= entries must exist when the unit starts, or they stay read-only.
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    exec_start = " ".join(unit_quote(arg) for arg in _syncd_argv())
    rw_paths = [unit_quote(f"-{p}") for p in (root, state_dir, trash_dir)]
    unit = render_user_unit(
        exec_start=exec_start,
        config=unit_quote(str(config_path)),
        rw_paths=" ".join([*rw_paths, "%t"]),
    )
    unit_path.parent.mkdir(parents=True, exist_ok=True)
    unit_path.write_text(unit, encoding="utf-8")
    click.echo(f"wrote {unit_path}")
    commands = [
        ["systemctl", "--user", "daemon-reload"],
        ["systemctl", "--user", "enable", "--now", "syncd"],
    ]
    if start and _systemctl_usable():
        for argv in commands:
            subprocess.run(argv, check=True, timeout=60)
        click.echo("syncd is enabled and running: `syncd status`")
        return
    click.echo("to start it now and at every login, run:")
    for argv in commands:
        click.echo("  " + " ".join(argv))


@click.command()
@CONFIG_OPTION
@click.option("--server", "server_url", required=True, help="Library server URL.")
@click.option(
    "--root",
    type=click.Path(path_type=Path, file_okay=False),
    required=True,
    help="Local folder to mirror the library into (created if missing).",
)
@click.option(
    "--token-file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Existing file holding the token (must be mode 0600).",
)
@click.option(
    "--token-stdin",
    is_flag=True,
    help="Read the token from stdin and store it next to the config (0600).",
)
@click.option(
    "--systemd", "with_systemd", is_flag=True, help="Install the systemd user unit and enable it."
)
@click.option(
    "--no-start",
    is_flag=True,
    help="With --systemd: install only; print the systemctl commands instead of running them.",
)
@click.option("--force", is_flag=True, help="Overwrite an existing config file.")
def init(
    config_path: Path | None,
    server_url: str,
    root: Path,
    token_file: Path | None,
    token_stdin: bool,
    with_systemd: bool,
    no_start: bool,
    force: bool,
) -> None:
    """Write a config (mode 0600) and token file, and optionally the systemd user unit.

    \b
    Example:
      echo "$TOKEN" | syncd init --server https://media.example.com \\
          --root ~/"WhatsApp Media" --token-stdin --systemd
    """
    if (token_file is None) == (not token_stdin):
        raise click.UsageError("give exactly one of --token-file FILE or --token-stdin")
    if urlsplit(server_url).scheme not in ("http", "https"):
        raise ConfigError(f"server.url: must start with http:// or https:// (got {server_url!r})")
    config_path = (config_path or default_config_path()).expanduser().absolute()
    if config_path.exists() and not force:
        raise click.ClickException(f"{config_path} exists; use --force to overwrite it")
    root = root.expanduser().absolute()
    token_path = _token_path(config_path, token_file, token_stdin)
    _write_private(config_path, _config_text(server_url, token_path, root))
    root.mkdir(parents=True, exist_ok=True)
    load_settings(config_path, {})  # what we wrote must load; fails loudly otherwise
    click.echo(f"wrote {config_path} (token in {token_path})")
    if with_systemd:
        _install_unit(config_path, root, start=not no_start)
    else:
        click.echo(f"start the daemon with: syncd run --config {config_path}")
