"""Fixtures for the server's integration tests: an in-process server (the real app factory
on 127.0.0.1 via aiohttp's TestServer) with an async client, and the real subprocess."""

from __future__ import annotations

import json as jsonlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from yarl import URL

from syncd.server.app import open_app
from syncd.server.http import STATE_KEY
from syncd.server.state import ServerState
from syncd.server.users import create_user
from tests.support.server import ServerProcess, start_server

MiB = 1 << 20


@dataclass
class Reply:
    status: int
    headers: Any
    body: bytes

    @property
    def json(self) -> Any:
        return jsonlib.loads(self.body)

    @property
    def code(self) -> str | None:
        return self.json["error"]["code"] if self.status >= 400 else None


class Client:
    """One user's view of the in-process server."""

    def __init__(self, srv: Srv, token: str) -> None:
        self.srv, self.token = srv, token

    async def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        data: Any = None,
        headers: dict[str, str] | None = None,
        auth: bool = True,
    ) -> Reply:
        hdrs = {"Authorization": f"Bearer {self.token}"} if auth else {}
        hdrs.update(headers or {})
        url = URL(self.srv.url + path, encoded=True)  # hostile paths go out exactly as written
        async with self.srv.session.request(
            method, url, json=json, data=data, headers=hdrs
        ) as resp:
            return Reply(resp.status, resp.headers, await resp.read())

    async def folder(self, name: str = "Campaign") -> str:
        reply = await self.call("POST", "/v1/folders", json={"name": name})
        assert reply.status == 201, reply.body
        return str(reply.json["id"])

    async def put(
        self, folder_id: str, name: str, data: bytes, headers: dict[str, str] | None = None
    ) -> Reply:
        return await self.call(
            "PUT",
            f"/v1/folders/{folder_id}/files/{quote(name, safe='')}",
            data=data,
            headers=headers,
        )

    async def upload(self, folder_id: str, name: str, data: bytes) -> dict[str, Any]:
        reply = await self.put(folder_id, name, data)
        assert reply.status in (200, 201), reply.body
        return dict(reply.json)

    async def changes(self, cursor: int = 0, **params: int) -> Reply:
        query = "&".join(f"{k}={v}" for k, v in {"cursor": cursor, **params}.items())
        return await self.call("GET", f"/v1/changes?{query}")


@dataclass
class Srv:
    url: str
    state: ServerState
    session: aiohttp.ClientSession
    data_dir: Path

    def user(
        self, name: str, quota_bytes: int = 100 * MiB, max_file_bytes: int = 50 * MiB
    ) -> Client:
        _, token = create_user(self.state.db, name, quota_bytes, max_file_bytes)
        return Client(self, token)


async def _serve(data_dir: Path, test_hooks: bool) -> AsyncIterator[Srv]:
    app = open_app(data_dir, test_hooks=test_hooks)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    async with aiohttp.ClientSession() as session:
        yield Srv(str(server.make_url("")).rstrip("/"), app[STATE_KEY], session, data_dir)
    await server.close()


@pytest.fixture
async def srv(tmp_path: Path) -> AsyncIterator[Srv]:
    async for s in _serve(tmp_path / "data", test_hooks=True):
        yield s


@pytest.fixture
async def srv_plain(tmp_path: Path) -> AsyncIterator[Srv]:
    """Without --test-hooks."""
    async for s in _serve(tmp_path / "data", test_hooks=False):
        yield s


@pytest.fixture
def server_process(tmp_path: Path) -> Iterator[ServerProcess]:
    with start_server(tmp_path / "srv") as server:
        yield server
