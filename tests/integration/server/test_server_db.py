"""Database set-up: migrations run once even when several processes open a new data dir."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from syncd.server.db import MIGRATIONS
from syncd.server.meta.sqlite import SqliteDb as Db
from tests.support.server import REPO


def test_concurrent_first_opens_migrate_once(tmp_path: Path) -> None:
    code = (
        "import sys; from pathlib import Path; from syncd.server.meta.sqlite import SqliteDb; "
        "SqliteDb(Path(sys.argv[1]) / 'library.db').close()"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(tmp_path)], cwd=REPO, stderr=subprocess.PIPE
        )
        for _ in range(4)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err.decode()
    db = Db(tmp_path / "library.db")
    assert db.one("PRAGMA user_version")[0] == len(MIGRATIONS)
    assert db.one("PRAGMA journal_mode")[0] == "wal"
    db.close()
