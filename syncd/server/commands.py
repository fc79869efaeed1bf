"""CLI commands of the server: `syncd serve` (run until SIGTERM/SIGINT, then drain and exit 0)
and `syncd admin` (re-exported from admin.py)."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import os
import signal
from collections.abc import Callable
from pathlib import Path

import click
from aiohttp import web

from syncd import log as syncd_log
from syncd.server.admin import admin
from syncd.server.app import open_app
from syncd.server.blobs.settings import parse_blobs_url
from syncd.server.connections import fit_to_open_files, listen, quiet_accept_errors
from syncd.server.http import STATE_KEY
from syncd.server.meta.settings import parse_db_url
from syncd.server.state import DEFAULT_FEED_KEEP, DEFAULT_TRASH_DAYS, DEFAULT_TRASH_PERCENT, Limits
from syncd.server.store_options import DB_HELP

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
@click.option(
    "--blobs",
    envvar="SYNCD_BLOBS",
    default=None,
    metavar="URL",
    help="Where media bytes live: 's3://BUCKET[/PREFIX]?endpoint=http://HOST:PORT' (credentials "
    "from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, region from AWS_REGION); default: the "
    "folder blobs/ under --data. Env: SYNCD_BLOBS.",
)
@click.option("--db", envvar="SYNCD_DB", default=None, metavar="URL", help=DB_HELP)
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
    "--trash-percent",
    default=DEFAULT_TRASH_PERCENT,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Cap of each user's trash, in % of their quota; older entries are purged first.",
)
@click.option(
    "--header-timeout",
    default=Limits.header_timeout_s,
    show_default=True,
    type=click.FloatRange(min=0.1),
    help="Seconds a client has to send a request's headers (408 and close after).",
)
@click.option(
    "--idle-timeout",
    default=Limits.idle_timeout_s,
    show_default=True,
    type=click.FloatRange(min=0.1),
    help="Seconds an idle keep-alive connection stays open.",
)
@click.option(
    "--body-timeout",
    default=Limits.body_timeout_s,
    show_default=True,
    type=click.FloatRange(min=0.1),
    help="Seconds without a byte of a request or answer body before it is aborted "
    "(an upload's temp file and quota reservation are released).",
)
@click.option(
    "--max-connections",
    default=Limits.max_connections,
    show_default=True,
    type=click.IntRange(min=1),
    help="Concurrent connections; more are answered 503 and closed. Lowered to fit the "
    "open-files limit (raised to its hard limit first).",
)
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["debug", "info", "warning", "error"]),
)
def serve(
    data_dir: Path,
    blobs: str | None,
    db: str | None,
    host: str,
    port: int,
    test_hooks: bool,
    feed_keep: int,
    trash_days: float,
    trash_percent: float,
    header_timeout: float,
    idle_timeout: float,
    body_timeout: float,
    max_connections: int,
    log_level: str,
) -> None:
    """Run the library server.

    \b
    Example:
      syncd serve --data ./data --port 8750
      syncd serve --data ./spool --blobs 's3://media?endpoint=http://127.0.0.1:8333'
      syncd serve --data ./spool --db postgresql://syncd@127.0.0.1:5432/syncd
    """
    syncd_log.configure(log_level)
    if blobs:
        parse_blobs_url(blobs)  # a bad URL or missing credentials: exit 78 before anything
    if db:
        parse_db_url(db)  # a bad URL: exit 78 (an unreachable database: when the app opens)
    limits = Limits(
        header_timeout_s=header_timeout,
        idle_timeout_s=idle_timeout,
        body_timeout_s=body_timeout,
        max_connections=fit_to_open_files(max_connections),
    )
    make_app = functools.partial(
        open_app,
        data_dir.resolve(),
        test_hooks=test_hooks,
        feed_keep=feed_keep,
        trash_days=trash_days,
        trash_percent=trash_percent,
        limits=limits,
        blobs_url=blobs or None,
        db_url=db or None,
    )
    asyncio.run(_serve(make_app, data_dir.resolve(), host, port))


async def _serve(
    make_app: Callable[[], web.Application], data_dir: Path, host: str, port: int
) -> None:
    app = make_app()  # inside the loop: the app's parts may bind to it
    state = app[STATE_KEY]
    quiet_accept_errors(asyncio.get_running_loop())
    runner = web.AppRunner(app, shutdown_timeout=SHUTDOWN_TIMEOUT_S, access_log=None)
    await runner.setup()
    listener = await listen(runner, host, port, state.limits)
    url = f"http://{_url_host(host)}:{_bound_port(listener, port)}"
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    _write_server_json(data_dir, url)
    log.info(
        "server_started",
        url=url,
        data_dir=str(data_dir),
        test_hooks=state.test_hooks,
        blobs=state.blobs.backend.name,
        db=state.db.describe(),
        **dataclasses.asdict(state.limits),
    )
    reach = await state.blobs.check()
    if not reach.reachable:  # served anyway: health says so, transfers answer 503 meanwhile
        log.warning("blob_store_unreachable", backend=reach.backend, reason=reach.detail)
    await stop.wait()
    log.info("server_stopping")
    (data_dir / "server.json").unlink(missing_ok=True)
    listener.close()  # stop accepting; open connections are drained by the runner
    await runner.cleanup()  # drains in-flight requests, closes the DB
    log.info("server_stopped")


def _bound_port(listener: asyncio.Server, requested: int) -> int:
    for sock in listener.sockets:
        address = sock.getsockname()
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
