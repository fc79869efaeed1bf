"""Find (GET /v1/search) against the real server: captions and original names kept from the
message, participant names and phones, accent and case folding, ranking, paging, tenant
isolation, hostile queries, trash and renames keeping the index true, the v4 -> v5 backfill."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from syncd.server.db import MIGRATIONS
from syncd.server.ingest.sample_gateway import SampleGateway
from syncd.server.meta.sqlite import SqliteDb as Db
from syncd.server.users import create_user
from tests.integration.ingest.conftest import HMAC_KEY, Lib, media_file, waha_hook, wait_for

ALICE, BOB_PHONE = "+4915112345678", "+12025550123"


async def find(lib: Lib, q: str, token: str | None = None, **params: Any) -> dict[str, Any]:
    status, body = await lib.call("GET", "/v1/search", params={"q": q, **params}, token=token)
    assert status == 200, body
    return body  # type: ignore[no-any-return]


def paths(page: dict[str, Any]) -> list[str]:
    """Each hit as `Folder/` or `Folder/file`, in rank order."""
    return [f"{h['folder']['name']}/{h['file']['name'] if h['file'] else ''}" for h in page["hits"]]


async def deliver(
    lib: Lib, gw: SampleGateway, tmp: Path, msg: str, phone: str, who: str, **kw: Any
) -> None:
    url = waha_hook(lib, gw)
    src = media_file(tmp, f"{msg}.bin", msg.encode() * 50)
    status, _ = await gw.deliver(url, HMAC_KEY, phone, who, src, "application/pdf", msg, **kw)
    assert status == 200
    await wait_for(lambda: lib.outcome(msg, "stored"))


async def upload(lib: Lib, folder_id: str, name: str) -> dict[str, Any]:
    status, body = await lib.call("PUT", f"/v1/folders/{folder_id}/files/{name}", data=b"x")
    assert status in (200, 201), body
    return body  # type: ignore[no-any-return]


async def test_caption_and_original_name_are_kept_and_found_without_accents(
    lib: Lib, gateway: SampleGateway, tmp_path: Path
) -> None:
    await deliver(
        lib,
        gateway,
        tmp_path,
        "M1",
        ALICE,
        "Alice Martin",
        filename="Tarifs été 2026.pdf",
        caption="Voilà la liste des prix",
    )
    ((name, file),) = (await lib.files("Alice Martin")).items()
    assert file["caption"] == "Voilà la liste des prix"
    assert file["original_name"] == "Tarifs été 2026.pdf"
    assert paths(await find(lib, "ETE tarifs")) == [f"Alice Martin/{name}"]
    assert paths(await find(lib, "VOILA prix")) == [f"Alice Martin/{name}"]
    assert (await find(lib, "prix absent"))["hits"] == []


async def test_participant_name_and_phone_find_the_folder_first(
    lib: Lib, gateway: SampleGateway, tmp_path: Path
) -> None:
    await deliver(lib, gateway, tmp_path, "M1", ALICE, "Alice Martin")
    await deliver(lib, gateway, tmp_path, "M2", BOB_PHONE, "Bob Stone")
    (alice_file,) = await lib.files("Alice Martin")
    by_name = paths(await find(lib, "alice"))
    assert by_name == ["Alice Martin/", f"Alice Martin/{alice_file}"]
    # A phone written the way people write it, matched inside the number.
    for q in ("555 0123", "+1 202-555-0123", "2025550123"):
        assert paths(await find(lib, q))[0] == "Bob Stone/", q


async def test_name_matches_rank_above_caption_matches_and_pages_follow(lib: Lib) -> None:
    status, folder = await lib.call("POST", "/v1/folders", json={"name": "Assets"})
    assert status == 201, folder
    await upload(lib, folder["id"], "notes.txt")
    await upload(lib, folder["id"], "invoice.pdf")
    for n in range(25):
        await upload(lib, folder["id"], f"report {n:02d}.pdf")
    assert paths(await find(lib, "invoice")) == ["Assets/invoice.pdf"]
    seen: list[str] = []
    offset: int | None = 0
    while offset is not None:
        page = await find(lib, "report", limit=10, offset=offset)
        assert len(page["hits"]) <= 10
        seen += paths(page)
        offset = page["next_offset"]
    assert sorted(seen) == [f"Assets/report {n:02d}.pdf" for n in range(25)]
    ranks = [h["rank"] for h in (await find(lib, "report", limit=100))["hits"]]
    assert ranks == sorted(ranks)


async def test_another_user_finds_nothing_of_alice(
    lib: Lib, gateway: SampleGateway, tmp_path: Path
) -> None:
    await deliver(lib, gateway, tmp_path, "M1", ALICE, "Alice Martin", caption="secret plan")
    _, bob_token = create_user(lib.state.db, "bob", 1 << 20, 1 << 20)
    assert (await find(lib, "secret", token=bob_token))["hits"] == []
    assert (await find(lib, "alice", token=bob_token))["hits"] == []
    assert (await find(lib, "4915112345678", token=bob_token))["hits"] == []
    assert paths(await find(lib, "secret"))[0].startswith("Alice Martin/")


async def test_hostile_and_empty_queries(lib: Lib) -> None:
    status, folder = await lib.call("POST", "/v1/folders", json={"name": "Docs"})
    await upload(lib, folder["id"], "near and or.txt")
    for q in ("NEAR(a b)", 'x" OR "y', "AND OR NOT", "*", "a*b", "^near"):
        status, body = await lib.call("GET", "/v1/search", params={"q": q})
        assert status in (200, 400), (q, body)  # never a 500 from FTS syntax
    assert paths(await find(lib, "NEAR(and OR")) == ["Docs/near and or.txt"]
    assert (await find(lib, "*** ---"))["hits"] == []
    for params in ({}, {"q": ""}, {"q": "x" * 201}, {"q": "a", "limit": "0"}):
        status, body = await lib.call("GET", "/v1/search", params=params)
        assert status == 400 and body["error"]["code"] == "bad_request", (params, body)


async def test_trash_rename_and_restore_keep_the_index_true(
    lib: Lib, gateway: SampleGateway, tmp_path: Path
) -> None:
    await deliver(lib, gateway, tmp_path, "M1", ALICE, "Alice Martin", caption="devis cuisine")
    ((name, file),) = (await lib.files("Alice Martin")).items()
    folder = (await lib.folders())["Alice Martin"]
    status, _ = await lib.call(
        "PATCH", f"/v1/folders/{folder['id']}", json={"name": "Client Cuisine"}
    )
    assert status == 200
    assert paths(await find(lib, "client devis")) == [f"Client Cuisine/{name}"]
    status, _ = await lib.call("DELETE", f"/v1/files/{file['id']}")
    assert status == 204
    assert (await find(lib, "devis"))["hits"] == []
    status, trash = await lib.call("GET", "/v1/trash")
    (item,) = trash["items"]
    status, restored = await lib.call("POST", f"/v1/trash/{item['id']}/restore")
    assert status in (200, 201), restored
    assert restored["caption"] == "devis cuisine"
    assert paths(await find(lib, "devis")) == [f"Client Cuisine/{name}"]


def test_a_v4_library_is_indexed_when_upgraded(tmp_path: Path) -> None:
    path = tmp_path / "library.db"
    conn = sqlite3.connect(path, isolation_level=None)
    for script in MIGRATIONS[:4]:
        conn.executescript(script)
    conn.execute("PRAGMA user_version=4")
    conn.execute(
        "INSERT INTO users (id, name, name_key, token_hash, library_id, limit_bytes,"
        " max_file_bytes, created_ns) VALUES ('u1', 'a', 'a', 'h', 'l', 1, 1, 0)"
    )
    conn.execute(
        "INSERT INTO folders (id, user_id, name, name_key, kind, participant_id, phone,"
        " display_name, rev, seq, created_ns) VALUES ('fo1', 'u1', 'José', 'josé',"
        " 'participant', 'p', '+33612345678', 'José', 1, 1, 0)"
    )
    conn.execute(
        "INSERT INTO files (id, user_id, folder_id, name, name_key, size, sha256, mime, kind,"
        " source, created_ns, mtime_ns, rev, seq) VALUES ('fi1', 'u1', 'fo1', 'a.pdf', 'a.pdf',"
        " 1, 's', 'application/pdf', 'document', 'incoming', 0, 0, 1, 2)"
    )
    conn.execute(
        "INSERT INTO ingest_jobs (hook_id, message_id, raw_id, user_id, state, job, next_ns,"
        " file_id, created_ns) VALUES ('h', 'm', 'r', 'u1', 'done', ?, 0, 'fi1', 0)",
        ('{"caption": "Reçu signé", "filename": "recu.pdf"}',),
    )
    conn.close()
    db = Db(path)
    row = db.one("SELECT caption, original_name FROM files WHERE id='fi1'")
    assert row is not None and (row["caption"], row["original_name"]) == ("Reçu signé", "recu.pdf")
    hits = db.all(
        "SELECT d.obj_id FROM search JOIN search_docs d ON d.id = search.rowid"
        " WHERE search MATCH ? ORDER BY d.obj_id",
        '"recu"* "jose"*',
    )
    assert [h["obj_id"] for h in hits] == ["fi1"]
    db.close()
