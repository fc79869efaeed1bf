"""The server's undo window: deletes go to a per-user trash (not counted in quota), restore
brings a file back through the feed, expiry purges entries and unreferenced blobs."""

from __future__ import annotations

import asyncio
import hashlib
import time
from pathlib import Path
from typing import Any

from tests.integration.server.conftest import Client, Srv, running

BACKENDS = ("local", "s3")  # every srv test here runs against both blob stores


def _stored(srv: Srv, data: bytes) -> bool:
    return hashlib.sha256(data).hexdigest() in srv.stored()


async def _used(user: Client) -> int:
    return int((await user.call("GET", "/v1/account")).json["quota"]["used_bytes"])


async def _trash(user: Client) -> list[dict[str, Any]]:
    reply = await user.call("GET", "/v1/trash")
    assert reply.status == 200, reply.body
    return list(reply.json["items"])


async def _head(user: Client) -> int:
    return int((await user.changes(0)).json["cursor"])


async def test_delete_moves_to_trash_and_frees_quota(srv: Srv) -> None:
    alice = srv.user("alice")
    folder = await alice.folder("Campaign")
    data = b"photo bytes" * 100
    f = await alice.upload(folder, "a.jpg", data)
    assert await _used(alice) == len(data)
    assert (await alice.call("DELETE", f"/v1/files/{f['id']}")).status == 204
    assert await _used(alice) == 0
    items = await _trash(alice)
    assert len(items) == 1
    item = items[0]
    assert item["file_id"] == f["id"] and item["folder_id"] == folder
    assert (item["folder_name"], item["name"], item["size"]) == ("Campaign", "a.jpg", len(data))
    assert (item["sha256"], item["kind"], item["mime"]) == (f["sha256"], "image", "image/jpeg")
    assert item["expires_at"] > item["deleted_at"]
    assert _stored(srv, data), "the trash entry keeps the blob"
    assert (await alice.call("GET", f"/v1/files/{f['id']}")).status == 404


async def test_replace_is_not_a_delete(srv: Srv) -> None:
    alice = srv.user("alice")
    folder = await alice.folder()
    await alice.upload(folder, "a.jpg", b"v1")
    await alice.upload(folder, "a.jpg", b"v2")
    assert await _trash(alice) == []


async def test_restore_brings_file_back_through_the_feed(srv: Srv) -> None:
    alice = srv.user("alice")
    folder = await alice.folder()
    data = b"voice note" * 50
    f = await alice.upload(folder, "note.ogg", data)
    await alice.call("DELETE", f"/v1/files/{f['id']}")
    cursor = await _head(alice)
    (item,) = await _trash(alice)
    reply = await alice.call("POST", f"/v1/trash/{item['id']}/restore")
    assert reply.status == 201, reply.body
    restored = reply.json
    assert (restored["id"], restored["folder_id"], restored["name"]) == (
        f["id"],
        folder,
        "note.ogg",
    )
    assert restored["sha256"] == f["sha256"] and restored["rev"] > f["rev"]
    assert await _used(alice) == len(data)
    assert await _trash(alice) == []
    changes = (await alice.changes(cursor)).json["changes"]
    assert [(c["type"], c["op"], c["id"]) for c in changes] == [("file", "upsert", f["id"])]
    content = await alice.call("GET", f"/v1/files/{f['id']}/content")
    assert content.body == data


async def test_restore_into_deleted_folder_recreates_it(srv: Srv) -> None:
    alice = srv.user("alice")
    folder = await alice.folder("Old clients")
    one = await alice.upload(folder, "1.pdf", b"one")
    await alice.upload(folder, "2.pdf", b"two")
    assert (await alice.call("DELETE", f"/v1/folders/{folder}")).status == 204
    assert await _used(alice) == 0
    items = {i["name"]: i for i in await _trash(alice)}
    assert set(items) == {"1.pdf", "2.pdf"}
    first = (await alice.call("POST", f"/v1/trash/{items['1.pdf']['id']}/restore")).json
    second = (await alice.call("POST", f"/v1/trash/{items['2.pdf']['id']}/restore")).json
    assert first["id"] == one["id"]
    assert first["folder_id"] == second["folder_id"] != folder, "one re-created folder for both"
    folders = (await alice.call("GET", "/v1/folders")).json["folders"]
    assert [(f["name"], f["kind"], f["file_count"]) for f in folders] == [
        ("Old clients", "custom", 2)
    ]


async def test_restore_when_name_taken(srv: Srv) -> None:
    alice = srv.user("alice")
    folder = await alice.folder()
    for _ in range(2):
        old = await alice.upload(folder, "a.jpg", b"old")
        await alice.call("DELETE", f"/v1/files/{old['id']}")
    await alice.upload(folder, "a.jpg", b"new")
    newest, older = await _trash(alice)
    first = (await alice.call("POST", f"/v1/trash/{newest['id']}/restore")).json
    second = (await alice.call("POST", f"/v1/trash/{older['id']}/restore")).json
    assert (first["name"], second["name"]) == ("a (restored).jpg", "a (restored 2).jpg")
    listing = (await alice.call("GET", f"/v1/folders/{folder}/files")).json["files"]
    assert sorted(f["name"] for f in listing) == ["a (restored 2).jpg", "a (restored).jpg", "a.jpg"]


async def test_purge_removes_unreferenced_blob_only(srv: Srv) -> None:
    alice = srv.user("alice")
    folder = await alice.folder()
    gone, shared = b"only in trash", b"also kept by another file"
    f1 = await alice.upload(folder, "gone.jpg", gone)
    f2 = await alice.upload(folder, "shared.jpg", shared)
    await alice.upload(folder, "copy.jpg", shared)
    for f in (f1, f2):
        await alice.call("DELETE", f"/v1/files/{f['id']}")
    reply = await alice.call("POST", "/v1/_test/purge-trash", json={"older_than_s": 0})
    assert reply.json == {"purged": 2}
    assert await _trash(alice) == []
    assert not _stored(srv, gone)
    assert _stored(srv, shared), "copy.jpg still refers to it"


async def test_purge_keeps_entries_younger_than_the_window(srv: Srv) -> None:
    alice = srv.user("alice")
    folder = await alice.folder()
    f = await alice.upload(folder, "a.jpg", b"keep me")
    await alice.call("DELETE", f"/v1/files/{f['id']}")
    reply = await alice.call("POST", "/v1/_test/purge-trash", json={"older_than_s": 3600})
    assert reply.json == {"purged": 0}
    assert len(await _trash(alice)) == 1
    assert _stored(srv, b"keep me")


async def test_app_purges_expired_entries_on_its_own(tmp_path: Path, blobs_url: str | None) -> None:
    """A file deleted under a 7-day window; the server restarted with a 0-day window purges
    the entry and its blob by itself (the periodic task runs at start-up)."""
    data_dir, data = tmp_path / "data", b"expired soon"
    async with running(data_dir, False, blobs_url, trash_days=7) as first:
        alice = first.user("alice")
        f = await alice.upload(await alice.folder(), "a.jpg", data)
        await alice.call("DELETE", f"/v1/files/{f['id']}")
        assert len(await _trash(alice)) == 1
        token = alice.token
    async with running(data_dir, False, blobs_url, trash_days=0) as second:
        alice = Client(second, token)
        deadline = time.monotonic() + 10
        while _stored(second, data) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert not _stored(second, data)
        assert await _trash(alice) == []
        assert second.state.db.one("SELECT COUNT(*) AS n FROM trash")["n"] == 0


async def test_tenant_isolation(srv: Srv) -> None:
    alice, mallory = srv.user("alice"), srv.user("mallory")
    folder = await alice.folder()
    f = await alice.upload(folder, "secret.jpg", b"private")
    await alice.call("DELETE", f"/v1/files/{f['id']}")
    (item,) = await _trash(alice)
    assert await _trash(mallory) == []
    reply = await mallory.call("POST", f"/v1/trash/{item['id']}/restore")
    assert (reply.status, reply.code) == (404, "not_found")
    await mallory.call("POST", "/v1/_test/purge-trash", json={"older_than_s": 0})
    assert len(await _trash(alice)) == 1, "mallory's purge must not touch alice's trash"
    unknown = await alice.call("POST", "/v1/trash/tr_nope/restore")
    assert (unknown.status, unknown.code) == (404, "not_found")
    assert (await alice.call("GET", "/v1/trash", auth=False)).status == 401


async def test_restore_over_quota_is_507(srv: Srv) -> None:
    alice = srv.user("alice", quota_bytes=1000)
    folder = await alice.folder()
    f = await alice.upload(folder, "big.bin", b"x" * 600)
    await alice.call("DELETE", f"/v1/files/{f['id']}")
    await alice.upload(folder, "new.bin", b"y" * 600)
    (item,) = await _trash(alice)
    reply = await alice.call("POST", f"/v1/trash/{item['id']}/restore")
    assert (reply.status, reply.code) == (507, "quota_exceeded")
    assert reply.json["error"]["needed_bytes"] == 600
    assert len(await _trash(alice)) == 1, "a refused restore leaves the entry in the trash"
    assert await _used(alice) == 600


async def test_trash_is_capped_at_the_quota_oldest_purged_first(srv: Srv) -> None:
    """Deleting frees quota at once, so without a cap a user could fill the server's disk
    through deletes; the trash holds at most the quota (--trash-percent 100), oldest out."""
    alice = srv.user("alice", quota_bytes=1000, max_file_bytes=1000)
    folder = await alice.folder()
    first, second, third = (bytes([n]) * 400 for n in (1, 2, 3))
    for name, data in (("1.jpg", first), ("2.jpg", second), ("3.jpg", third)):
        f = await alice.upload(folder, name, data)
        assert (await alice.call("DELETE", f"/v1/files/{f['id']}")).status == 204
    assert await _used(alice) == 0
    items = await _trash(alice)
    assert [i["name"] for i in items] == ["3.jpg", "2.jpg"], "1.jpg purged: 1200 > 1000"
    assert sum(i["size"] for i in items) <= 1000
    assert not _stored(srv, first) and _stored(srv, second)


async def test_trash_cap_keeps_the_newest_entry_and_applies_to_folder_deletes(
    srv: Srv,
) -> None:
    alice = srv.user("alice", quota_bytes=1000, max_file_bytes=1000)
    folder = await alice.folder("Big")
    for n in range(3):
        await alice.upload(folder, f"{n}.jpg", bytes([n]) * 300)
    with srv.state.db.tx() as conn:  # as `syncd admin set-quota` would
        conn.execute("UPDATE users SET limit_bytes=100 WHERE name='alice'")
    assert (await alice.call("DELETE", f"/v1/folders/{folder}")).status == 204
    items = await _trash(alice)
    assert len(items) == 1, "over the cap, but the newest delete stays undoable"
    restored = await alice.call("POST", f"/v1/trash/{items[0]['id']}/restore")
    assert restored.status == 507  # restoring counts in the (now smaller) quota again
