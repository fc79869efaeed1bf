"""Health, account and folder routes: every success and every documented error."""

from __future__ import annotations

from tests.integration.server.conftest import Srv


async def test_health_needs_no_token(srv: Srv) -> None:
    reply = await srv.user("a").call("GET", "/v1/health", auth=False)
    assert reply.status == 200
    assert reply.json["status"] == "ok" and reply.json["version"]


async def test_account_reports_user_quota_and_usage(srv: Srv) -> None:
    alice = srv.user("alice", quota_bytes=1000, max_file_bytes=500)
    folder = await alice.folder()
    await alice.upload(folder, "a.jpg", b"x" * 100)
    await alice.upload(folder, "b.pdf", b"y" * 10)
    body = (await alice.call("GET", "/v1/account")).json
    assert body["user"]["name"] == "alice" and body["user"]["id"].startswith("us_")
    assert body["library_id"].startswith("lib_")
    assert body["quota"] == {"used_bytes": 110, "limit_bytes": 1000, "max_file_bytes": 500}
    assert body["counts"] == {"files": 2, "folders": 1}
    assert body["by_kind"] == {"image": 100, "audio": 0, "video": 0, "document": 10}


async def test_library_id_is_stable(srv: Srv) -> None:
    alice = srv.user("alice")
    first = (await alice.call("GET", "/v1/account")).json["library_id"]
    assert (await alice.call("GET", "/v1/account")).json["library_id"] == first


async def test_missing_or_bad_token_is_401(srv: Srv) -> None:
    alice = srv.user("alice")
    for path in ("/v1/account", "/v1/folders", "/v1/changes"):
        reply = await alice.call("GET", path, auth=False)
        assert (reply.status, reply.code) == (401, "unauthorized")
    reply = await alice.call("GET", "/v1/account", headers={"Authorization": "Bearer nope"})
    assert (reply.status, reply.code) == (401, "unauthorized")


async def test_create_list_get_folder(srv: Srv) -> None:
    alice = srv.user("alice")
    reply = await alice.call("POST", "/v1/folders", json={"name": "Campaign assets"})
    assert reply.status == 201 and reply.headers["ETag"] == '"1"'
    folder = reply.json
    assert folder["id"].startswith("fo_") and folder["kind"] == "custom"
    assert folder["participant"] is None and folder["file_count"] == 0 and folder["rev"] == 1
    listed = (await alice.call("GET", "/v1/folders")).json["folders"]
    assert listed == [folder]
    assert (await alice.call("GET", f"/v1/folders/{folder['id']}")).json == folder


async def test_folder_names_unique_ignoring_case_and_nfc(srv: Srv) -> None:
    alice = srv.user("alice")
    await alice.folder("José")
    reply = await alice.call("POST", "/v1/folders", json={"name": "JOSE\u0301"})
    assert (reply.status, reply.code) == (409, "name_taken")


async def test_create_folder_bad_input(srv: Srv) -> None:
    alice = srv.user("alice")
    for name in ("", "..", "a/b", "x\x00y", "é" * 200):
        reply = await alice.call("POST", "/v1/folders", json={"name": name})
        assert (reply.status, reply.code) == (400, "invalid_name"), name
    reply = await alice.call(
        "POST", "/v1/folders", data=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert (reply.status, reply.code) == (400, "invalid_json")
    reply = await alice.call("POST", "/v1/folders", json={"nome": "x"})
    assert (reply.status, reply.code) == (400, "bad_request")


async def test_rename_folder_with_and_without_if_match(srv: Srv) -> None:
    alice = srv.user("alice")
    folder = await alice.folder("Old")
    reply = await alice.call("PATCH", f"/v1/folders/{folder}", json={"name": "New"})
    assert reply.status == 200 and reply.json["name"] == "New" and reply.json["rev"] == 2
    reply = await alice.call(
        "PATCH", f"/v1/folders/{folder}", json={"name": "Newer"}, headers={"If-Match": '"1"'}
    )
    assert (reply.status, reply.code) == (412, "rev_mismatch")
    reply = await alice.call(
        "PATCH", f"/v1/folders/{folder}", json={"name": "Newer"}, headers={"If-Match": '"2"'}
    )
    assert reply.status == 200 and reply.json["rev"] == 3
    # a case-only rename of itself is fine; onto another folder's name is 409
    assert (
        await alice.call("PATCH", f"/v1/folders/{folder}", json={"name": "NEWER"})
    ).status == 200
    await alice.folder("Other")
    reply = await alice.call("PATCH", f"/v1/folders/{folder}", json={"name": "other"})
    assert (reply.status, reply.code) == (409, "name_taken")
    reply = await alice.call("PATCH", "/v1/folders/fo_nope", json={"name": "x"})
    assert (reply.status, reply.code) == (404, "not_found")


async def test_delete_folder_deletes_files_and_frees_space(srv: Srv) -> None:
    alice = srv.user("alice")
    folder = await alice.folder()
    a = await alice.upload(folder, "a.jpg", b"a" * 50)
    await alice.upload(folder, "b.jpg", b"b" * 70)
    before = (await alice.changes()).json["cursor"]
    reply = await alice.call("DELETE", f"/v1/folders/{folder}", headers={"If-Match": '"9"'})
    assert (reply.status, reply.code) == (412, "rev_mismatch")
    assert (await alice.call("DELETE", f"/v1/folders/{folder}")).status == 204
    assert (await alice.call("GET", f"/v1/files/{a['id']}")).status == 404
    assert (await alice.call("GET", "/v1/account")).json["quota"]["used_bytes"] == 0
    assert len(list((srv.data_dir / "blobs").glob("??/??/*"))) == 2  # kept by the trash
    await alice.call("POST", "/v1/_test/purge-trash", json={"older_than_s": 0})
    assert not list((srv.data_dir / "blobs").glob("??/??/*"))
    deletes = [(c["type"], c["op"]) for c in (await alice.changes(before)).json["changes"]]
    assert deletes == [("file", "delete"), ("file", "delete"), ("folder", "delete")]
    reply = await alice.call("DELETE", f"/v1/folders/{folder}")
    assert (reply.status, reply.code) == (404, "not_found")


async def test_unknown_route_and_method_answer_json_errors(srv: Srv) -> None:
    alice = srv.user("alice")
    reply = await alice.call("GET", "/v1/nothing")
    assert (reply.status, reply.code) == (404, "not_found")
    reply = await alice.call("POST", "/v1/account")
    assert reply.status == 405 and reply.json["error"]["message"]
