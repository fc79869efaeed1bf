"""CLI commands of the sync daemon: `syncd run` (continuous) and `syncd sync --once`."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any, NoReturn

import click

from syncd import log as logging_setup
from syncd.config import Settings, load_settings, resolve_token
from syncd.errors import RootMissingError, TransportError, Unauthorized
from syncd.sync.client import ApiClient
from syncd.sync.daemon import open_engine, run_daemon
from syncd.sync.engine import EngineOptions, PassResult
from syncd.sync.gate import NS_PER_S
from syncd.sync.notify import DesktopNotifier
from syncd.sync.status import StatusBoard, socket_path_for_settings

EXIT_ROOT_MISSING = 4
EXIT_UNAUTHORIZED = 5
EXIT_OFFLINE = 6
MAX_ONCE_PASSES = 50


def _options(settings: Settings) -> EngineOptions:
    return EngineOptions(
        root=settings.sync.root.expanduser(),
        mode=settings.sync.mode,
        transfers=settings.sync.transfers,
        max_delete=settings.sync.max_delete,
        settle_s=settings.sync.settle_s,
        quiet_s=settings.sync.quiet_s,
        max_wait_s=settings.sync.max_wait_s,
        small_file_bytes=settings.sync.small_file_bytes,
        ignore=list(settings.sync.ignore),
    )


def _settings(config: Path | None, **flags: Any) -> Settings:
    overrides = {
        "server.url": flags.get("url"),
        "server.token_file": flags.get("token_file"),
        "sync.root": flags.get("root"),
        "sync.state_dir": flags.get("state_dir"),
        "sync.mode": flags.get("mode"),
    }
    settings = load_settings(config, overrides)
    logging_setup.configure(settings.log.level, settings.log.format)
    return settings


_common = [
    click.option("--config", "config", type=click.Path(path_type=Path), help="config file"),
    click.option("--url", help="server URL (overrides server.url)"),
    click.option("--token-file", type=click.Path(path_type=Path), help="token file"),
    click.option("--root", type=click.Path(path_type=Path), help="local sync root"),
    click.option("--state-dir", type=click.Path(path_type=Path), help="daemon state dir"),
    click.option("--mode", type=click.Choice(["mirror", "backup"]), help="sync mode"),
]


def common_options(fn: Any) -> Any:
    for option in reversed(_common):
        fn = option(fn)
    return fn


@click.command()
@common_options
def run(config: Path | None, **flags: Any) -> None:
    """Run the sync daemon until SIGTERM/SIGINT.

    \b
    Example:
      syncd run --config ~/.config/syncd/config.toml
    """
    settings = _settings(config, **flags)
    client = ApiClient(settings.server.url, resolve_token(settings))
    config_path = settings.config_path or Path("default")
    socket_path = socket_path_for_settings(settings)
    board = StatusBoard(
        name=config_path.stem,
        config_path=config_path,
        root=settings.sync.root,
        mode=settings.sync.mode,
    )
    code = asyncio.run(
        run_daemon(
            _options(settings),
            client,
            state_dir=settings.sync.state_dir,
            socket_path=socket_path,
            board=board,
            rescan_interval_s=settings.sync.rescan_interval_s,
            notifier=DesktopNotifier(
                settings.notify.min_interval_s, enabled=settings.notify.enabled
            ),
        )
    )
    sys.exit(code)


@click.command()
@click.option("--once", is_flag=True, required=True, help="one reconcile, then exit")
@click.option("--dry-run", is_flag=True, help="print the plan, change nothing")
@common_options
def sync(once: bool, dry_run: bool, config: Path | None, **flags: Any) -> None:
    """Reconcile once (until nothing is left to do), then exit.

    \b
    Examples:
      syncd sync --once --dry-run     # show what would happen
      syncd sync --once               # do it
    """
    settings = _settings(config, **flags)
    client = ApiClient(settings.server.url, resolve_token(settings))
    try:
        _exit_now(asyncio.run(_sync_once(settings, client, dry_run)))
    except Unauthorized:
        click.echo("syncd: the server rejected the token (401); check token_file", err=True)
        code = EXIT_UNAUTHORIZED
    except RootMissingError as exc:
        click.echo(f"syncd: not syncing: {exc}", err=True)
        code = EXIT_ROOT_MISSING
    except TransportError as exc:
        click.echo(f"syncd: server unreachable: {exc}", err=True)
        code = EXIT_OFFLINE
    sys.exit(code)


def _exit_now(code: int) -> NoReturn:
    """End a completed `sync --once` without tearing the interpreter down: the state DB and
    the HTTP session are closed and nothing is left to run, and freeing every object of the
    library one by one (garbage collection, module teardown) took ~0.3 s of a no-op run
    here, which the kernel does at once."""
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:
        sys.exit(code)  # (a closed pipe: reported as the interpreter always did)
    os._exit(code)


def _print_plan(result: PassResult) -> None:
    gated = result.gated
    for label, actions in (
        ("first", gated.run_first),
        ("files", gated.run_files),
        ("last", gated.run_last),
        ("held", gated.held),
    ):
        for action in actions:
            click.echo(f"{label:5} {type(action).__name__:18} {_describe(action)}")
    for waiting in gated.waiting:
        click.echo(
            f"wait  {waiting.reason:18} {waiting.path} (needs {waiting.needed_bytes} B,"
            f" {waiting.free_bytes} B free)"
        )
    for path, reason in result.skipped:
        click.echo(f"skip  {reason}: {path}")


def _describe(action: Any) -> str:
    for attr in ("local", "remote", "base"):
        value = getattr(action, attr, None)
        if value is not None:
            return str(getattr(value, "path", getattr(value, "name", value)))
    return str(getattr(action, "path", getattr(action, "name", "")))


async def _sync_once(settings: Settings, client: ApiClient, dry_run: bool) -> int:
    board = StatusBoard(root=settings.sync.root, mode=settings.sync.mode)
    async with client:
        engine = await open_engine(_options(settings), client, board, settings.sync.state_dir)
        try:
            return await _passes(engine, dry_run)
        finally:
            engine.db.close()


async def _passes(engine: Any, dry_run: bool) -> int:
    failed: list[tuple[str, str]] = []
    for _ in range(MAX_ONCE_PASSES):
        result: PassResult = await engine.reconcile(dry_run=dry_run)
        failed = result.failed
        if dry_run:
            _print_plan(result)
            return 0
        if result.progressed:
            await engine.pull()
            continue
        if result.wake_at_ns is None:
            break
        await asyncio.sleep(max(0.05, (result.wake_at_ns - time.time_ns()) / NS_PER_S))
    engine.sweep_all_temps()
    for path, reason in failed:
        click.echo(f"syncd: not synced: {path}: {reason}", err=True)
    return 1 if failed else 0


__all__ = ["run", "sync"]
