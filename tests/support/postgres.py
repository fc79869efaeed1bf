"""A real PostgreSQL server for tests: Debian's `postgresql` binaries (initdb, pg_ctl) run as
the `postgres` user (PostgreSQL refuses root) on a free loopback port with trust auth, one
template database; each test gets a fresh database copied from it, stopped at the end.

Usage (see tests/integration/server/conftest.py for the session fixture):
    with PostgresServer(tmp_dir) as pg:
        url = pg.fresh_database()   # postgresql://postgres@127.0.0.1:PORT/t_<hex>
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path

START_TIMEOUT_S = 30.0
SUPERUSER = "postgres"
TEMPLATE = "syncd_template"


def bin_dir() -> Path | None:
    """Where initdb and pg_ctl live: `pg_config --bindir`, else the newest
    /usr/lib/postgresql/*/bin (Debian keeps them off PATH)."""
    candidates: list[str] = []
    if shutil.which("pg_config"):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=False)
        candidates.append(out.stdout.strip())
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)
    for folder in [*candidates, *versions]:
        if folder and (Path(folder) / "initdb").exists():
            return Path(folder)
    return None


def _version_key(path: str) -> float:
    try:
        return float(Path(path).parent.name)
    except ValueError:
        return 0.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostgresServer:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = 0
        self.bin: Path | None = None
        self.started = False

    def url(self, dbname: str) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{dbname}"

    def _as_postgres(self, *argv: str) -> subprocess.CompletedProcess[str]:
        cmd = list(argv)
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", SUPERUSER, "--", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=120)

    def start(self) -> PostgresServer:
        self.bin = bin_dir()
        if self.bin is None:
            raise RuntimeError("no PostgreSQL binaries: apt-get install postgresql")
        data = self.folder / "pgdata"
        self.folder.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:  # the postgres user must own its folders (and reach them)
            entry = pwd.getpwnam(SUPERUSER)
            os.chmod(self.folder, 0o755)
            for parent in self.folder.parents:
                if parent == Path("/") or parent.stat().st_mode & 0o001:
                    break
                os.chmod(parent, parent.stat().st_mode | 0o001)
            os.chown(self.folder, entry.pw_uid, entry.pw_gid)
        self._run_checked(
            str(self.bin / "initdb"), "-D", str(data), "-U", SUPERUSER, "--auth=trust",
            "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync",
        )  # fmt: skip
        self.port = _free_port()
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories=''"
            " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            " -c max_connections=200 -c shared_buffers=32MB"
        )
        self._run_checked(
            str(self.bin / "pg_ctl"), "-D", str(data), "-l", str(self.folder / "pg.log"),
            "-o", options, "-w", "-t", str(int(START_TIMEOUT_S)), "start",
        )  # fmt: skip
        self.started = True
        self._wait_ready()
        self._sql("postgres", f"CREATE DATABASE {TEMPLATE}")
        return self

    def _run_checked(self, *argv: str) -> None:
        result = self._as_postgres(*argv)
        if result.returncode != 0:
            raise RuntimeError(f"{Path(argv[0]).name} failed: {result.stderr}{self.log()}")

    def _wait_ready(self) -> None:
        import psycopg

        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                psycopg.connect(self.url("postgres"), connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def _sql(self, dbname: str, sql: str) -> None:
        import psycopg

        with psycopg.connect(self.url(dbname), autocommit=True) as conn:
            conn.execute(sql)  # type: ignore[arg-type]

    def fresh_database(self) -> str:
        """A new empty database (a copy of the template: fast), its URL."""
        name = f"t_{uuid.uuid4().hex[:12]}"
        self._sql("postgres", f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
        return self.url(name)

    def empty_database(self) -> str:
        """A new database with no schema at all (to test migrations), its URL."""
        name = f"e_{uuid.uuid4().hex[:12]}"
        self._sql("postgres", f"CREATE DATABASE {name} TEMPLATE template0")
        return self.url(name)

    def log(self) -> str:
        path = self.folder / "pg.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def stop(self) -> None:
        if self.started and self.bin is not None:
            data = self.folder / "pgdata"
            self._as_postgres(str(self.bin / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop")
            self.started = False

    def __enter__(self) -> PostgresServer:
        try:
            return self.start()
        except BaseException:  # __exit__ never runs when __enter__ raises: stop it here
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()
