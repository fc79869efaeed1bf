"""Operator commands of the sync daemon: check-config, status, pause and resume, and the shared
bits of config text. `init` is in init_command.py, the live views in watch.py, `run` in sync/."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import click

from syncd.errors import DaemonNotRunning
from syncd.sync.status_client import discover, query

if TYPE_CHECKING:  # status, pause and resume must not pay for pydantic-settings (issue 11)
    from syncd.config import Settings

F = TypeVar("F", bound=Callable[..., Any])
EXIT_REFUSED = 1
CONFIG_OPTION = click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Config file (default: $XDG_CONFIG_HOME/syncd/config.toml).",
)


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)  # JSON strings are TOML basic strings


def _mask_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:********@{host}"))


def effective_config_text(settings: Settings) -> str:
    """The effective config as TOML, secrets masked (SecretStr dumps as ********)."""
    from syncd.config import token_source
    from syncd.sync.status import socket_path_for_settings

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
                f"# {key} = (not set)" if value is None else f"{key} = {toml_value(value)}"
            )
    return "\n".join(lines)


@click.command("check-config")
@CONFIG_OPTION
@click.option("--offline", is_flag=True, help="Do not contact the server to check the token.")
def check_config(config_path: Path | None, offline: bool) -> None:
    """Validate the config (URL, root, every key) and token, print the effective settings
    (secrets masked), then ask the server whether it knows the token (unless --offline).

    Exit 0 when the daemon could start with it; 78 with one message naming the bad key;
    5 the server rejected the token; 6 the server is unreachable.

    \b
    Example:
      SYNCD_SYNC__TRANSFERS=8 syncd check-config --config ~/.config/syncd/config.toml
      syncd check-config --offline      # no network: the file and token only
    """
    from syncd.config import resolve_token
    from syncd.locate import command_settings

    settings = command_settings(config_path)
    token = resolve_token(settings)  # raises ConfigError: missing, empty or readable by others
    click.echo(effective_config_text(settings))
    if offline:
        click.echo("\n# config OK (server not contacted: --offline)")
        return
    from syncd.ask import ask_server

    account = ask_server(settings.server.url, token, lambda api: api.account())
    click.echo(f"\n# config OK; the server knows this token as user {account.user.name}")


def _sockets(config_path: Path | None) -> list[Path]:
    if config_path is not None:
        from syncd.config import load_settings
        from syncd.sync.status import socket_path_for_settings

        return [socket_path_for_settings(load_settings(config_path, {}))]
    found = discover()
    if not found:
        raise DaemonNotRunning("no syncd daemon is running (start one with `syncd run`)")
    return found


def _sockets_or_none(config_path: Path | None) -> list[Path]:
    try:
        return _sockets(config_path)
    except DaemonNotRunning:
        return []


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
@click.option("--watch", "-w", is_flag=True, help="Live view, redrawn every second, until Ctrl-C.")
@_daemon_errors
def status(config_path: Path | None, as_json: bool, watch: bool) -> None:
    """Show what the running daemon(s) are doing: state, usage, transfers, held deletes,
    files waiting for quota and the last errors.

    Without --config every daemon under $XDG_RUNTIME_DIR/syncd is shown; --json then prints
    a list, with --config a single object. Exit 3 when no daemon answers.

    \b
    Example:
      syncd status
      syncd status --watch                # live: state, usage bar, transfers, activity
      syncd status --config ~/.config/syncd/config.toml --json | jq .usage
    """
    if watch:
        if as_json:
            raise click.UsageError("--watch and --json do not go together")
        from syncd.watch import watch_status

        _sockets(config_path)  # exit 3 at once when no daemon answers
        watch_status(lambda: _sockets_or_none(config_path))
        return
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
