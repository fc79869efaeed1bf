"""File routes: upload (create/replace/preconditions/limits/digest), metadata, download with
Range and headers, rename/move, delete, listing pages, de-duplicated blobs."""

from __future__ import annotations

import base64
import hashlib
import random
from collections.abc import AsyncIterator
from urllib.parse import quote

from syncd.frames import FrameDecoder
from syncd.protocol import BATCH_MAX_BYTES
from tests.integration.server.conftest import MiB, Srv


def digest_header(data: bytes) -> dict[str, str]:
    return {"Repr-Digest": f"sha-256=:{base64.b64encode(hashlib.sha256(data).digest()).decode()}:"}


BACKENDS = ("local", "s3")  # every srv test here runs against both blob stores


def blobs(srv: Srv) -> list[str]:
    return srv.stored()


async def test_upload_creates_then_replaces(srv: Srv) -> None:
    alice = srv.user("alice")
    folder = await alice.folder()
    data = b"hello world"
    reply = await alice.put(
        folder,
        "Héllo.txt",
        data,
        {**digest_header(data), "X-Syncd-Mtime-Ns": "1700000000123456789"},
    )
    assert reply.status == 201 and reply.headers["ETag"] == '"1"'
    file = reply.json
    assert file["id"].startswith("fi_") and file["folder_id"] == folder
    assert (file["name"], file["size"], file["rev"]) == ("Héllo.txt", 11, 1)
    assert file["sha256"] == hashlib.sha256(data).hexdigest()
    assert (file["mime"], file["kind"], file["source"]) == ("text/plain", "document", "upload")
    assert file["mtime_ns"] == 1700000000123456789
    assert file["modified_at"] == "2023-11-14T22:13:20.123456Z"
    assert blobs(srv) == [file["sha256"]]
    # same name, other case: replaces (unique per folder ignoring case), old blob collected
    reply = await alice.put(folder, "HÉLLO.txt", b"new content")
    assert reply.status == 200
    assert (reply.json["id"], reply.json["rev"], reply.json["size"]) == (file["id"], 2, 11)
    assert blobs(srv) == [hashlib.sha256(b"new content").hexdigest()]
    assert (await alice.call("GET", "/v1/account")).json["quota"]["used_bytes"] == 11


async def test_upload_preconditions(srv: Srv) -> None:
    alice = srv.user("alice")
    folder = await alice.folder()
    create_only = {"If-None-Match": "*"}
    assert (await alice.put(folder, "a.jpg", b"1", create_only)).status == 201
    reply = await alice.put(folder, "a.jpg", b"2", create_only)
    assert (reply.status, reply.code) == (412, "rev_mismatch")
    reply = await alice.put(folder, "a.jpg", b"2", {"If-Match": '"7"'})
    assert (reply.status, reply.code) == (412, "rev_mismatch")
    reply = await alice.put(folder, "missing.jpg", b"2", {"If-Match": '"1"'})
    assert (reply.status, reply.code) == (412, "rev_mismatch")
    reply = await alice.put(folder, "a.jpg", b"22", {"If-Match": '"1"'})
    assert reply.status == 200 and reply.json["rev"] == 2
    assert (await alice.call("GET", "/v1/account")).json["quota"]["used_bytes"] == 2


async def test_upload_without_content_length_is_411(srv: Srv) -> None:
    alice = srv.user("alice")
    folder = await alice.folder()

    async def chunked() -> AsyncIterator[bytes]:
        yield b"abc"

    reply = await alice.call("PUT", f"/v1/folders/{folder}/files/a.bin", data=chunked())
    assert (reply.status, reply.code) == (411, "length_required")


async def test_upload_limits_413_and_507(srv: Srv) -> None:
    alice = srv.user("alice", quota_bytes=100, max_file_bytes=60)
    folder = await alice.folder()
    reply = await alice.put(folder, "big.bin", b"x" * 61)
    assert (reply.status, reply.code) == (413, "file_too_large")
    await alice.upload(folder, "a.bin", b"x" * 50)
    reply = await alice.put(folder, "b.bin", b"x" * 51)
    assert (reply.status, reply.code) == (507, "quota_exceeded")
    err = reply.json["error"]
    assert (err["used_bytes"], err["limit_bytes"], err["needed_bytes"]) == (50, 100, 51)
    assert (await alice.put(folder, "b.bin", b"x" * 50)).status == 201


async def test_digest_mismatch_stores_nothing(srv: Srv) -> None:
    alice = srv.user("alice")
    folder = await alice.folder()
    reply = await alice.put(folder, "a.jpg", b"real bytes", digest_header(b"other bytes"))
    assert (reply.status, reply.code) == (400, "digest_mismatch")
    assert (await alice.call("GET", f"/v1/folders/{folder}/files")).json["files"] == []
    assert (await alice.call("GET", "/v1/account")).json["quota"]["used_bytes"] == 0
    assert srv.state.quotas.reserved_bytes(srv.state.db.all("SELECT id FROM users")[0][0]) == 0
    assert blobs(srv) == [] and list((srv.data_dir / "tmp").iterdir()) == []
    reply = await alice.put(folder, "a.jpg", b"x", {"Repr-Digest": "sha-256=:not base64!:"})
    assert (reply.status, reply.code) == (400, "bad_request")


async def test_upload_to_missing_folder_and_bad_mtime(srv: Srv) -> None:
    alice = srv.user("alice")
    reply = await alice.put("fo_missing", "a.jpg", b"x")
    assert (reply.status, reply.code) == (404, "not_found")
    folder = await alice.folder()
    reply = await alice.put(folder, "a.jpg", b"x", {"X-Syncd-Mtime-Ns": "yesterday"})
    assert (reply.status, reply.code) == (400, "bad_request")


async def test_metadata_and_download_headers(srv: Srv) -> None:
    alice = srv.user("alice")
    folder = await alice.folder()
    data = bytes(range(256)) * 4
    file = await alice.upload(folder, "Foto José 1.jpg", data)
    meta = await alice.call("GET", f"/v1/files/{file['id']}")
    assert meta.status == 200 and meta.json == file and meta.headers["ETag"] == '"1"'
    reply = await alice.call("GET", f"/v1/files/{file['id']}/content")
    assert reply.status == 200 and reply.body == data
    assert reply.headers["ETag"] == f'"{file["sha256"]}"'
    assert reply.headers["Content-Type"] == "image/jpeg"
    assert reply.headers["Accept-Ranges"] == "bytes"
    disposition = reply.headers["Content-Disposition"]
    assert "filename*=UTF-8''" + quote("Foto José 1.jpg", safe="") in disposition
    assert 'filename="Foto Jos_ 1.jpg"' in disposition
    reply = await alice.call(
        "GET", f"/v1/files/{file['id']}/content", headers={"If-None-Match": f'"{file["sha256"]}"'}
    )
    assert reply.status == 304
    assert (await alice.call("GET", "/v1/files/fi_nope")).status == 404
    assert (await alice.call("GET", "/v1/files/fi_nope/content")).code == "not_found"


async def test_range_requests(srv: Srv) -> None:
    alice = srv.user("alice")
    folder = await alice.folder()
    data = b"0123456789"
    file_id = (await alice.upload(folder, "r.bin", data))["id"]
    path = f"/v1/files/{file_id}/content"
    for spec, expected, content_range in [
        ("bytes=2-5", b"2345", "bytes 2-5/10"),
        ("bytes=7-", b"789", "bytes 7-9/10"),
        ("bytes=-3", b"789", "bytes 7-9/10"),
        ("bytes=8-100", b"89", "bytes 8-9/10"),
    ]:
        reply = await alice.call("GET", path, headers={"Range": spec})
        assert (reply.status, reply.body) == (206, expected), spec
        assert reply.headers["Content-Range"] == content_range
    for spec in ("bytes=10-", "bytes=5-2", "bytes=-0"):
        reply = await alice.call("GET", path, headers={"Range": spec})
        assert (reply.status, reply.code) == (416, "range_not_satisfiable"), spec
        assert reply.headers["Content-Range"] == "bytes */10"
    reply = await alice.call("GET", path, headers={"Range": "bytes=0-1", "If-Range": '"old"'})
    assert (reply.status, reply.body) == (200, data)


async def test_big_download_is_byte_exact_whole_and_in_ranges(srv: Srv) -> None:
    """A file of several MiB (sent in several sendfile pieces from a local blob, streamed
    from S3) comes back byte-exact whole, in ranges across piece boundaries, and as a
    resumed tail (Range + matching If-Range); HEAD sends no body."""
    alice = srv.user("alice")
    folder = await alice.folder()
    data = random.Random(7).randbytes(6 * MiB + 123)
    file = await alice.upload(folder, "clip.mp4", data)
    path, etag = f"/v1/files/{file['id']}/content", f'"{file["sha256"]}"'
    reply = await alice.call("GET", path)
    assert (reply.status, len(reply.body)) == (200, len(data))
    assert reply.body == data
    for first, last in [(MiB - 1, 3 * MiB), (0, 0), (5 * MiB, len(data) - 1), (4097, 4097)]:
        reply = await alice.call("GET", path, headers={"Range": f"bytes={first}-{last}"})
        assert (reply.status, reply.body) == (206, data[first : last + 1]), (first, last)
    reply = await alice.call("GET", path, headers={"Range": "bytes=-1000001"})
    assert (reply.status, reply.body) == (206, data[-1000001:])
    reply = await alice.call("GET", path, headers={"Range": "bytes=2000000-", "If-Range": etag})
    assert (reply.status, reply.body) == (206, data[2000000:])
    reply = await alice.call("HEAD", path)
    assert (reply.status, reply.body) == (200, b"")
    assert reply.headers["Content-Length"] == str(len(data))


async def test_batch_read_is_byte_exact_from_either_blob_store(srv: Srv) -> None:
    """The batch route reads small blobs (local: all in one worker hop; S3: streamed) and
    answers each file byte-exact in the order asked, a missing id answered on its own."""
    alice = srv.user("alice")
    folder = await alice.folder()
    datas = [random.Random(i).randbytes(i * 999) for i in range(5)]
    ids = [(await alice.upload(folder, f"{i}.jpg", d))["id"] for i, d in enumerate(datas)]
    reply = await alice.call("POST", "/v1/files:batch-read", json={"ids": [*ids, "fi_gone"]})
    assert reply.status == 200, reply.body
    decoder = FrameDecoder(BATCH_MAX_BYTES)
    frames = decoder.feed(reply.body)
    decoder.finish()
    assert [f.header["status"] for f in frames] == [200] * 5 + [404]
    assert [f.payload for f in frames[:5]] == datas


async def test_rename_move_and_conflicts(srv: Srv) -> None:
    alice = srv.user("alice")
    one, two = await alice.folder("One"), await alice.folder("Two")
    file = await alice.upload(one, "a.jpg", b"a")
    await alice.upload(two, "taken.jpg", b"t")
    path = f"/v1/files/{file['id']}"
    reply = await alice.call("PATCH", path, json={"name": "b.png"})
    assert reply.status == 200 and (reply.json["name"], reply.json["mime"]) == (
        "b.png",
        "image/png",
    )
    assert reply.json["rev"] == 2
    reply = await alice.call("PATCH", path, json={"folder_id": two}, headers={"If-Match": '"1"'})
    assert (reply.status, reply.code) == (412, "rev_mismatch")
    reply = await alice.call("PATCH", path, json={"folder_id": two, "name": "TAKEN.jpg"})
    assert (reply.status, reply.code) == (409, "name_taken")
    reply = await alice.call("PATCH", path, json={"folder_id": two}, headers={"If-Match": '"2"'})
    assert reply.status == 200 and reply.json["folder_id"] == two and reply.json["rev"] == 3
    assert (await alice.call("PATCH", path, json={"folder_id": "fo_x"})).status == 404
    assert (await alice.call("PATCH", path, json={"name": "../x"})).code == "invalid_name"
    assert (await alice.call("PATCH", path, json={})).code == "bad_request"
    assert (await alice.call("PATCH", "/v1/files/fi_x", json={"name": "y"})).status == 404


async def test_delete_file_and_shared_blobs(srv: Srv) -> None:
    alice = srv.user("alice")
    folder = await alice.folder()
    a = await alice.upload(folder, "a.jpg", b"same")
    b = await alice.upload(folder, "b.jpg", b"same")
    assert blobs(srv) == [a["sha256"]]  # stored once
    assert (await alice.call("GET", "/v1/account")).json["quota"]["used_bytes"] == 8
    reply = await alice.call("DELETE", f"/v1/files/{a['id']}", headers={"If-Match": '"5"'})
    assert (reply.status, reply.code) == (412, "rev_mismatch")
    reply = await alice.call("DELETE", f"/v1/files/{a['id']}", headers={"If-Match": '"1"'})
    assert reply.status == 204
    assert blobs(srv) == [a["sha256"]]  # still referenced by b
    assert (await alice.call("DELETE", f"/v1/files/{b['id']}")).status == 204
    assert blobs(srv) == [a["sha256"]]  # kept while the trash entries refer to it
    await alice.call("POST", "/v1/_test/purge-trash", json={"older_than_s": 0})
    assert blobs(srv) == []
    assert (await alice.call("GET", "/v1/account")).json["quota"]["used_bytes"] == 0
    assert (await alice.call("DELETE", f"/v1/files/{b['id']}")).status == 404


async def test_list_files_pages(srv: Srv) -> None:
    alice = srv.user("alice")
    folder = await alice.folder()
    ids = {(await alice.upload(folder, f"f{i}.txt", b"x"))["id"] for i in range(5)}
    seen: set[str] = set()
    after = ""
    for _ in range(10):
        page = (await alice.call("GET", f"/v1/folders/{folder}/files?limit=2&after={after}")).json
        assert len(page["files"]) <= 2
        seen |= {f["id"] for f in page["files"]}
        if page["next_after"] is None:
            break
        after = page["next_after"]
    assert seen == ids
    assert (await alice.call("GET", f"/v1/folders/{folder}/files?limit=0")).code == "bad_request"
    assert (await alice.call("GET", "/v1/folders/fo_x/files")).code == "not_found"


async def test_zero_byte_file(srv: Srv) -> None:
    alice = srv.user("alice")
    folder = await alice.folder()
    file = await alice.upload(folder, "empty.txt", b"")
    reply = await alice.call("GET", f"/v1/files/{file['id']}/content")
    assert (reply.status, reply.body) == (200, b"")


async def test_head_of_content_sends_headers_only(srv: Srv) -> None:
    alice = srv.user("alice")
    folder = await alice.folder()
    file = await alice.upload(folder, "a.pdf", b"%PDF-1.4 tiny")
    reply = await alice.call("HEAD", f"/v1/files/{file['id']}/content")
    assert reply.status == 200 and reply.body == b""
    assert reply.headers["Content-Length"] == "13"
    assert reply.headers["Content-Type"] == "application/pdf"
