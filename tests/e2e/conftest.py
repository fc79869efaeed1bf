"""Fixtures for end-to-end tests: a real server subprocess, a user with a token, and real
daemon subprocesses on real temp directories (inotify and SQLite included)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.daemon import DaemonProcess
from tests.support.server import Api, ServerProcess


@pytest.fixture
def token(server: ServerProcess) -> str:
    return server.add_user("alice", quota="2GiB")


@pytest.fixture
def api(server: ServerProcess, token: str) -> Api:
    return Api(server.url, token)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "MediaLibrary"


@pytest.fixture
def make_daemon(
    tmp_path: Path, server: ServerProcess, token: str, root: Path
) -> Iterator[Callable[..., DaemonProcess]]:
    made: list[DaemonProcess] = []

    def make(url: str | None = None, **kwargs: Any) -> DaemonProcess:
        daemon = DaemonProcess(tmp_path / "home", url or server.url, token, root, **kwargs)
        made.append(daemon)
        return daemon

    yield make
    for daemon in made:
        daemon.kill()
