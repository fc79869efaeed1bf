"""Per-folder and per-user counters kept by triggers (schema v4) stay exact through every
path that changes files: upload, replace with another size or kind, move between folders,
delete, folder delete, trash restore; and the v4 migration computes them for an existing
library. Checked against a recount of the `files` table after each step."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from syncd.server.db import MIGRATIONS
from syncd.server.meta.sqlite import SqliteDb as Db
from tests.integration.server.conftest import Client, Srv


def _recount(srv: Srv, user_id: str) -> tuple[dict[str, tuple[int, int]], dict[str, int], int]:
    db = srv.state.db
    folders = {
        r["id"]: (int(r["n"]), int(r["b"]))
        for r in db.all(
            "SELECT folders.id, COUNT(files.id) AS n, COALESCE(SUM(files.size), 0) AS b"
            " FROM folders LEFT JOIN files ON files.folder_id = folders.id"
            " WHERE folders.user_id=? GROUP BY folders.id",
            user_id,
        )
    }
    kinds = {
        r["kind"]: int(r["b"])
        for r in db.all(
            "SELECT kind, SUM(size) AS b FROM files WHERE user_id=? GROUP BY kind", user_id
        )
    }
    files = db.one("SELECT COUNT(*) AS n FROM files WHERE user_id=?", user_id)
    assert files is not None
    return folders, kinds, int(files["n"])


async def _check(srv: Srv, client: Client, step: str) -> None:
    account = (await client.call("GET", "/v1/account")).json
    folders, kinds, files = _recount(srv, account["user"]["id"])
    shown = {f["id"]: (f["file_count"], f["bytes"]) for f in (await _folders(client))}
    assert shown == folders, step
    assert {k: v for k, v in account["by_kind"].items() if v} == {
        k: v for k, v in kinds.items() if v
    }, step
    assert account["counts"]["files"] == files, step
    page = (await client.changes(0)).json
    in_feed = {
        c["id"]: (c["object"]["file_count"], c["object"]["bytes"])
        for c in page["changes"]
        if c["type"] == "folder"
    }
    assert in_feed == folders, step


async def _folders(client: Client) -> list[dict[str, Any]]:
    return list((await client.call("GET", "/v1/folders")).json["folders"])


async def test_counters_follow_every_file_change(srv: Srv) -> None:
    alice = srv.user("alice")
    one, two = await alice.folder("One"), await alice.folder("Two")
    photo = await alice.upload(one, "a.jpg", b"x" * 100)
    await alice.upload(one, "b.pdf", b"y" * 50)
    await _check(srv, alice, "uploads")
    await alice.upload(one, "a.jpg", b"x" * 300)  # replaced, bigger
    await _check(srv, alice, "replace")
    await alice.call("PATCH", f"/v1/files/{photo['id']}", json={"folder_id": two})
    await _check(srv, alice, "move")
    await alice.call("PATCH", f"/v1/files/{photo['id']}", json={"name": "a.mp4"})
    await _check(srv, alice, "rename to another kind")
    await alice.call("DELETE", f"/v1/files/{photo['id']}")
    await _check(srv, alice, "delete")
    trashed = (await alice.call("GET", "/v1/trash")).json["items"][0]
    await alice.call("POST", f"/v1/trash/{trashed['id']}/restore")
    await _check(srv, alice, "restore")
    await alice.call("DELETE", f"/v1/folders/{one}")
    await _check(srv, alice, "folder delete")
    bob = srv.user("bob")
    await bob.upload(await bob.folder("Bob"), "c.jpg", b"z" * 7)
    await _check(srv, alice, "another user's upload changes nothing of alice's")


def test_v4_migration_counts_an_existing_library(tmp_path: Path) -> None:
    path = tmp_path / "library.db"
    conn = sqlite3.connect(path, isolation_level=None)
    for target, script in enumerate(MIGRATIONS[:3], start=1):
        conn.executescript(f"BEGIN;\n{script}\nPRAGMA user_version={target};\nCOMMIT;")
    conn.execute(
        "INSERT INTO users (id, name, name_key, token_hash, library_id, limit_bytes,"
        " max_file_bytes, created_ns) VALUES ('u1', 'a', 'a', 'h', 'lib', 100, 100, 0)"
    )
    conn.execute(
        "INSERT INTO folders (id, user_id, name, name_key, kind, rev, seq, created_ns)"
        " VALUES ('f1', 'u1', 'F', 'f', 'custom', 1, 1, 0)"
    )
    for i, (size, kind) in enumerate([(10, "image"), (20, "image"), (5, "audio")]):
        conn.execute(
            "INSERT INTO files (id, user_id, folder_id, name, name_key, size, sha256, mime,"
            " kind, source, created_ns, mtime_ns, rev, seq)"
            " VALUES (?, 'u1', 'f1', ?, ?, ?, 'x', 'm', ?, 'upload', 0, 0, 1, ?)",
            (f"fi{i}", f"n{i}", f"n{i}", size, kind, i + 2),
        )
    conn.close()
    db = Db(path)
    folder = db.one("SELECT file_count, bytes FROM folders WHERE id='f1'")
    assert folder is not None and (folder["file_count"], folder["bytes"]) == (3, 35)
    stats = {r["kind"]: (r["files"], r["bytes"]) for r in db.all("SELECT * FROM user_kind_stats")}
    assert stats == {"image": (2, 30), "audio": (1, 5)}
    db.close()
