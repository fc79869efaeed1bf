"""Every `syncd` command and sub-command answers --help with an example."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from syncd.cli import COMMANDS, cli


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found: list[tuple[str, ...]] = []
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        found.append((*prefix, name))
        if isinstance(command, click.Group):
            found.extend(_commands(command, (*prefix, name)))
    return found


@pytest.mark.parametrize("argv", _commands(cli), ids=" ".join)
def test_help_has_an_example(argv: tuple[str, ...]) -> None:
    result = CliRunner().invoke(cli, [*argv, "--help"])
    assert result.exit_code == 0, result.output
    assert "Example" in result.output, f"syncd {' '.join(argv)} --help shows no example"


def test_every_documented_command_exists() -> None:
    names = {argv[0] for argv in _commands(cli)}
    expected = "serve run sync status pause resume approve restore usage ls link admin init demo"
    assert set(expected.split()) <= names


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_help_table_matches_the_command(name: str) -> None:
    """`syncd --help` lists the table's one-line help without importing the commands."""
    command = cli.get_command(click.Context(cli), name)
    assert command is not None
    assert command.get_short_help_str(limit=1000) == COMMANDS[name][1]
