"""The executor re-checks the local side just before it destroys on the server, against the
real server: a file the scan saw gone but that is back (an editor's save-by-rename, a move
back) is not deleted on the server; the action is deferred to the next pass."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from syncd.errors import StaleError
from syncd.sync.client import ApiClient
from syncd.sync.executor import Executor
from syncd.sync.model import BaseFile, BaseFolder, DeleteRemote, DeleteRemoteFolder, RelPath
from syncd.sync.remote import RemoteMirror
from syncd.sync.statedb import StateDB
from syncd.sync.status import StatusBoard
from tests.support.server import Api, ServerProcess


@pytest.mark.parametrize("back", [True, False])
def test_delete_remote_rechecks_that_the_file_is_still_gone(
    server: ServerProcess, tmp_path: Path, back: bool
) -> None:
    token = server.add_user("alice")
    api = Api(server.url, token)
    folder = api.create_folder("Alice")
    file = api.upload(folder["id"], "report.pdf", b"v1")
    root = tmp_path / "root"
    (root / "Alice").mkdir(parents=True)
    if back:
        (root / "Alice" / "report.pdf").write_bytes(b"v2 saved by the editor")
    path = RelPath("Alice", "report.pdf")
    base = BaseFile(path, file["id"], folder["id"], file["rev"], file["sha256"], 2, 1, 1)
    db = StateDB.open(tmp_path / "state.db")

    async def run() -> None:
        async with ApiClient(server.url, token) as client:
            executor = Executor(root, client, db, RemoteMirror(), StatusBoard())
            await executor.run(DeleteRemote(base))

    try:
        if back:
            with pytest.raises(StaleError, match="is back"):
                asyncio.run(run())
        else:
            asyncio.run(run())
    finally:
        db.close()
    names = [f["name"] for f in api.files(folder["id"])]
    assert names == (["report.pdf"] if back else [])


def test_delete_remote_folder_rechecks_that_the_folder_is_still_gone(
    server: ServerProcess, tmp_path: Path
) -> None:
    """A folder moved away and back (or re-created) before its delete is sent stays."""
    token = server.add_user("alice")
    api = Api(server.url, token)
    folder = api.create_folder("Alice")
    api.upload(folder["id"], "a.jpg", b"a")
    root = tmp_path / "root"
    (root / "Alice").mkdir(parents=True)
    db = StateDB.open(tmp_path / "state.db")

    async def run() -> None:
        async with ApiClient(server.url, token) as client:
            executor = Executor(root, client, db, RemoteMirror(), StatusBoard())
            await executor.run(DeleteRemoteFolder(BaseFolder("Alice", folder["id"], 1)))

    try:
        with pytest.raises(StaleError, match="is back"):
            asyncio.run(run())
    finally:
        db.close()
    assert [f["name"] for f in api.folders()] == ["Alice"]
