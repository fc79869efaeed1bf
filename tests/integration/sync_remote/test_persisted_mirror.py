"""The remote mirror persisted in the state DB, against the real server: a restart resumes from
the stored cursor (a delta, not the whole library) and ends with the same view as a fresh full
read; a compaction while stopped still re-reads everything."""

from __future__ import annotations

import asyncio
from pathlib import Path

from syncd.sync.client import ApiClient
from syncd.sync.engine import Engine, EngineOptions
from syncd.sync.remote import RemoteMirror, pull_changes
from syncd.sync.statedb import StateDB
from syncd.sync.status import StatusBoard
from tests.support.server import Api, ServerProcess


async def _start(url: str, token: str, db_path: Path, root: Path) -> tuple[int, bool, RemoteMirror]:
    """One daemon start: restore the copy, pull; returns (changes applied, full read?, view)."""
    async with ApiClient(url, token) as client:
        engine = Engine(EngineOptions(root=root), client, StateDB.open(db_path), StatusBoard())
        try:
            engine.restore_mirror()
            delta = await engine.pull()
            return delta.applied, delta.snapshot, engine.mirror
        finally:
            engine.db.close()


async def _fresh(url: str, token: str) -> RemoteMirror:
    async with ApiClient(url, token) as client:
        mirror = RemoteMirror()
        await pull_changes(client, mirror)
        return mirror


def _view(mirror: RemoteMirror) -> dict[str, tuple[str, int]]:
    return {str(p): (f.sha256, f.rev) for p, f in mirror.tree().files.items()}


def test_restart_resumes_from_the_persisted_cursor(server: ServerProcess, tmp_path: Path) -> None:
    token = server.add_user("alice")
    api = Api(server.url, token)
    folders = [api.create_folder(f"F{f}")["id"] for f in range(3)]
    ids = [api.upload(folders[i % 3], f"{i:03}.txt", b"%d" % i)["id"] for i in range(60)]
    db_path, root = tmp_path / "state.db", tmp_path / "root"

    applied, full, first = asyncio.run(_start(server.url, token, db_path, root))
    assert full and len(first.files) == 60

    api.upload(folders[0], "new.txt", b"new")
    api.delete_file(ids[0])
    api.delete_folder(folders[2])  # 20 files go with it
    api.json("PATCH", f"/v1/files/{ids[1]}", {"name": "renamed.txt"})
    applied, full, resumed = asyncio.run(_start(server.url, token, db_path, root))
    assert not full and applied < 30, "a delta from the stored cursor, not the whole library"
    fresh = asyncio.run(_fresh(server.url, token))
    assert _view(resumed) == _view(fresh) and len(fresh.files) == 40

    api.delete_file(ids[3])
    api.compact(keep=0)  # the stored cursor is now below the floor
    applied, full, reread = asyncio.run(_start(server.url, token, db_path, root))
    assert full and _view(reread) == _view(asyncio.run(_fresh(server.url, token)))
