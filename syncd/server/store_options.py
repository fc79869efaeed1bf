"""The `--data DIR [--db URL]` options every admin command shares with `syncd serve`, and opening
the metadata store they name (the URL rides on the click context: commands take `data_dir`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import click

from syncd.server.meta import Db, open_db

F = TypeVar("F", bound=Callable[..., object])
_DB_URL_KEY = "syncd.db_url"
DB_HELP = (
    "Metadata database: postgresql://USER@HOST[:PORT]/DBNAME (password from PGPASSWORD or "
    "~/.pgpass); default: SQLite under --data. Env: SYNCD_DB."
)


def _remember_db(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    ctx.meta[_DB_URL_KEY] = value or None


def store_options(func: F) -> F:
    """`--data` (passed as `data_dir`) and `--db` / SYNCD_DB (kept for `open_store`)."""
    func = click.option(
        "--db",
        envvar="SYNCD_DB",
        default=None,
        metavar="URL",
        expose_value=False,
        callback=_remember_db,
        help=DB_HELP,
    )(func)
    return click.option(
        "--data",
        "data_dir",
        required=True,
        type=click.Path(file_okay=False, path_type=Path),
        help="Server data directory (same as `syncd serve --data`).",
    )(func)


def open_store(data_dir: Path) -> Db:
    """The store the running command's `--data` / `--db` name."""
    ctx = click.get_current_context(silent=True)
    db_url = ctx.find_root().meta.get(_DB_URL_KEY) if ctx is not None else None
    return open_db(data_dir, db_url)
