"""Pure parts of the metadata seam: the --db URL (bad ones are a ConfigError naming the setting,
a password is never shown), `?` -> `%s` placeholder translation, and the two schema lists
kept in step (a migration added to one backend only fails here)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from syncd.errors import ConfigError
from syncd.server.db import MIGRATIONS
from syncd.server.meta.dialect import to_pyformat
from syncd.server.meta.pg_schema import PG_MIGRATIONS
from syncd.server.meta.settings import SETTING, parse_db_url


def test_both_backends_have_every_schema_version() -> None:
    # Entry i of each list is schema v(i+1): a version added to SQLite's list (db.py) needs
    # its PostgreSQL counterpart in meta/pg_schema.py, and the other way round.
    assert len(PG_MIGRATIONS) == len(MIGRATIONS)


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT * FROM t WHERE a=? AND b=?", "SELECT * FROM t WHERE a=%s AND b=%s"),
        ("SELECT 'a?b', \"c?\" FROM t WHERE x=?", "SELECT 'a?b', \"c?\" FROM t WHERE x=%s"),
        ("SELECT 'it''s?' WHERE x LIKE ?", "SELECT 'it''s?' WHERE x LIKE %s"),
        ("SELECT 100 % 7, '50%' WHERE y=?", "SELECT 100 %% 7, '50%%' WHERE y=%s"),
    ],
)
def test_placeholders_are_translated_outside_quotes(sql: str, expected: str) -> None:
    assert to_pyformat(sql) == expected


def test_unterminated_quote_is_refused() -> None:
    with pytest.raises(ValueError, match="unterminated"):
        to_pyformat("SELECT 'oops WHERE x=?")


@given(st.text(alphabet="ab ?%=", max_size=40))
def test_translation_keeps_text_and_counts_placeholders(sql: str) -> None:
    out = to_pyformat(sql)
    assert out.count("%s") == sql.count("?")
    assert out.replace("%s", "?").replace("%%", "%") == sql


def test_url_parts_and_defaults() -> None:
    s = parse_db_url("postgresql://syncd:s%40cret@db.example:6543/media?sslmode=require")
    assert (s.host, s.port, s.dbname, s.user, s.password) == (
        "db.example",
        6543,
        "media",
        "syncd",
        "s@cret",
    )
    info = s.conninfo()
    assert info["sslmode"] == "require" and info["connect_timeout"] == 5
    assert "statement_timeout" in str(info["options"]) and "lock_timeout" in str(info["options"])
    assert parse_db_url("postgres://u@h/d").port == 5432


def test_password_never_shown() -> None:
    s = parse_db_url("postgresql://syncd:hunter2@db/media")
    assert "hunter2" not in s.describe() and "hunter2" not in repr(s)
    with pytest.raises(ConfigError) as caught:
        parse_db_url("mysql://syncd:hunter2@db/media")
    assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("mysql://u@h/d", "not a postgresql"),
        ("postgresql://h/d", "USER@HOST"),
        ("postgresql://u@h/", "USER@HOST"),
        ("postgresql://u@h/d?timeout=1", "unknown parameter 'timeout'"),
        ("postgresql://u@h/d?sslmode=", "once, with a value"),
        ("postgresql://u@h:99999/d", "not a postgresql"),
    ],
)
def test_bad_url_is_a_config_error_naming_the_setting(url: str, says: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_db_url(url)
    assert SETTING in str(caught.value) and says in str(caught.value)
