"""The PostgreSQL metadata store in its own right (the shared behaviour runs on both backends in
the other modules): `syncd serve` and `syncd admin` on one database through --db / SYNCD_DB,
exit 78 naming the setting for a bad URL or an unreachable database, health reporting the
database, a busy or lost database answered 503, not 500, and instances starting together on a
new database migrating it once."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import psycopg

from syncd.server.meta.base import WRITE_LOCK
from syncd.server.meta.pg_schema import PG_MIGRATIONS
from tests.integration.server.conftest import Srv
from tests.support.postgres import PostgresServer
from tests.support.server import REPO, Api, start_server

METADATA = ("postgresql",)


def _syncd(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "syncd", *args],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_admin_and_two_data_dirs_share_one_database(
    tmp_path: Path, postgres: PostgresServer
) -> None:
    """A user made by `syncd admin --db` is known to a server on another --data with the same
    --db; SYNCD_DB works like --db."""
    url = postgres.fresh_database()
    added = _syncd("admin", "add-user", "alice", "--quota", "5MiB", "--data", str(tmp_path / "a"),
                   "--db", url)  # fmt: skip
    assert added.returncode == 0, added.stderr
    token = added.stdout.strip().splitlines()[-1]
    listed = _syncd("admin", "list-users", "--data", str(tmp_path / "b"),
                    env={**os.environ, "SYNCD_DB": url})  # fmt: skip
    assert listed.returncode == 0 and "alice" in listed.stdout, listed.stderr
    with start_server(tmp_path / "srv", db_url=url) as server:
        api = Api(server.url, token)
        folder = api.create_folder("Campaign")
        api.upload(folder["id"], "a.jpg", b"photo")
        assert [f["name"] for f in api.files(folder["id"])] == ["a.jpg"]
        assert not (tmp_path / "srv" / "library.db").exists()  # no SQLite beside it


def test_bad_url_exits_78_naming_the_setting(tmp_path: Path) -> None:
    for command in (["serve", "--port", "0"], ["admin", "list-users"]):
        done = _syncd(*command, "--data", str(tmp_path / "d"), "--db", "mysql://u:pw@h/d")
        assert done.returncode == 78, done.stderr
        assert "--db (SYNCD_DB)" in done.stderr and "pw" not in done.stderr


def test_unreachable_database_exits_78_naming_the_setting(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a loopback port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"postgresql://syncd:secret@127.0.0.1:{port}/media"
    for command in (["serve", "--port", "0"], ["admin", "add-user", "x", "--quota", "1MiB"]):
        done = _syncd(*command, "--data", str(tmp_path / "d"), "--db", url)
        assert done.returncode == 78, done.stderr
        assert "--db (SYNCD_DB): cannot reach" in done.stderr and "secret" not in done.stderr


async def test_health_reports_the_database_and_a_lost_one_is_503(srv: Srv) -> None:
    alice = srv.user("alice")
    reply = await alice.call("GET", "/v1/health", auth=False)
    assert reply.status == 200
    assert reply.json["db"] == {"backend": "postgresql", "reachable": True}
    assert srv.db_url is not None
    dbname = srv.db_url.rsplit("/", 1)[1]
    admin_url = srv.db_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE {dbname} WITH (FORCE)")  # type: ignore[arg-type]
    reply = await alice.call("GET", "/v1/health", auth=False)
    assert reply.status == 503 and reply.json["db"]["reachable"] is False
    reply = await alice.call("GET", "/v1/folders")
    assert (reply.status, reply.code) == (503, "unavailable")
    assert reply.headers["Retry-After"] == "2"


async def test_a_held_write_lock_times_out_as_503_and_nothing_is_written(srv: Srv) -> None:
    """Another writer holding the write lock past lock_timeout: the request answers 503
    (retryable) instead of hanging or failing with 500; once free, writes go through."""
    alice = srv.user("alice")
    assert srv.db_url is not None
    # The server's own session gets a short lock_timeout (10 s in production) for the test.
    srv.state.db.one("SELECT set_config('lock_timeout', '300ms', false)")
    with psycopg.connect(srv.db_url) as holder:
        holder.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
        reply = await alice.call("POST", "/v1/folders", json={"name": "Campaign"})
        assert (reply.status, reply.code) == (503, "unavailable")
    assert (await alice.call("GET", "/v1/folders")).json["folders"] == []
    assert (await alice.call("POST", "/v1/folders", json={"name": "Campaign"})).status == 201


def test_instances_starting_together_migrate_a_new_database_once(
    postgres: PostgresServer,
) -> None:
    url = postgres.empty_database()
    code = (
        "import sys; from pathlib import Path; from syncd.server.meta import open_db; "
        "open_db(Path('.'), sys.argv[1]).close()"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code, url], cwd=REPO, stderr=subprocess.PIPE)
        for _ in range(4)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err.decode()
    with psycopg.connect(url) as conn:
        versions = conn.execute("SELECT version FROM schema_version").fetchall()
    assert versions == [(len(PG_MIGRATIONS),)]


def test_a_user_without_rights_to_create_the_schema_exits_78(
    tmp_path: Path, postgres: PostgresServer
) -> None:
    """PostgreSQL 15 gives PUBLIC no CREATE on schema public: the first start of a user that
    does not own the database cannot migrate it, and says so in one line."""
    url = postgres.empty_database()
    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute("DROP ROLE IF EXISTS norights")
        conn.execute("CREATE ROLE norights LOGIN")
    done = _syncd("admin", "list-users", "--data", str(tmp_path / "d"),
                  "--db", url.replace("postgres@", "norights@"))  # fmt: skip
    assert done.returncode == 78, done.stderr
    assert "--db (SYNCD_DB): cannot migrate the schema" in done.stderr
