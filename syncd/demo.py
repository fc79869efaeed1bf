"""`syncd demo`: the embedded default. A local library server with a demo user (200 MB quota),
three participants whose media arrives through the real WAHA webhook path, and the daemon
mirroring it into ./MediaLibrary. Data lives in ./.syncd-demo and is reused on the next run."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from importlib import resources
from pathlib import Path

import aiohttp
import click

from syncd import log as logging_setup
from syncd.config import load_settings, resolve_token
from syncd.server.ingest.sample_gateway import SampleGateway
from syncd.sync.client import ApiClient
from syncd.sync.daemon import run_daemon
from syncd.sync.engine import EngineOptions
from syncd.sync.status import StatusBoard, socket_path_for_settings

QUOTA = "200MiB"
SAMPLES = [  # (phone, display name, sample file, mime, file name the sender gave)
    ("+4915112345678", "Alice Martin", "customer-photo.jpg", "image/jpeg", None),
    ("+4915112345678", "Alice Martin", "voice-note.wav", "audio/wav", None),
    ("+5511912345678", "Bruno Costa", "price-list.pdf", "application/pdf", "Price list.pdf"),
    ("+5511912345678", "Bruno Costa", "receipt.png", "image/png", None),
    ("+33612345678", "Chloé Dubois", "customer-photo.jpg", "image/jpeg", None),
]


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


def _start_server(server_dir: Path, log_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    server_dir.mkdir(parents=True, exist_ok=True)
    info = server_dir / "server.json"
    info.unlink(missing_ok=True)
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "syncd", "serve", "--data", str(server_dir), "--port", "0"],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches us; we stop the server after the daemon
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise click.ClickException(f"the server did not start; see {log_path}")
        with contextlib.suppress(FileNotFoundError, ValueError):
            return proc, str(json.loads(info.read_text())["url"])
        time.sleep(0.05)
    proc.kill()
    raise click.ClickException(f"the server did not start within 30 s; see {log_path}")


async def _deliver_samples(server_dir: Path, url: str, token: str) -> int:
    """Post the sample media as signed WAHA webhooks; wait until the server filed them."""
    media = resources.files("syncd") / "demo_media"
    gateway = SampleGateway(server_dir)
    await gateway.start()
    try:
        hmac_key = secrets.token_urlsafe(24)
        hook_path = _syncd(
            "admin",
            "add-hook",
            "demo",
            "--data",
            str(server_dir),
            "--type",
            "waha",
            "--gateway-url",
            gateway.url,
            "--api-key",
            gateway.api_key,
            "--hmac-key",
            hmac_key,
        )
        for n, (phone, name, sample, mime, filename) in enumerate(SAMPLES):
            with resources.as_file(media / sample) as path:
                await gateway.deliver(
                    url + hook_path,
                    hmac_key,
                    phone,
                    name,
                    path,
                    mime,
                    f"DEMO{n:04d}",
                    filename=filename,
                )
        return await _wait_filed(url, token, len(SAMPLES))
    finally:
        await gateway.stop()


async def _wait_filed(url: str, token: str, count: int) -> int:
    async with ApiClient(url, token) as client:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            account = await client.account()
            if account.counts.get("files", 0) >= count:
                return account.counts["files"]
            await asyncio.sleep(0.2)
    raise click.ClickException("the sample media was not filed within 30 s")


def _print_intro(root: Path, config: Path, files: int) -> None:
    click.echo(
        f"""
syncd demo is running: {files} files from 3 WhatsApp participants, mirrored into
  {root}

Try, in another terminal:
  cp some-photo.jpg "{root}/Alice Martin/"        # uploaded to the library
  rm "{root}/Bruno Costa/"*.png                    # deleted on the server
  .venv/bin/syncd status                           # state, usage bar, transfers
  .venv/bin/syncd usage --config {config}

Ctrl-C stops the daemon and the server.
"""
    )


async def _run(base: Path) -> int:
    data = base / ".syncd-demo"
    server_dir, root = data / "server", base / "MediaLibrary"
    token_file, config = data / "token", data / "config.toml"
    server, url = _start_server(server_dir, data / "server.log")
    try:
        first_run = not token_file.exists()
        if first_run:
            token = _syncd("admin", "add-user", "demo", "--quota", QUOTA, "--data", str(server_dir))
            _private_write(token_file, token + "\n")
        _private_write(
            config,
            f'[server]\nurl = "{url}"\ntoken_file = "{token_file}"\n\n'
            f'[sync]\nroot = "{root}"\nstate_dir = "{data / "state"}"\nsettle_s = 0.5\n\n'
            '[log]\nlevel = "warning"\n',
        )
        settings = load_settings(config)
        logging_setup.configure(settings.log.level, settings.log.format)
        token = resolve_token(settings)
        files = (
            await _deliver_samples(server_dir, url, token)
            if first_run
            else await _wait_filed(url, token, 0)
        )
        _print_intro(root, config, files)
        board = StatusBoard(name="demo", config_path=config, root=root, mode="mirror")
        return await run_daemon(
            EngineOptions(root=root, settle_s=settings.sync.settle_s),
            ApiClient(url, token),
            state_dir=settings.sync.state_dir,
            socket_path=socket_path_for_settings(settings),
            board=board,
        )
    finally:
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
def demo(base: Path) -> None:
    """Run a local library server with sample participants and mirror it into ./MediaLibrary.

    \b
    Example:
      syncd demo          # Ctrl-C to stop; run again to reuse the data
    """
    try:
        code = asyncio.run(_run(base.resolve()))
    except (aiohttp.ClientError, OSError) as exc:
        raise click.ClickException(f"demo failed: {exc}") from exc
    click.echo("syncd demo stopped.")
    sys.exit(code)
