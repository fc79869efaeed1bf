"""Request handling against the real server subprocess over raw sockets: `Expect:
100-continue` answered with the final status first, names decoded from the raw path as
UTF-8, every error (aiohttp's own included) as the JSON body, Repr-Digest as an RFC 8941
dictionary, oversized JSON bodies refused at once."""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.support.rawhttp import Conn
from tests.support.server import Api, ApiFailure, ServerProcess, start_server

MiB = 1 << 20


@dataclass
class Lib:
    server: ServerProcess
    token: str
    folder: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def api(self) -> Api:
        return Api(self.server.url, self.token)


@pytest.fixture(scope="module")
def lib(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lib]:
    with start_server(tmp_path_factory.mktemp("req") / "srv") as server:
        token = server.add_user("alice", quota="10MiB", max_file="4MiB")
        folder = Api(server.url, token).create_folder("Campaign")["id"]
        yield Lib(server, token, folder)


def _put_expect(lib: Lib, name: str, length: int, headers: dict[str, str]) -> Conn:
    conn = Conn(lib.server.url)
    conn.request_head(
        "PUT",
        f"/v1/folders/{lib.folder}/files/{name}",
        {"Content-Length": str(length), "Expect": "100-continue", **headers},
    )
    return conn


@pytest.mark.parametrize(
    ("length", "auth", "folder", "status", "code"),
    [
        (11 * MiB // 2, True, None, 413, "file_too_large"),  # above max_file (4 MiB)
        (4 * MiB, True, None, 0, ""),  # fits: 100 Continue
        (100, False, None, 401, "unauthorized"),
        (100, True, "fo_nope", 404, "not_found"),
    ],
)
def test_expect_continue_gets_the_final_answer_first(
    lib: Lib, length: int, auth: bool, folder: str | None, status: int, code: str
) -> None:
    headers = lib.auth if auth else {}
    conn = Conn(lib.server.url)
    conn.request_head(
        "PUT",
        f"/v1/folders/{folder or lib.folder}/files/x.bin",
        {"Content-Length": str(length), "Expect": "100-continue", **headers},
    )
    first = conn.read_answer()
    if status == 0:
        assert first.status == 100
        return
    assert (first.status, first.code) == (status, code), "no 100 Continue before a refusal"
    assert first.headers["connection"] == "close"


def test_expect_continue_507_before_the_body_then_upload_after_100(lib: Lib) -> None:
    api = lib.api()
    big = api.upload(lib.folder, "big.bin", b"b" * (4 * MiB))
    api.upload(lib.folder, "big2.bin", b"c" * (4 * MiB))
    try:
        refused = _put_expect(lib, "more.bin", 3 * MiB, lib.auth).read_answer()
        assert (refused.status, refused.code) == (507, "quota_exceeded")
        assert refused.json["error"]["needed_bytes"] == 3 * MiB
        data = b"ok" * 1000
        conn = _put_expect(lib, "fits.bin", len(data), lib.auth)
        assert conn.read_answer().status == 100
        conn.send(data)
        done = conn.read_answer()
        assert done.status == 201 and done.json["size"] == len(data)
    finally:
        for file in api.files(lib.folder):
            if file["id"] != big["id"]:
                api.delete_file(file["id"])
        api.delete_file(big["id"])


def test_unknown_expectation_is_417_in_json(lib: Lib) -> None:
    conn = Conn(lib.server.url)
    conn.request_head("GET", "/v1/health", {"Expect": "something-else"})
    reply = conn.read_answer()
    assert reply.status == 417 and reply.code == "bad_request"


def test_invalid_utf8_name_is_refused_not_stored_literally(lib: Lib) -> None:
    api = lib.api()
    for raw in ("%ff%fe.txt", "caf%e9.txt", "a%2Fb.txt"):
        with pytest.raises(ApiFailure) as caught:
            api.request("PUT", f"/v1/folders/{lib.folder}/files/{raw}", b"x")
        assert (caught.value.status, caught.value.code) == (400, "invalid_name"), raw
    stored = api.request("PUT", f"/v1/folders/{lib.folder}/files/%25ff%25fe.txt", b"y")
    assert stored[0] == 201
    names = [f["name"] for f in api.files(lib.folder)]
    assert names.count("%ff%fe.txt") == 1 and "a/b.txt" not in names
    uni = api.request("PUT", f"/v1/folders/{lib.folder}/files/caf%C3%A9.txt", b"z")
    assert uni[0] == 201 and "café.txt" in [f["name"] for f in api.files(lib.folder)]


def test_405_is_json_with_allow(lib: Lib) -> None:
    conn = Conn(lib.server.url)
    conn.request_head("TRACE", "/v1/health", {})
    reply = conn.read_answer()
    assert (reply.status, reply.code) == (405, "method_not_allowed")
    assert set(reply.headers["allow"].split(",")) >= {"GET", "HEAD"}
    assert reply.headers["content-type"].startswith("application/json")


@pytest.mark.parametrize(
    "head",
    [
        b"GET /v1/health HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\n",
        b"GET /v1/health HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        b"GET /v1/health HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n",
        b"NOT-HTTP\r\n\r\n",
    ],
)
def test_malformed_framing_is_a_json_400(lib: Lib, head: bytes) -> None:
    conn = Conn(lib.server.url)
    conn.send(head)
    reply = conn.read_answer()
    assert (reply.status, reply.code) == (400, "bad_request")
    assert reply.json["error"]["message"].startswith("malformed request")


def test_json_body_over_the_limit_is_413_at_once(lib: Lib) -> None:
    big = Conn(lib.server.url)
    big.request_head("POST", "/v1/folders", {**lib.auth, "Content-Length": str(2 * MiB)})
    assert big.read_answer().code == "body_too_large", "decided by Content-Length alone"
    conn = Conn(lib.server.url)
    conn.request_head("POST", "/v1/folders", {**lib.auth, "Transfer-Encoding": "chunked"})
    started = time.monotonic()
    chunk = b"10000\r\n" + b" " * 0x10000 + b"\r\n"
    reply = None
    try:
        while time.monotonic() - started < 15:  # a client that never stops sending
            conn.send(chunk)
            if reply is None:
                conn.sock.setblocking(False)
                try:
                    conn._fill()
                    reply = conn.read_answer()
                except (BlockingIOError, ConnectionError):
                    pass
                conn.sock.setblocking(True)
    except OSError:
        pass  # closed by the server while we were still sending
    elapsed = time.monotonic() - started
    assert elapsed < 5, f"the server kept reading the refused body for {elapsed:.1f} s"
    if reply is not None:
        assert (reply.status, reply.code) == (413, "body_too_large")


def _digest(algorithm: str, data: bytes) -> str:
    return base64.b64encode(hashlib.new(algorithm.replace("-", ""), data).digest()).decode()


def _put(lib: Lib, name: str, data: bytes, digest: str | None) -> tuple[int, str | None, dict]:
    headers = {} if digest is None else {"Repr-Digest": digest}
    try:
        status, hdrs, _ = lib.api().request(
            "PUT", f"/v1/folders/{lib.folder}/files/{name}", data, headers
        )
        return status, None, hdrs
    except ApiFailure as failure:
        return failure.status, failure.code, failure.headers


def test_repr_digest_is_an_rfc8941_dictionary(lib: Lib) -> None:
    data = b"the photo bytes"
    right, wrong = _digest("sha-256", data), _digest("sha-256", b"other")
    right512, wrong512 = _digest("sha-512", data), _digest("sha-512", b"other")
    cases = [
        ("two-last-wrong", f"sha-256=:{right}:, sha-256=:{wrong}:", 400, "digest_mismatch"),
        ("two-last-right", f"sha-256=:{wrong}:, sha-256=:{right}:", 201, None),
        ("garbage", "this is not a digest", 400, "bad_request"),
        ("sha512-right", f"sha-512=:{right512}:", 201, None),
        ("sha512-wrong", f"sha-512=:{wrong512}:", 400, "digest_mismatch"),
        ("both-512-wrong", f"sha-256=:{right}:, sha-512=:{wrong512}:", 400, "digest_mismatch"),
        ("unknown-only", "md5=:AAAAAAAAAAAAAAAAAAAAAA==:, foo=1", 400, "bad_request"),
        ("unknown-ignored", f'foo="x", sha-256=:{right}:;p=1', 201, None),
    ]
    api = lib.api()
    for name, header, status, code in cases:
        got_status, got_code, _ = _put(lib, f"{name}.jpg", data, header)
        assert (got_status, got_code) == (status, code), name
        stored = name in [f["name"].removesuffix(".jpg") for f in api.files(lib.folder)]
        assert stored == (status == 201), f"{name}: stored={stored}"
    status, _, headers = _put(lib, "no-digest.jpg", data, None)
    assert status == 201 and headers["Repr-Digest"] == f"sha-256=:{right}:"
