"""`syncd demo`: the embedded default. A local library server with a demo user (200 MiB quota),
customers whose media arrives through the real WAHA webhook path (five items at first, then one
every 20 s), the daemon mirroring it into ./MediaLibrary, and one line per event on the
terminal. Data lives in ./.syncd-demo and is reused on the next run (same port, same links)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import click

from syncd import log as logging_setup
from syncd.activity import describe
from syncd.config import default_config_path, load_settings, resolve_token
from syncd.demo_incoming import FIRST_ITEMS, Customers
from syncd.server.ingest.sample_gateway import SampleGateway
from syncd.sync.client import ApiClient
from syncd.sync.daemon import run_daemon
from syncd.sync.engine import EngineOptions
from syncd.sync.status import StatusBoard, socket_path_for_settings

QUOTA = "200MiB"
DEFAULT_PORT = 8750
INTERVAL_S = 20.0
PRINT_EVERY_S = 0.3
SIGN_IN_EXPIRES = "1h"


def _syncd(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "syncd", *args], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise click.ClickException(f"syncd {args[0]} {args[1]} failed: {done.stderr.strip()}")
    return done.stdout.strip().splitlines()[-1]


def _private_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    path.chmod(0o600)


def _free_or_any(port: int) -> int:
    """`port` when it can be bound on 127.0.0.1, else 0 (any free port)."""
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return 0
    return port


def _start_server(
    server_dir: Path, log_path: Path, port: int
) -> tuple[subprocess.Popen[bytes], str]:
    server_dir.mkdir(parents=True, exist_ok=True)
    info = server_dir / "server.json"
    info.unlink(missing_ok=True)
    argv = [sys.executable, "-m", "syncd", "serve", "--data", str(server_dir), "--port", str(port)]
    with log_path.open("ab") as log:
        # start_new_session: Ctrl-C reaches us; we stop the server after the daemon.
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise click.ClickException(f"the server did not start; see {log_path}")
        with contextlib.suppress(FileNotFoundError, ValueError):
            return proc, str(json.loads(info.read_text())["url"])
        time.sleep(0.05)
    proc.kill()
    raise click.ClickException(f"the server did not start within 30 s; see {log_path}")


def _fresh_hook(data: Path, server_dir: Path, gateway: SampleGateway) -> tuple[str, str]:
    """A webhook for this run's gateway (its port and key change each run); the previous
    run's hook is removed. Returns (hook path, HMAC key)."""
    saved = data / "hook.json"
    with contextlib.suppress(FileNotFoundError, ValueError, KeyError, click.ClickException):
        _syncd(
            "admin", "remove-hook", json.loads(saved.read_text())["path"], "--data", str(server_dir)
        )
    hmac_key = secrets.token_urlsafe(24)
    path = _syncd(
        *("admin", "add-hook", "demo", "--data", str(server_dir), "--type", "waha"),
        *("--gateway-url", gateway.url, "--api-key", gateway.api_key, "--hmac-key", hmac_key),
    )
    _private_write(saved, json.dumps({"path": path}))
    return path, hmac_key


async def _wait_filed(url: str, token: str, count: int) -> int:
    async with ApiClient(url, token) as client:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            account = await client.account()
            if account.counts.get("files", 0) >= count:
                return account.counts["files"]
            await asyncio.sleep(0.2)
    raise click.ClickException("the sample media was not filed within 30 s")


def _command_name() -> str:
    """How the user can run syncd from here: `syncd` when that is on PATH, else our path."""
    ours = Path(sys.executable).parent / "syncd"
    found = shutil.which("syncd")
    if found and (not ours.exists() or Path(found).resolve() == ours.resolve()):
        return "syncd"
    if not ours.exists():
        return f"{sys.executable} -m syncd"
    relative = os.path.relpath(ours)
    return relative if not relative.startswith("..") else str(ours)


def _print_intro(
    root: Path, config: Path, url: str, files: int, interval_s: float | None, sign_in: str
) -> None:
    syncd = _command_name()
    # Commands find the demo's daemon by themselves, unless a real config file exists.
    flag = f" --config {config}" if default_config_path().exists() else ""
    arrival = (
        f"A customer sends something new every {interval_s:g} s; watch it arrive below."
        if interval_s
        else "No new items arrive (--no-incoming)."
    )
    click.echo(
        f"""
syncd demo is running: {files} files from WhatsApp customers, mirrored into
  {root}
Library server: {url}  (user "demo", quota 200 MiB)
{arrival}

The library in your browser (a one-time sign-in link, valid for {SIGN_IN_EXPIRES}):
  {sign_in}

Try, in another terminal:
  cp some-photo.jpg "{root}/Alice Martin/"        # uploaded to the library
  rm "{root}/Bruno Costa/"*.png                    # deleted on the server (kept in its trash)
  {syncd} status --watch{flag}                     # live: state, usage bar, transfers, activity
  {syncd} ls "Bruno Costa"{flag}
  {syncd} link "Bruno Costa/Price list.pdf"{flag}  # a share URL

Ctrl-C stops the daemon and the server.
"""
    )


class ActivityPrinter:
    """The daemon's events, one line each, as they happen (and the last ones at exit)."""

    def __init__(self, board: StatusBoard) -> None:
        self.board, self.seen = board, 0

    def flush(self) -> None:
        for event in self.board.activity.since(self.seen):
            self.seen = event["seq"]
            click.echo(describe(event))

    async def run(self) -> None:
        while True:
            self.flush()
            await asyncio.sleep(PRINT_EVERY_S)


def _say_with_clock(text: str) -> None:
    click.echo(time.strftime("%H:%M:%S") + "  " + text)


def _write_config(config: Path, url: str, token_file: Path, root: Path, state: Path) -> None:
    _private_write(
        config,
        f'[server]\nurl = "{url}"\ntoken_file = "{token_file}"\n\n'
        f'[sync]\nroot = "{root}"\nstate_dir = "{state}"\nsettle_s = 0.5\n\n'
        '[log]\nlevel = "warning"\n',
    )


async def _run(base: Path, port: int, interval_s: float | None) -> int:
    data = base / ".syncd-demo"
    server_dir, root = data / "server", base / "MediaLibrary"
    token_file, config = data / "token", data / "config.toml"
    free = _free_or_any(port)
    if free != port:
        click.echo(f"port {port} is taken; the demo server takes a free one")
    server, url = _start_server(server_dir, data / "server.log", free)
    gateway = SampleGateway(server_dir)
    tasks: list[asyncio.Task[None]] = []
    printer: ActivityPrinter | None = None
    try:
        first_run = not token_file.exists()
        if first_run:
            token = _syncd("admin", "add-user", "demo", "--quota", QUOTA, "--data", str(server_dir))
            _private_write(token_file, token + "\n")
        _write_config(config, url, token_file, root, data / "state")
        settings = load_settings(config)
        logging_setup.configure(settings.log.level, settings.log.format)
        token = resolve_token(settings)
        await gateway.start()
        hook_path, hmac_key = _fresh_hook(data, server_dir, gateway)
        customers = Customers(gateway, url + hook_path, hmac_key)
        if first_run:
            for item in FIRST_ITEMS:
                await customers.send(item)
        files = await _wait_filed(url, token, len(FIRST_ITEMS) if first_run else 0)
        sign_in = _syncd(
            *("admin", "login-link", "demo", "--data", str(server_dir)),
            *("--base-url", url, "--expires", SIGN_IN_EXPIRES),
        )
        _print_intro(root, config, url, files, interval_s, sign_in)
        board = StatusBoard(name="demo", config_path=config, root=root, mode="mirror")
        printer = ActivityPrinter(board)
        tasks.append(asyncio.create_task(printer.run()))
        if interval_s:
            known = {item.name for item in FIRST_ITEMS}
            say = _say_with_clock
            tasks.append(asyncio.create_task(customers.keep_sending(interval_s, say, known)))
        return await run_daemon(
            EngineOptions(root=root, settle_s=settings.sync.settle_s),
            ApiClient(url, token),
            state_dir=settings.sync.state_dir,
            socket_path=socket_path_for_settings(settings),
            board=board,
        )
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if printer is not None:
            printer.flush()
        await gateway.stop()
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()


@click.command()
@click.option(
    "--dir",
    "base",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path.cwd,
    help="where .syncd-demo and MediaLibrary live (default: here)",
)
@click.option(
    "--port",
    default=DEFAULT_PORT,
    show_default=True,
    help="Server port (the same each run, so links keep working); a free one if taken.",
)
@click.option(
    "--interval",
    "interval_s",
    default=INTERVAL_S,
    show_default=True,
    type=click.FloatRange(min=0.1),
    help="Seconds between new incoming items.",
)
@click.option("--no-incoming", is_flag=True, help="No new items after the first five.")
def demo(base: Path, port: int, interval_s: float, no_incoming: bool) -> None:
    """Run a local library server with sample customers and mirror it into ./MediaLibrary;
    a new item arrives through the webhook every 20 s and each event is printed.

    \b
    Example:
      syncd demo                  # Ctrl-C to stop; run again to reuse the data
      syncd demo --no-incoming    # only the first five items
    """
    try:
        code = asyncio.run(_run(base.resolve(), port, None if no_incoming else interval_s))
    except (aiohttp.ClientError, OSError) as exc:
        raise click.ClickException(f"demo failed: {exc}") from exc
    click.echo("syncd demo stopped.")
    sys.exit(code)
