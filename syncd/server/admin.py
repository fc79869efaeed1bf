"""`syncd admin ...`: user management on a data directory (or the `--db` database). Safe while
the server runs: it writes the same database (SQLite WAL, or PostgreSQL behind the same write
lock), and the server re-reads users per request."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path

import click

from syncd.errors import ApiError
from syncd.server.ingest import commands as ingest_commands
from syncd.server.quota import parse_size
from syncd.server.store_options import DB_HELP, open_store, store_options
from syncd.server.users import (
    DEFAULT_MAX_FILE_BYTES,
    create_user,
    list_users,
    rotate_token,
    set_quota,
    user_by_name,
)
from syncd.server.web.sessions import MAX_LOGIN_LINK_TTL_S, expires_ns
from syncd.server.web.store import create_login_link
from syncd.units import human_bytes, parse_duration_s


class SizeType(click.ParamType[int]):
    name = "size"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> int:
        if isinstance(value, int):
            return value
        try:
            return parse_size(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


SIZE = SizeType()


@click.group()
def admin() -> None:
    """Manage users of a library server.

    \b
    Example:
      syncd admin add-user alice --quota 5GiB --data ./data
    """


@admin.command("add-user")
@click.argument("name")
@click.option("--quota", "quota", type=SIZE, required=True, help="Storage limit: 5GiB, 200MiB.")
@click.option(
    "--max-file",
    "max_file",
    type=SIZE,
    default=DEFAULT_MAX_FILE_BYTES,
    show_default="2GiB",
    help="Largest single file.",
)
@store_options
def add_user(name: str, quota: int, max_file: int, data_dir: Path) -> None:
    """Create a user; prints the token once, alone on the last line (only a hash is kept).

    \b
    Example:
      TOKEN=$(syncd admin add-user alice --quota 5GiB --data ./data | tail -1)
    """
    db = open_store(data_dir)
    try:
        user_id, token = create_user(db, name, quota, max_file)
    except ApiError as exc:
        raise click.ClickException(exc.message) from exc
    finally:
        db.close()
    click.echo(f"created user {name} ({user_id}), quota {human_bytes(quota)}; token:")
    click.echo(token)


@admin.command("list-users")
@store_options
def list_users_cmd(data_dir: Path) -> None:
    """List users with usage and limits.

    \b
    Example:
      syncd admin list-users --data ./data
    """
    db = open_store(data_dir)
    try:
        rows = list_users(db)
    finally:
        db.close()
    click.echo(f"{'NAME':<20} {'ID':<20} {'FILES':>7} {'USED':>11} {'LIMIT':>11} {'MAX FILE':>10}")
    for r in rows:
        click.echo(
            f"{r['name']:<20} {r['id']:<20} {r['file_count']:>7} "
            f"{human_bytes(r['used_bytes']):>11} {human_bytes(r['limit_bytes']):>11} "
            f"{human_bytes(r['max_file_bytes']):>10}"
        )


@admin.command("set-quota")
@click.argument("name")
@click.argument("size", type=SIZE)
@click.option("--max-file", "max_file", type=SIZE, default=None, help="Also change this.")
@store_options
def set_quota_cmd(name: str, size: int, max_file: int | None, data_dir: Path) -> None:
    """Change a user's storage limit (applies to the running server at once).

    \b
    Example:
      syncd admin set-quota alice 10GiB --data ./data
    """
    db = open_store(data_dir)
    try:
        set_quota(db, name, size, max_file)
    except ApiError as exc:
        raise click.ClickException(exc.message) from exc
    finally:
        db.close()
    click.echo(f"quota of {name} set to {human_bytes(size)}")


@admin.command("rotate-token")
@click.argument("name")
@store_options
def rotate_token_cmd(name: str, data_dir: Path) -> None:
    """Replace a user's token; the old one stops working at once. Prints the new token.

    \b
    Example:
      syncd admin rotate-token alice --data ./data | tail -1 > ~/.config/syncd/token
    """
    db = open_store(data_dir)
    try:
        token = rotate_token(db, name)
    except ApiError as exc:
        raise click.ClickException(exc.message) from exc
    finally:
        db.close()
    click.echo(f"new token for {name}:")
    click.echo(token)


@admin.command("login-link")
@click.argument("name")
@click.option(
    "--base-url",
    default=None,
    metavar="URL",
    help="The server's address as the browser reaches it (default: $SYNCD_PUBLIC_URL, else "
    "the running server's URL from DATA/server.json).",
)
@click.option("--expires", default="15m", show_default=True, help="Lifetime: 90s, 15m, 12h, 2d.")
@store_options
def login_link_cmd(name: str, base_url: str | None, expires: str, data_dir: Path) -> None:
    """Print a one-time sign-in link to NAME's library page, alone on the last line. It
    works once, until it expires; the browser that opens it stays signed in for a week.

    \b
    Example:
      syncd admin login-link alice --data ./data --base-url https://media.example.com
    """
    try:
        lifetime_s = parse_duration_s(expires)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--expires") from exc
    if not 1 <= lifetime_s <= MAX_LOGIN_LINK_TTL_S:
        raise click.BadParameter("at most 7d", param_hint="--expires")
    base = base_url or os.environ.get("SYNCD_PUBLIC_URL") or _running_url(data_dir)
    db = open_store(data_dir)
    try:
        user = user_by_name(db, name)
        now = time.time_ns()
        secret = create_login_link(db, user["id"], now, expires_ns(now, lifetime_s))
    except ApiError as exc:
        raise click.ClickException(exc.message) from exc
    finally:
        db.close()
    click.echo(f"sign-in link for {user['name']}, valid once for {expires}:")
    click.echo(f"{base.rstrip('/')}/login/{secret}")


def _running_url(data_dir: Path) -> str:
    try:
        return str(json.loads((data_dir / "server.json").read_text())["url"])
    except (OSError, ValueError, KeyError) as exc:
        raise click.ClickException(
            f"no running server found in {data_dir} (server.json): pass --base-url"
        ) from exc


ingest_commands.register(admin)  # add-hook, list-hooks, remove-hook


@admin.command("migrate")
@click.option(
    "--from",
    "source_dir",
    required=True,
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="Data directory of the embedded library (SQLite + blob folder); its server stopped.",
)
@click.option("--db", "db_url", required=True, envvar="SYNCD_DB", metavar="URL", help=DB_HELP)
@click.option(
    "--blobs",
    "blobs_url",
    required=True,
    envvar="SYNCD_BLOBS",
    metavar="URL",
    help="Target bucket: 's3://BUCKET?endpoint=URL' (AWS_* credentials). Env: SYNCD_BLOBS.",
)
def migrate_cmd(source_dir: Path, db_url: str, blobs_url: str) -> None:
    """Copy an embedded library into PostgreSQL + an S3 bucket (for several instances).

    Blobs first, each verified by its digest, then every row; run it again after an
    interruption and it finishes the copy. The source is left as it was. Daemons re-read
    their feed once when they first meet the new server.

    \b
    Example:
      syncd admin migrate --from ./data --db postgresql://syncd@db/syncd \\
        --blobs 's3://media?endpoint=http://127.0.0.1:8333'
    """
    from syncd.server.migrate import MigrateError, migrate

    try:
        tally = asyncio.run(migrate(source_dir, db_url, blobs_url, click.echo))
    except MigrateError as exc:
        raise click.ClickException(str(exc)) from exc
    rows = ", ".join(f"{n} {table}" for table, n in tally.rows.items() if n)
    click.echo(
        f"copied {tally.blobs_copied} blobs ({human_bytes(tally.bytes_copied)}), "
        f"{tally.blobs_present} already there; rows: {rows or 'none'}"
    )
    click.echo("migrated: start `syncd serve` with the same --db and --blobs")
