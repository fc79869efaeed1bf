"""The change feed: full snapshot at cursor 0 (folders first), deltas, paging, long poll
wake-up, compaction with 410 and re-read from 0."""

from __future__ import annotations

import asyncio
import time

from tests.integration.server.conftest import Client, Srv


async def read_all(client: Client, cursor: int, limit: int = 1000) -> tuple[int, list[dict]]:
    changes: list[dict] = []
    for _ in range(1000):
        page = (await client.changes(cursor, limit=limit)).json
        changes += page["changes"]
        cursor = page["cursor"]
        if not page["more"]:
            return cursor, changes
    raise AssertionError("feed never ended")


def apply(state: dict[str, dict], changes: list[dict]) -> dict[str, dict]:
    for change in changes:
        if change["op"] == "upsert":
            if change["type"] == "file":
                assert change["object"]["folder_id"] in state, "file before its folder"
            state[change["id"]] = change["object"]
        else:
            state.pop(change["id"], None)
    return state


async def test_snapshot_lists_folders_before_files(srv: Srv) -> None:
    alice = srv.user("alice")
    one = await alice.folder("One")
    file = await alice.upload(one, "a.jpg", b"a")
    await alice.call("PATCH", f"/v1/folders/{one}", json={"name": "Renamed"})  # folder newer
    two = await alice.folder("Two")
    page = (await alice.changes(0)).json
    kinds = [c["type"] for c in page["changes"]]
    assert kinds == ["folder", "folder", "file"] and page["more"] is False
    assert {c["id"] for c in page["changes"]} == {one, two, file["id"]}
    assert all(c["op"] == "upsert" for c in page["changes"])
    assert page["changes"][0]["object"]["name"] == "Renamed"
    assert page["cursor"] == max(c["seq"] for c in page["changes"])


async def test_delta_after_cursor_and_paging(srv: Srv) -> None:
    alice = srv.user("alice")
    folder = await alice.folder()
    for i in range(7):
        await alice.upload(folder, f"{i}.jpg", b"x")
    cursor, snapshot = await read_all(alice, 0, limit=3)
    state = apply({}, snapshot)
    assert len(state) == 8
    victim = next(k for k, v in state.items() if v.get("name") == "3.jpg")
    await alice.call("DELETE", f"/v1/files/{victim}")
    new = await alice.upload(folder, "new.jpg", b"n")
    cursor2, delta = await read_all(alice, cursor, limit=1)
    assert [(c["op"], c["id"]) for c in delta] == [("delete", victim), ("upsert", new["id"])]
    apply(state, delta)
    _, again = await read_all(alice, 0)
    assert apply({}, again) == state
    empty = (await alice.changes(cursor2)).json
    assert (empty["changes"], empty["cursor"], empty["more"]) == ([], cursor2, False)


async def test_paged_reads_converge_while_library_changes(srv: Srv) -> None:
    alice = srv.user("alice")
    folders = [await alice.folder(f"F{i}") for i in range(3)]
    for i in range(12):
        await alice.upload(folders[i % 3], f"{i}.bin", b"x")
    state: dict[str, dict] = {}
    cursor, more = 0, True
    step = 0
    while more:
        page = (await alice.changes(cursor, limit=2)).json
        apply(state, page["changes"])
        cursor, more = page["cursor"], page["more"]
        if step == 2:  # concurrent edits while a client pages through
            await alice.call("PATCH", f"/v1/folders/{folders[0]}", json={"name": "F0 new"})
            await alice.upload(folders[0], "late.bin", b"y")
        step += 1
    _, rest = await read_all(alice, cursor)
    apply(state, rest)
    _, truth = await read_all(alice, 0)
    assert state == apply({}, truth)


async def test_long_poll_wakes_within_100ms(srv: Srv) -> None:
    alice = srv.user("alice")
    folder = await alice.folder()
    cursor = (await alice.changes(0)).json["cursor"]
    poll = asyncio.create_task(alice.changes(cursor, wait=30))
    await asyncio.sleep(0.2)  # let the poll park (not an assertion)
    assert not poll.done()
    started = time.monotonic()
    await alice.upload(folder, "new.jpg", b"x")
    reply = await asyncio.wait_for(poll, timeout=5)
    elapsed = time.monotonic() - started
    assert reply.status == 200 and [c["op"] for c in reply.json["changes"]] == ["upsert"]
    assert elapsed < 0.1, f"long poll woke after {elapsed * 1000:.0f} ms"


async def test_long_poll_times_out_empty_and_rejects_big_wait(srv: Srv) -> None:
    alice = srv.user("alice")
    await alice.folder()
    cursor = (await alice.changes(0)).json["cursor"]
    reply = await alice.call("GET", f"/v1/changes?cursor={cursor}&wait=0.3")
    assert reply.status == 200 and reply.json["changes"] == []
    assert (await alice.changes(cursor, wait=61)).code == "bad_request"
    assert (await alice.changes(cursor, limit=5001)).code == "bad_request"


async def test_compaction_expires_old_cursors(srv: Srv) -> None:
    alice = srv.user("alice")
    folder = await alice.folder()
    a = await alice.upload(folder, "a.jpg", b"a")
    old_cursor = (await alice.changes(0)).json["cursor"]
    await alice.call("DELETE", f"/v1/files/{a['id']}")
    b = await alice.upload(folder, "b.jpg", b"b")
    assert (await alice.call("POST", "/v1/_test/compact", json={"keep": 0})).status == 200
    reply = await alice.changes(old_cursor)
    assert (reply.status, reply.code) == (410, "cursor_expired")
    _, changes = await read_all(alice, 0)
    assert set(apply({}, changes)) == {folder, b["id"]}
    head = (await alice.changes(0)).json["cursor"]
    assert (await alice.changes(head + 100)).code == "cursor_expired"


async def test_compaction_keeps_recent_cursors(srv: Srv) -> None:
    alice = srv.user("alice")
    folder = await alice.folder()
    await alice.upload(folder, "a.jpg", b"a")
    cursor = (await alice.changes(0)).json["cursor"]
    await alice.upload(folder, "b.jpg", b"b")
    await alice.call("POST", "/v1/_test/compact", json={"keep": 5})
    assert (await alice.changes(cursor)).status == 200


async def test_fresh_read_of_a_library_bigger_than_the_feed_window_completes(srv: Srv) -> None:
    """A library with more objects than compaction keeps, after deletes were forgotten: a new
    client pages from cursor 0 to the end without a 410 (it used to re-read forever)."""
    alice = srv.user("alice")
    folder = await alice.folder()
    doomed = await alice.upload(folder, "doomed.jpg", b"x")
    await alice.call("DELETE", f"/v1/files/{doomed['id']}")
    ids = {(await alice.upload(folder, f"{i}.jpg", b"%d" % i))["id"] for i in range(12)}
    assert (await alice.call("POST", "/v1/_test/compact", json={"keep": 3})).status == 200
    cursor, seen, pages = 0, set(), 0
    while True:
        reply = await alice.changes(cursor, limit=4)
        assert reply.status == 200, reply.json
        seen |= {c["id"] for c in reply.json["changes"] if c["type"] == "file"}
        cursor, pages = reply.json["cursor"], pages + 1
        if not reply.json["more"]:
            break
    assert seen == ids and pages > 1


async def _compacted_library(srv: Srv, files: int) -> tuple[Client, set[str]]:
    """`files` files after a delete that compaction forgot: the floor is above most files."""
    alice = srv.user("alice")
    folder = await alice.folder()
    ids = {(await alice.upload(folder, f"{i}.jpg", b"%d" % i))["id"] for i in range(files)}
    doomed = await alice.upload(folder, "doomed.jpg", b"x")
    await alice.call("DELETE", f"/v1/files/{doomed['id']}")
    await alice.upload(folder, "late.jpg", b"late")  # the delete is no longer the head
    assert (await alice.call("POST", "/v1/_test/compact", json={"keep": 1})).status == 200
    return alice, ids


async def test_snapshot_pages_stay_bounded_after_compaction(srv: Srv) -> None:
    """A full read with `snapshot` gets pages of at most `limit` changes even when the floor
    is above every file (without it, the first page held every file up to the floor)."""
    alice, ids = await _compacted_library(srv, 30)
    cursor, snapshot, seen, sizes = 0, 0, set(), []
    for _ in range(100):
        reply = await alice.changes(cursor, limit=5, snapshot=snapshot)
        assert reply.status == 200, reply.json
        sizes.append(len(reply.json["changes"]))
        seen |= {c["id"] for c in reply.json["changes"] if c["type"] == "file"}
        cursor, snapshot = reply.json["cursor"], reply.json["snapshot"]
        if not reply.json["more"]:
            break
    assert max(sizes) <= 5 + 1 and len(sizes) > 6  # + the one folder on the first page
    assert ids <= seen
    old_client_page = (await alice.changes(0, limit=5)).json  # no `snapshot`: as before
    assert len(old_client_page["changes"]) > 30 and old_client_page["snapshot"] is None


async def test_snapshot_read_expires_when_a_delete_it_needs_was_forgotten(srv: Srv) -> None:
    """A delete made after the read started, then forgotten by compaction: going on below
    the floor would miss it, so the read must start over (410)."""
    alice, _ids = await _compacted_library(srv, 10)
    first = (await alice.changes(0, limit=3, snapshot=0)).json
    seen = [c for c in first["changes"] if c["type"] == "file"]
    await alice.call("DELETE", f"/v1/files/{seen[0]['id']}")
    await alice.upload(await alice.folder("Other"), "x.jpg", b"x")
    assert (await alice.call("POST", "/v1/_test/compact", json={"keep": 0})).status == 200
    reply = await alice.changes(first["cursor"], limit=3, snapshot=first["snapshot"])
    assert (reply.status, reply.code) == (410, "cursor_expired")
