"""Live views of running daemons: `syncd status --watch` (the status panels redrawn every
second with rich) and `syncd activity [--follow]` (the daemon's recent events, one per line)."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.text import Text

from syncd.activity import describe
from syncd.errors import DaemonNotRunning
from syncd.locate import one_daemon_socket
from syncd.ops_commands import CONFIG_OPTION
from syncd.status_render import status_panel
from syncd.sync.status_client import query

REFRESH_S = 1.0
FOLLOW_POLL_S = 0.5


def _view(sockets: Callable[[], list[Path]]) -> RenderableType:
    panels: list[RenderableType] = []
    for sock in sockets():
        try:
            panels.append(status_panel(query(sock, "status")["status"]))
        except DaemonNotRunning:
            panels.append(Text(f"{sock}: the daemon stopped answering", style="red"))
    if not panels:
        panels.append(Text("no syncd daemon is running (start one with `syncd run`)", style="red"))
    stamp = time.strftime("%H:%M:%S")
    return Group(*panels, Text(f"{stamp} · refreshed every second · Ctrl-C to quit", style="dim"))


def watch_status(sockets: Callable[[], list[Path]], console: Console | None = None) -> None:
    """Redraw until Ctrl-C. `sockets` is asked again each time: daemons come and go."""
    console = console or Console()
    try:
        with Live(_view(sockets), console=console, auto_refresh=False, screen=False) as live:
            while True:
                time.sleep(REFRESH_S)
                live.update(_view(sockets), refresh=True)
    except KeyboardInterrupt:
        pass


def _events(sock: Path, after: int) -> list[dict[str, Any]]:
    answer = query(sock, "activity", after=after)
    if not answer.get("ok"):
        raise DaemonNotRunning(f"{sock}: {answer.get('error', 'no activity answer')}")
    return list(answer.get("events") or [])


def _print(events: list[dict[str, Any]], as_json: bool) -> int:
    for event in events:
        click.echo(json.dumps(event) if as_json else describe(event))
    return int(events[-1]["seq"]) if events else 0


def _follow(sock: Path, after: int, as_json: bool) -> None:
    try:
        while True:
            time.sleep(FOLLOW_POLL_S)
            after = _print(_events(sock, after), as_json) or after
    except KeyboardInterrupt:
        pass


@click.command()
@CONFIG_OPTION
@click.option("--follow", "-f", is_flag=True, help="Keep printing new events until Ctrl-C.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per event.")
def activity(config_path: Path | None, follow: bool, as_json: bool) -> None:
    """Print what the running daemon did recently, one line per event: downloaded,
    uploaded, moved to Trash, deleted on the server, waiting for quota, held, not synced,
    offline. The daemon keeps the last 200 events. Exit 3 when no daemon answers.

    \b
    Example:
      syncd activity
      syncd activity --follow          # like tail -f
    """
    try:
        sock = one_daemon_socket(config_path)
        events = _events(sock, 0)
        if not events and not follow:
            click.echo("no activity yet")
        last = _print(events, as_json)
        if follow:
            _follow(sock, last, as_json)
    except DaemonNotRunning as exc:
        click.echo(f"syncd: {exc}", err=True)
        sys.exit(DaemonNotRunning.exit_code)
