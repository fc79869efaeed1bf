"""Tenant isolation and hostile names."""

from __future__ import annotations

import os
from pathlib import Path

from tests.integration.server.conftest import Srv


async def test_user_b_sees_nothing_of_user_a(srv: Srv) -> None:
    alice, bob = srv.user("alice"), srv.user("bob")
    folder = await alice.folder("Private")
    file = await alice.upload(folder, "secret.jpg", b"secret")
    fid, fo = file["id"], folder
    attempts = [
        ("GET", f"/v1/folders/{fo}", None),
        ("PATCH", f"/v1/folders/{fo}", {"name": "x"}),
        ("DELETE", f"/v1/folders/{fo}", None),
        ("GET", f"/v1/folders/{fo}/files", None),
        ("GET", f"/v1/files/{fid}", None),
        ("GET", f"/v1/files/{fid}/content", None),
        ("PATCH", f"/v1/files/{fid}", {"name": "y"}),
        ("DELETE", f"/v1/files/{fid}", None),
    ]
    for method, path, body in attempts:
        reply = await bob.call(method, path, json=body)
        assert (reply.status, reply.code) == (404, "not_found"), (method, path)
    assert (await bob.put(fo, "x.jpg", b"x")).status == 404
    bob_folder = await bob.folder("Mine")
    moved = await bob.call("PATCH", f"/v1/files/{fid}", json={"folder_id": bob_folder})
    assert moved.status == 404
    own = await bob.upload(bob_folder, "b.jpg", b"b")
    assert (await bob.call("PATCH", f"/v1/files/{own['id']}", json={"folder_id": fo})).status == 404
    assert (await bob.call("GET", "/v1/folders")).json["folders"][0]["id"] == bob_folder
    ids = {c["id"] for c in (await bob.changes(0)).json["changes"]}
    assert ids == {bob_folder, own["id"]}
    assert (await bob.call("GET", "/v1/account")).json["quota"]["used_bytes"] == 1
    # alice's things are intact
    assert (await alice.call("GET", f"/v1/files/{fid}/content")).body == b"secret"


def _all_files(root: Path) -> set[str]:
    return {str(p) for p in root.rglob("*") if p.is_file()}


async def test_hostile_names_are_refused(srv: Srv, tmp_path: Path) -> None:
    alice = srv.user("alice")
    folder = await alice.folder()
    outside_before = _all_files(tmp_path) - _all_files(srv.data_dir)
    raw_paths = [
        "..%2Fx",
        "%2e%2e",
        "a%2Fb",
        "x%00y",
        "%2E",
        "a" * 300,
        "%C3%A9" * 128,
        "bad%01name",
        "..%2F..%2F..%2Fetc%2Fpasswd",
    ]
    for raw in raw_paths:
        reply = await alice.call("PUT", f"/v1/folders/{folder}/files/{raw}", data=b"evil")
        assert reply.status in (400, 404), raw
        if reply.status == 400:
            assert reply.code == "invalid_name", raw
    # the ones that reach the handler are refused as invalid names
    for raw in ("%2e%2e", "a%2Fb", "x%00y", "a" * 300, "bad%01name"):
        reply = await alice.call("PUT", f"/v1/folders/{folder}/files/{raw}", data=b"evil")
        assert (reply.status, reply.code) == (400, "invalid_name"), (raw, reply.body)
    assert (await alice.call("GET", f"/v1/folders/{folder}/files")).json["files"] == []
    assert (await alice.call("GET", "/v1/account")).json["quota"]["used_bytes"] == 0
    assert _all_files(tmp_path) - _all_files(srv.data_dir) == outside_before
    assert not any("evil" in name for name in os.listdir(tmp_path))
    assert not list((srv.data_dir / "blobs").glob("??/??/*"))
