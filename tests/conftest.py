"""Suite-wide options: `--long` runs the long campaigns (300 kills, 10,000 model sequences)
instead of their CI sizes; `--seed N` replays one seeded campaign/model round. Session
servers: SeaweedFS (S3) and PostgreSQL. A test that uses `db_url` runs once per metadata
backend (SQLite, PostgreSQL), or per a module's `METADATA = (...)`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from syncd.server.meta import open_db
from tests.support.postgres import TEMPLATE, PostgresServer
from tests.support.s3 import SeaweedS3
from tests.support.server import ServerProcess, start_server


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("syncd campaigns")
    group.addoption(
        "--long",
        action="store_true",
        default=False,
        help="run long campaigns (crash: 300 kills, model-based: 10,000 sequences)",
    )
    group.addoption(
        "--seed",
        action="store",
        type=int,
        default=None,
        help="replay one seeded campaign / model-based round (printed by a failure)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked `long` exist only for --long runs."""
    if config.getoption("--long"):
        return
    skip = pytest.mark.skip(reason="long campaign: run with --long")
    for item in items:
        if "long" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def long(request: pytest.FixtureRequest) -> bool:
    """True with --long: campaigns scale up to their long sizes."""
    return bool(request.config.getoption("--long"))


@pytest.fixture
def seed(request: pytest.FixtureRequest) -> int | None:
    """The --seed to replay, or None for the default seeds."""
    value = request.config.getoption("--seed")
    return None if value is None else int(value)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A real `syncd serve` subprocess with test hooks on 127.0.0.1, killed afterwards."""
    srv = start_server(tmp_path / "server")
    try:
        yield srv
    finally:
        srv.kill()


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedS3]:
    """One real S3 server (SeaweedFS on loopback) for the whole session; tests keep apart by
    using their own key prefix in its bucket."""
    with SeaweedS3(tmp_path_factory.mktemp("seaweed")) as s3:
        yield s3


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    """One real PostgreSQL (on loopback) for the whole session; its template database is
    migrated once, so each test's fresh copy starts at the current schema."""
    with PostgresServer(tmp_path_factory.mktemp("postgres")) as pg:
        open_db(Path(), pg.url(TEMPLATE)).close()
        yield pg


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "metadata" in metafunc.fixturenames:
        backends = getattr(metafunc.module, "METADATA", ("sqlite", "postgresql"))
        metafunc.parametrize("metadata", backends, indirect=True)


@pytest.fixture
def metadata(request: pytest.FixtureRequest) -> str:
    """ "sqlite" (the file under --data) or "postgresql"; see METADATA above."""
    return str(getattr(request, "param", "sqlite"))


@pytest.fixture
def db_url(metadata: str, request: pytest.FixtureRequest) -> str | None:
    """None for SQLite; else the URL of a fresh database of the session's PostgreSQL."""
    if metadata == "sqlite":
        return None
    pg: PostgresServer = request.getfixturevalue("postgres")
    return pg.fresh_database()
