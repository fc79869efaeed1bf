"""Fixtures for the server's integration tests: an in-process server (the real app factory
on 127.0.0.1 via aiohttp's TestServer) with an async client, and the real subprocess.
A module that sets `BACKENDS = ("local", "s3")` runs each of its `srv` tests against both
blob stores (the S3 one is the session's SeaweedFS, under a prefix of the test's own), and
every `srv` test runs against both metadata stores (SQLite, the session's PostgreSQL: see
tests/conftest.py; a module narrows it with `METADATA = ("sqlite",)`)."""

from __future__ import annotations

import contextlib
import json as jsonlib
import os
import uuid
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
from tests.support.s3 import SeaweedS3, stored_digests
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
    blobs_url: str | None = None
    db_url: str | None = None

    def stored(self) -> list[str]:
        """The sha256s the blob store holds, looked at directly (folder or bucket)."""
        if self.blobs_url is None:
            return sorted(p.name for p in (self.data_dir / "blobs").glob("??/??/*"))
        return stored_digests(self.blobs_url, dict(os.environ))

    def user(
        self, name: str, quota_bytes: int = 100 * MiB, max_file_bytes: int = 50 * MiB
    ) -> Client:
        _, token = create_user(self.state.db, name, quota_bytes, max_file_bytes)
        return Client(self, token)


async def _serve(
    data_dir: Path,
    test_hooks: bool,
    blobs_url: str | None = None,
    db_url: str | None = None,
    **options: Any,
) -> AsyncIterator[Srv]:
    app = open_app(data_dir, test_hooks=test_hooks, blobs_url=blobs_url, db_url=db_url, **options)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    async with aiohttp.ClientSession() as session:
        url = str(server.make_url("")).rstrip("/")
        yield Srv(url, app[STATE_KEY], session, data_dir, blobs_url, db_url)
    await server.close()


running = contextlib.asynccontextmanager(_serve)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    backends = getattr(metafunc.module, "BACKENDS", None)
    if backends is not None and "backend" in metafunc.fixturenames:
        metafunc.parametrize("backend", backends, indirect=True)


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """ "local" (the folder under --data) or "s3"; see BACKENDS above."""
    return str(getattr(request, "param", "local"))


@pytest.fixture
def blobs_url(
    backend: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> str | None:
    """None for the local folder; else an s3:// URL with a prefix of this test's own, and
    the AWS_* credentials set in the environment (where the server reads them)."""
    if backend == "local":
        return None
    s3: SeaweedS3 = request.getfixturevalue("seaweed")
    for key, value in s3.env().items():
        monkeypatch.setenv(key, value)
    return s3.blobs_url(f"t-{uuid.uuid4().hex[:12]}")


@pytest.fixture
async def srv(tmp_path: Path, blobs_url: str | None, db_url: str | None) -> AsyncIterator[Srv]:
    async for s in _serve(tmp_path / "data", True, blobs_url, db_url):
        yield s


@pytest.fixture
async def srv_plain(tmp_path: Path, db_url: str | None) -> AsyncIterator[Srv]:
    """Without --test-hooks."""
    async for s in _serve(tmp_path / "data", test_hooks=False, db_url=db_url):
        yield s


@pytest.fixture
def server_process(tmp_path: Path) -> Iterator[ServerProcess]:
    with start_server(tmp_path / "srv") as server:
        yield server
