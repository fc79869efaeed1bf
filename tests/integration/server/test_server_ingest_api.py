"""The storage API ingest builds on: participant folders and `store_incoming` (no quota,
never overwrites, visible in the feed)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

from syncd.server import folders, uploads
from tests.integration.server.conftest import Srv

BACKENDS = ("local", "s3")  # gateway media goes through the same blob store


async def chunks(data: bytes) -> AsyncIterator[bytes]:
    yield data[:3]
    yield data[3:]


async def test_store_incoming_bypasses_quota_and_never_overwrites(srv: Srv, tmp_path: Path) -> None:
    alice = srv.user("alice", quota_bytes=10)
    uid = srv.state.db.one("SELECT id FROM users WHERE name='alice'")["id"]
    folder = folders.ensure_participant_folder(
        srv.state, uid, "34612345678@c.us", "+34 612 345 678", "José Álvarez"
    )
    assert folder.kind == "participant" and folder.name == "José Álvarez"
    assert folder.participant is not None and folder.participant.phone == "+34 612 345 678"
    again = folders.ensure_participant_folder(srv.state, uid, "34612345678@c.us", None, None)
    assert again.id == folder.id
    other = folders.ensure_participant_folder(srv.state, uid, "999@c.us", "+1 999", "José Álvarez")
    assert other.name == "José Álvarez (+1 999)"
    source = tmp_path / "in.jpg"
    source.write_bytes(b"incoming photo bytes")
    first = await uploads.store_incoming(srv.state, uid, folder.id, "IMG.jpg", source)
    second = await uploads.store_incoming(
        srv.state, uid, folder.id, "IMG.jpg", chunks(b"another photo")
    )
    assert (first.source, first.name, second.name) == ("incoming", "IMG.jpg", "IMG (2).jpg")
    account = (await alice.call("GET", "/v1/account")).json
    assert account["quota"]["used_bytes"] == 33 > account["quota"]["limit_bytes"]
    reply = await alice.put(folder.id, "mine.jpg", b"x")  # over the limit: uploads refused
    assert (reply.status, reply.code) == (507, "quota_exceeded")
    feed = (await alice.changes(0)).json["changes"]
    assert {c["id"] for c in feed} == {folder.id, other.id, first.id, second.id}
    assert (await alice.call("GET", f"/v1/files/{second.id}/content")).body == b"another photo"
    assert srv.stored() == sorted({first.sha256, second.sha256})
