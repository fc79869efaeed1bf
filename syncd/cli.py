"""The `syncd` command line: one click group whose commands live in each program's package
and are imported lazily; this file stays a table of contents."""

from __future__ import annotations

import gc
import importlib
import sys

import click

from syncd import __version__
from syncd.errors import ConfigError

# name -> ("module:attribute", one-line help). Commands are imported only when run, and
# `syncd --help` lists the one-line help from this table, so it imports no command module
# (importing them all took most of a second; tests/unit/test_cli_help.py keeps the table true).
COMMANDS = {
    "serve": ("syncd.server.commands:serve", "Run the library server."),
    "admin": ("syncd.server.commands:admin", "Manage users of a library server."),
    "run": ("syncd.sync.commands:run", "Run the sync daemon until SIGTERM/SIGINT."),
    "sync": (
        "syncd.sync.commands:sync",
        "Reconcile once (until nothing is left to do), then exit.",
    ),
    "status": (
        "syncd.ops_commands:status",
        "Show what the running daemon(s) are doing: state, usage, transfers, held deletes, "
        "files waiting for quota and the last errors.",
    ),
    "activity": (
        "syncd.watch:activity",
        "Print what the running daemon did recently, one line per event: downloaded, "
        "uploaded, moved to Trash, deleted on the server, waiting for quota, held, not synced, "
        "offline.",
    ),
    "pause": (
        "syncd.ops_commands:pause",
        "Pause syncing (watching continues; nothing is transferred or deleted).",
    ),
    "resume": ("syncd.ops_commands:resume", "Resume syncing after `syncd pause`."),
    "init": (
        "syncd.init_command:init",
        "Write a config (mode 0600) and token file, and optionally the systemd user unit.",
    ),
    "check-config": (
        "syncd.ops_commands:check_config",
        "Validate the config (URL, root, every key) and token, print the effective settings "
        "(secrets masked), then ask the server whether it knows the token (unless --offline).",
    ),
    "usage": (
        "syncd.client_commands:usage",
        "Show storage used on the server: used/limit, bytes per kind, per folder, and the "
        "largest files.",
    ),
    "ls": (
        "syncd.client_commands:ls",
        "List the folders on the server (name, kind, files, bytes), or the files of FOLDER "
        "(name, size, modified).",
    ),
    "find": (
        "syncd.client_commands:find",
        "Find folders and files on the server by participant name, phone, file name or the "
        "caption the sender wrote: every word must match (case and accents ignored), best "
        "first.",
    ),
    "send": (
        "syncd.send_commands:send",
        "Send the library file PATH (FOLDER/NAME) to a WhatsApp contact through your gateway "
        "(WAHA, Cloud API or Evolution API); the server retries while the gateway is down.",
    ),
    "sent": (
        "syncd.send_commands:sent",
        "List files sent to contacts, newest first: sent, still being retried, or failed (why).",
    ),
    "link": (
        "syncd.client_commands:link",
        "Print a signed share URL for a file of the local mirror; anyone with the URL can "
        "download it until it expires (no login).",
    ),
    "trash": (
        "syncd.client_commands:trash",
        "List the server trash: deleted files kept for a few days (not counted in quota), "
        "restorable with `syncd restore FOLDER/NAME`.",
    ),
    "restore": ("syncd.client_commands:restore", "Bring files back."),
    "approve": (
        "syncd.client_commands:approve",
        "Approve the big delete the daemon is holding (see `syncd status`): the held deletes "
        "are sent to the server, where they stay restorable in the trash for a few days.",
    ),
    "demo": (
        "syncd.demo:demo",
        "Run a local library server with sample customers and mirror it into ./MediaLibrary; "
        "a new item arrives through the webhook every 20 s and each event is printed.",
    ),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(COMMANDS) | set(super().list_commands(ctx)))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return super().get_command(ctx, cmd_name)
        target = COMMANDS[cmd_name][0]
        module_name, attribute = target.split(":")
        command = getattr(importlib.import_module(module_name), attribute)
        if not gc.isenabled():  # main() paused collection for the imports: resume it
            # Modules, classes and functions live as long as the process: kept out of every
            # later collection (frozen).
            gc.freeze()
            gc.enable()
        if not isinstance(command, click.Command):
            raise TypeError(f"{target} is not a click command")
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = sorted((name, text) for name, (_target, text) in COMMANDS.items())
        limit = formatter.width - 6 - max(len(name) for name, _text in rows)
        with formatter.section("Commands"):
            # a bare Command only to reuse click's own shortening of the text
            short = [(n, click.Command(n, help=t).get_short_help_str(limit)) for n, t in rows]
            formatter.write_dl(short)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="syncd")
def cli() -> None:
    """syncd: WhatsApp media library server and sync daemon.

    \b
    Example:
      syncd demo            # local server + daemon mirroring into ./MediaLibrary
    """


def main() -> None:
    # Importing a command's modules makes ~100k objects and no garbage: the collections it
    # triggered took 40-70 ms of a no-op `sync --once` (gc.callbacks). Enabled again, with
    # those objects frozen, once the command is imported (LazyGroup.get_command).
    gc.disable()
    run(cli)


def run(group: click.Group) -> None:
    """Run a command group; a ConfigError is one line on stderr and exit 78 (EX_CONFIG)."""
    try:
        group(standalone_mode=True)
    except ConfigError as exc:
        click.echo(f"syncd: configuration error: {exc}", err=True)
        sys.exit(ConfigError.exit_code)
