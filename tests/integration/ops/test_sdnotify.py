"""sd_notify messages arrive on a real AF_UNIX datagram socket given as NOTIFY_SOCKET."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from syncd.sync import sdnotify
from syncd.sync.sdnotify import Watchdog

from .conftest import OpsEnv


@pytest.fixture
def receiver(ops_env: OpsEnv, monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    path = ops_env.runtime_dir / "notify"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(5)
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    yield sock
    sock.close()


def _recv(sock: socket.socket) -> str:
    return sock.recv(4096).decode()


def test_lifecycle_messages(receiver: socket.socket) -> None:
    assert sdnotify.ready("watching 3 folders")
    assert _recv(receiver) == "READY=1\nSTATUS=watching 3 folders"
    assert sdnotify.status("syncing:\n 2 uploads")
    assert _recv(receiver) == "STATUS=syncing: 2 uploads"  # one line
    assert sdnotify.watchdog()
    assert _recv(receiver) == "WATCHDOG=1"
    assert sdnotify.stopping()
    assert _recv(receiver) == "STOPPING=1"


def test_abstract_socket_address(monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"syncd-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(b"\0" + name.encode())
        sock.settimeout(5)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert sdnotify.ready()
        assert _recv(sock) == "READY=1"


async def test_watchdog_task_pings(
    receiver: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    monkeypatch.setenv("WATCHDOG_USEC", "100000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    dog = Watchdog.from_env()
    assert dog.interval_s == 0.05
    task = asyncio.create_task(dog.run())
    try:
        for _ in range(2):
            assert await asyncio.to_thread(_recv, receiver) == "WATCHDOG=1"
    finally:
        task.cancel()


def test_without_systemd_nothing_is_sent(ops_env: OpsEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert not sdnotify.ready()
    monkeypatch.setenv("NOTIFY_SOCKET", str(Path(ops_env.runtime_dir) / "nobody-listens"))
    assert not sdnotify.watchdog()  # failure is reported, never raised
    assert not Watchdog.from_env().enabled
