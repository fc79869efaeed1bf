"""`python -m syncd.server serve|admin ...`: the server's commands alone, without importing
the daemon's packages (a lean entry for server-only deployments and tests)."""

import click

from syncd.cli import run
from syncd.server.commands import admin, serve

run(click.Group(name="syncd-server", commands=[serve, admin]))
