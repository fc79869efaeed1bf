"""The `syncd` command line: one click group whose commands live in each program's package
and are imported lazily; this file stays a table of contents."""

from __future__ import annotations

import importlib
import sys

import click

from syncd import __version__
from syncd.errors import ConfigError

# name -> "module:attribute". Commands are imported only when run (or listed by --help), so
# `syncd sync` does not pay for importing the server (it was most of a no-op run's time).
COMMANDS = {
    "serve": "syncd.server.commands:serve",
    "admin": "syncd.server.commands:admin",
    "run": "syncd.sync.commands:run",
    "sync": "syncd.sync.commands:sync",
    "status": "syncd.ops_commands:status",
    "activity": "syncd.watch:activity",
    "pause": "syncd.ops_commands:pause",
    "resume": "syncd.ops_commands:resume",
    "init": "syncd.init_command:init",
    "check-config": "syncd.ops_commands:check_config",
    "usage": "syncd.client_commands:usage",
    "ls": "syncd.client_commands:ls",
    "link": "syncd.client_commands:link",
    "trash": "syncd.client_commands:trash",
    "restore": "syncd.client_commands:restore",
    "approve": "syncd.client_commands:approve",
    "demo": "syncd.demo:demo",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(COMMANDS) | set(super().list_commands(ctx)))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return super().get_command(ctx, cmd_name)
        module_name, attribute = target.split(":")
        command = getattr(importlib.import_module(module_name), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{target} is not a click command")
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="syncd")
def cli() -> None:
    """syncd: WhatsApp media library server and sync daemon.

    \b
    Example:
      syncd demo            # local server + daemon mirroring into ./MediaLibrary
    """


def main() -> None:
    try:
        cli(standalone_mode=True)
    except ConfigError as exc:
        click.echo(f"syncd: configuration error: {exc}", err=True)
        sys.exit(ConfigError.exit_code)
