"""The `syncd` command line: one click group; each program registers its commands from its
own package so this file stays a table of contents."""

from __future__ import annotations

import sys

import click

from syncd import __version__
from syncd.errors import ConfigError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="syncd")
def cli() -> None:
    """syncd: WhatsApp media library server and sync daemon.

    \b
    Example:
      syncd demo            # local server + daemon mirroring into ./MediaLibrary
    """


def _register() -> None:
    from syncd.server.commands import admin, serve

    cli.add_command(serve)
    cli.add_command(admin)

    from syncd.ops_commands import check_config, init, pause, resume, status

    for command in (check_config, status, pause, resume, init):
        cli.add_command(command)

    from syncd.sync import commands as sync_commands

    sync_commands.register(cli)

    from syncd.demo import demo

    cli.add_command(demo)

    from syncd import client_commands

    for client_command in (
        client_commands.usage,
        client_commands.ls,
        client_commands.link,
        client_commands.trash,
        client_commands.restore,
        client_commands.approve,
    ):
        cli.add_command(client_command)


def main() -> None:
    _register()
    try:
        cli(standalone_mode=True)
    except ConfigError as exc:
        click.echo(f"syncd: configuration error: {exc}", err=True)
        sys.exit(ConfigError.exit_code)
