"""CLI commands of the server: `syncd serve` (run until SIGTERM/SIGINT, then drain and exit 0)
and `syncd admin` (re-exported from admin.py)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path

import click
from aiohttp import web

from syncd import log as syncd_log
from syncd.server.admin import admin
from syncd.server.app import open_app
from syncd.server.state import DEFAULT_FEED_KEEP, DEFAULT_TRASH_DAYS

__all__ = ["admin", "serve"]
SHUTDOWN_TIMEOUT_S = 10.0
log = syncd_log.get_logger(__name__)


@click.command()
@click.option(
    "--data",
    "data_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Data directory.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=8750, show_default=True, type=int, help="0 = any free port.")
@click.option("--test-hooks", is_flag=True, help="Enable /v1/_test/* (tests only).")
@click.option(
    "--feed-keep",
    default=DEFAULT_FEED_KEEP,
    show_default=True,
    type=int,
    help="Change-feed seqs kept by compaction; older cursors get 410.",
)
@click.option(
    "--trash-days",
    default=DEFAULT_TRASH_DAYS,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Days a deleted file stays in its owner's trash (restorable, not counted in quota).",
)
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["debug", "info", "warning", "error"]),
)
def serve(
    data_dir: Path,
    host: str,
    port: int,
    test_hooks: bool,
    feed_keep: int,
    trash_days: float,
    log_level: str,
) -> None:
    """Run the library server.

    \b
    Example:
      syncd serve --data ./data --port 8750
    """
    syncd_log.configure(log_level)
    asyncio.run(_serve(data_dir.resolve(), host, port, test_hooks, feed_keep, trash_days))


async def _serve(
    data_dir: Path, host: str, port: int, test_hooks: bool, feed_keep: int, trash_days: float
) -> None:
    app = open_app(data_dir, test_hooks=test_hooks, feed_keep=feed_keep, trash_days=trash_days)
    runner = web.AppRunner(app, shutdown_timeout=SHUTDOWN_TIMEOUT_S, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound_port = _bound_port(runner, port)
    url = f"http://{_url_host(host)}:{bound_port}"
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    _write_server_json(data_dir, url)
    log.info("server_started", url=url, data_dir=str(data_dir), test_hooks=test_hooks)
    await stop.wait()
    log.info("server_stopping")
    (data_dir / "server.json").unlink(missing_ok=True)
    await runner.cleanup()  # stops listening, drains in-flight requests, closes the DB
    log.info("server_stopped")


def _bound_port(runner: web.AppRunner, requested: int) -> int:
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2:
            return int(address[1])
    return requested


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", "", "::"):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def _write_server_json(data_dir: Path, url: str) -> None:
    """Atomic: tests and tools poll for this file and must never read half of it."""
    target = data_dir / "server.json"
    temp = data_dir / f".server.json.{os.getpid()}.tmp"
    temp.write_text(json.dumps({"url": url, "pid": os.getpid()}))
    os.replace(temp, target)
