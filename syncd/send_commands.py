"""`syncd send FOLDER/NAME --to PHONE` (a library file to a WhatsApp contact through one of
the user's gateway hooks, waiting for the gateway's answer) and `syncd sent` (the record)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import click

from syncd.ask import Refused
from syncd.client_commands import (
    CONFIG_OPTION,
    JSON_OPTION,
    echo_json,
    file_by_path,
    library_path,
    on_server,
)
from syncd.locate import command_settings
from syncd.sync.client import ApiClient

WAIT_STEP_S = 0.5


async def _send(
    api: ApiClient,
    path: tuple[str, str],
    to: str,
    caption: str | None,
    hook: str | None,
    wait_s: float,
) -> dict[str, Any]:
    """Queue the send, then follow it until the gateway answered or `wait_s` passed."""
    file = await file_by_path(api, *path)
    record = await api.send_file(file.id, to, caption, hook)
    deadline = time.monotonic() + wait_s
    while record["state"] in ("queued", "sending") and time.monotonic() < deadline:
        await asyncio.sleep(WAIT_STEP_S)
        found = [r for r in await api.sent(limit=200) if r["id"] == record["id"]]
        record = found[0] if found else record
    return record


@click.command("send")
@click.argument("path")
@click.option("--to", "to", required=True, help="The contact's phone: +<country><number>.")
@click.option("--caption", default=None, help="Text sent with the file.")
@click.option("--hook", default=None, help="The hook id to send through (if you have several).")
@click.option("--wait", "wait_s", default=30.0, show_default=True, help="Seconds to wait.")
@CONFIG_OPTION
@JSON_OPTION
def send(
    path: str,
    to: str,
    caption: str | None,
    hook: str | None,
    wait_s: float,
    config_path: Path | None,
    as_json: bool,
) -> None:
    """Send the library file PATH (FOLDER/NAME) to a WhatsApp contact through your gateway
    (WAHA, Cloud API or Evolution API); the server retries while the gateway is down.

    \b
    Example:
      syncd send "Bruno Costa/Price list.pdf" --to "+55 11 91234-5678" --caption "Our prices"
    """
    settings = command_settings(config_path)
    where = library_path(settings, path)
    record = on_server(settings, lambda api: _send(api, where, to, caption, hook, wait_s))
    if as_json:
        echo_json(record)
    elif record["state"] == "sent":
        click.echo(f"sent {record['file_name']} to {record['to']}")
    elif record["state"] != "failed":
        why = f" (last answer: {record['error']})" if record["error"] else ""
        click.echo(f"queued: the server keeps trying{why}; see `syncd sent`")
    if record["state"] == "failed":
        raise Refused(f"not sent: {record['error']}")


@click.command("sent")
@CONFIG_OPTION
@JSON_OPTION
def sent(config_path: Path | None, as_json: bool) -> None:
    """List files sent to contacts, newest first: sent, still being retried, or failed (why).

    \b
    Example:
      syncd sent --json
    """
    items = on_server(command_settings(config_path), lambda api: api.sent())
    if as_json:
        echo_json({"items": items})
        return
    if not items:
        click.echo("nothing sent yet")
    for item in items:
        state = item["state"] + (
            f": {item['error']}" if item["state"] != "sent" and item["error"] else ""
        )
        click.echo(f"{item['created_at'][:19]}Z  {item['to']}  {item['file_name']}  {state}")
