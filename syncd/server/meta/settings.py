"""Which metadata database `--db` / SYNCD_DB names, parsed and checked at start-up (a bad URL is
a ConfigError naming the setting: exit 78). Imports no driver; the password is never shown."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urlsplit

from syncd.errors import ConfigError

SETTING = "--db (SYNCD_DB)"
SCHEMES = ("postgresql", "postgres")
# libpq parameters a URL may carry (TLS and the application name); timeouts are ours.
QUERY_KEYS = frozenset({"sslmode", "sslrootcert", "sslcert", "sslkey", "application_name"})
CONNECT_TIMEOUT_S = 5
STATEMENT_TIMEOUT_MS = 30_000  # no statement of ours runs this long: a stuck one fails
LOCK_TIMEOUT_MS = 10_000  # waiting for the write lock longer means the database is stuck
IDLE_IN_TX_TIMEOUT_MS = 60_000  # a transaction left open by a dead client is ended


@dataclass(frozen=True)
class PgSettings:
    host: str
    port: int
    dbname: str
    user: str
    password: str | None = field(default=None, repr=False)
    options: dict[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        """For logs and health: never the password."""
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.dbname}"

    def conninfo(self) -> dict[str, str | int]:
        """Keyword arguments for psycopg.connect, every limit bounded."""
        server_options = (
            f"-c statement_timeout={STATEMENT_TIMEOUT_MS} -c lock_timeout={LOCK_TIMEOUT_MS}"
            f" -c idle_in_transaction_session_timeout={IDLE_IN_TX_TIMEOUT_MS}"
        )
        out: dict[str, str | int] = {
            "host": self.host,
            "port": self.port,
            "dbname": self.dbname,
            "user": self.user,
            "connect_timeout": CONNECT_TIMEOUT_S,
            "options": server_options,
            "application_name": "syncd",
            **self.options,
        }
        if self.password is not None:
            out["password"] = self.password
        return out


def parse_db_url(url: str) -> PgSettings:
    """`postgresql://USER[:PASSWORD]@HOST[:PORT]/DBNAME[?sslmode=...]`; the password may
    also come from PGPASSWORD or ~/.pgpass (libpq reads them)."""
    try:
        parts = urlsplit(url)
        port = parts.port or 5432
    except ValueError as exc:
        raise ConfigError(f"{SETTING}: not a postgresql:// URL ({exc})") from None
    if parts.scheme not in SCHEMES:
        raise ConfigError(f"{SETTING}: {_safe(url)!r} is not a postgresql://USER@HOST/DB URL")
    dbname = unquote(parts.path.lstrip("/"))
    if not parts.hostname or not parts.username or not dbname or "/" in dbname:
        raise ConfigError(f"{SETTING}: give postgresql://USER@HOST[:PORT]/DBNAME")
    query = parse_qs(parts.query, keep_blank_values=True)
    unknown = sorted(set(query) - QUERY_KEYS)
    if unknown:
        known = ", ".join(sorted(QUERY_KEYS))
        raise ConfigError(f"{SETTING}: unknown parameter {unknown[0]!r} (known: {known})")
    options: dict[str, str] = {}
    for key, values in query.items():
        if len(values) != 1 or not values[0]:
            raise ConfigError(f"{SETTING}: give {key} once, with a value")
        options[key] = values[0]
    return PgSettings(
        host=parts.hostname,
        port=port,
        dbname=dbname,
        user=unquote(parts.username),
        password=unquote(parts.password) if parts.password is not None else None,
        options=options,
    )


def _safe(url: str) -> str:
    """The URL without a password, for an error message."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return url.replace(f":{parts.password}@", ":***@", 1)
