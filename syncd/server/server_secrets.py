"""Named values a library keeps once for all its instances (`server_secrets`: the share-link
key, the feed epoch, the migration id): created by whoever asks first, the same for all."""

from __future__ import annotations

from collections.abc import Callable

from syncd.server.meta import Db


def server_secret(db: Db, name: str, make: Callable[[], str]) -> str:
    """The value of `name`, made with `make()` if there is none yet (two processes asking at
    once agree: the first insert wins, the other reads it)."""
    row = db.one("SELECT value FROM server_secrets WHERE name=?", name)
    if row is None:
        with db.tx() as conn:
            conn.execute(
                "INSERT INTO server_secrets (name, value) VALUES (?, ?) ON CONFLICT DO NOTHING",
                (name, make()),
            )
        row = db.one("SELECT value FROM server_secrets WHERE name=?", name)
    assert row is not None
    return str(row["value"])
