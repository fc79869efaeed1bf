"""The metadata seam: `open_db` gives the embedded SQLite store under --data, or PostgreSQL for
`--db postgresql://...` (psycopg imported only then); both behind `Db` (base.py)."""

from __future__ import annotations

from pathlib import Path

from syncd.errors import ConfigError
from syncd.server.meta.base import Conn, Cursor, Db, DbReach, Row
from syncd.server.meta.settings import SETTING, parse_db_url
from syncd.server.meta.sqlite import SqliteDb

__all__ = ["Conn", "Cursor", "Db", "DbReach", "Row", "open_db"]


def open_db(data_dir: Path, db_url: str | None = None) -> Db:
    """SQLite at `<data>/library.db` without a URL; else the PostgreSQL database it names
    (a bad URL, a missing driver or an unreachable database: ConfigError, exit 78)."""
    if not db_url:
        data_dir.mkdir(parents=True, exist_ok=True)
        return SqliteDb(data_dir / "library.db")
    settings = parse_db_url(db_url)
    try:
        from syncd.server.meta.postgres import PostgresDb
    except ImportError:
        raise ConfigError(
            f"{SETTING}: PostgreSQL needs the psycopg driver: pip install 'syncd[pg]'"
        ) from None
    return PostgresDb(settings)
