"""Fixtures for ingest tests: the real app (open_app) on 127.0.0.1 with short retry delays,
restartable on the same data dir; a WAHA-compatible gateway (SampleGateway); helpers to
create hooks, read folders/files/events and poll with a bounded deadline."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from syncd.server.app import open_app
from syncd.server.http import STATE_KEY
from syncd.server.ingest import hooks
from syncd.server.ingest.sample_gateway import SampleGateway
from syncd.server.state import ServerState
from syncd.server.users import create_user

MiB = 1 << 20
HMAC_KEY = "test-hmac-key"


@pytest.fixture(autouse=True)
def _fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNCD_INGEST_RETRY_DELAYS_S", "0.05,0.1,0.1")
    monkeypatch.setenv("SYNCD_INGEST_READ_TIMEOUT_S", "0.5")
    monkeypatch.setenv("SYNCD_INGEST_CONNECT_TIMEOUT_S", "2")


async def wait_for(check: Callable[[], Awaitable[Any]], timeout_s: float = 10.0) -> Any:
    """Poll `check` until it returns something truthy; fail after the deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s} s (last: {value!r})")
        await asyncio.sleep(0.02)


@dataclass
class Lib:
    """The running server plus one user (token) and the HTTP session."""

    url: str
    state: ServerState
    session: aiohttp.ClientSession
    data_dir: Path
    token: str = ""
    user_name: str = "alice"
    extra: dict[str, Any] = field(default_factory=dict)

    async def call(
        self, method: str, path: str, *, token: str | None = None, **kw: Any
    ) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token or self.token}"}
        async with self.session.request(method, self.url + path, headers=headers, **kw) as r:
            body = await r.read()
            try:
                import json

                return r.status, json.loads(body)
            except ValueError:
                return r.status, body

    async def folders(self) -> dict[str, dict[str, Any]]:
        status, body = await self.call("GET", "/v1/folders")
        assert status == 200, body
        return {f["name"]: f for f in body["folders"]}

    async def files(self, folder_name: str) -> dict[str, dict[str, Any]]:
        folder = (await self.folders())[folder_name]
        status, body = await self.call("GET", f"/v1/folders/{folder['id']}/files")
        assert status == 200, body
        return {f["name"]: f for f in body["files"]}

    async def content(self, file_id: str) -> bytes:
        status, body = await self.call("GET", f"/v1/files/{file_id}/content")
        assert status == 200
        return bytes(body) if isinstance(body, bytes | bytearray) else body

    async def events(self) -> list[dict[str, Any]]:
        status, body = await self.call("GET", "/v1/ingest/events")
        assert status == 200, body
        return list(body["events"])

    async def outcome(self, message_id: str, outcome: str) -> dict[str, Any] | None:
        """The event with that outcome for a message id (or a WAHA id containing it)."""
        for event in await self.events():
            parts = (event["message_id"] or "").split("_")
            if event["outcome"] == outcome and message_id in parts:
                return event
        return None

    def file_count(self) -> int:
        row = self.state.db.one("SELECT COUNT(*) AS n FROM files")
        return int(row["n"]) if row else 0

    def job_count(self) -> int:
        row = self.state.db.one("SELECT COUNT(*) AS n FROM ingest_jobs")
        return int(row["n"]) if row else 0


@asynccontextmanager
async def running(data_dir: Path, token: str = "", db_url: str | None = None) -> AsyncIterator[Lib]:
    app = open_app(data_dir, db_url=db_url)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as session:
            yield Lib(
                str(server.make_url("")).rstrip("/"), app[STATE_KEY], session, data_dir, token
            )
    finally:
        await server.close()


@pytest.fixture
async def lib(tmp_path: Path, db_url: str | None) -> AsyncIterator[Lib]:
    """On each metadata backend (SQLite, PostgreSQL)."""
    async with running(tmp_path / "data", db_url=db_url) as server:
        _, server.token = create_user(server.state.db, "alice", 100 * MiB, 50 * MiB)
        yield server


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[SampleGateway]:
    media = tmp_path / "media"
    media.mkdir()
    gw = SampleGateway(media)
    await gw.start()
    yield gw
    await gw.stop()


def waha_hook(lib: Lib, gw: SampleGateway, gateway_path: str = "", **caps: int) -> str:
    """A WAHA hook for alice; returns the absolute webhook URL."""
    config = hooks.HookConfig(
        gateway_url=gw.url + gateway_path, api_key=gw.api_key, hmac_key=HMAC_KEY
    )
    config.caps_bytes.update(caps)
    hook = hooks.add_hook(lib.state.db, lib.user_name, "waha", config)
    return f"{lib.url}/hooks/{hook.id}"


def media_file(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path
