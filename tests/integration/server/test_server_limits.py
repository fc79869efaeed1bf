"""Connection limits of the real `syncd serve` subprocess, probed with raw sockets: header
timeout, idle keep-alive, body timeout (a stalled upload releases its quota), the answer
stall timeout (sendfile too), clients cut mid-answer, the connection cap and the open-files
limit. Timeouts are set to 1-2 s."""

from __future__ import annotations

import contextlib
import hashlib
import random
import socket
import struct
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.rawhttp import Conn
from tests.support.server import Api, ServerProcess, start_server

MiB = 1 << 20
FAST = ["--header-timeout", "1", "--idle-timeout", "2", "--body-timeout", "1"]


@pytest.fixture
def fast_server(tmp_path: Path) -> Iterator[ServerProcess]:
    with start_server(tmp_path / "srv", args=FAST) as server:
        yield server


def _health(url: str, timeout_s: float = 5) -> int:
    with urllib.request.urlopen(url + "/v1/health", timeout=timeout_s) as resp:
        return int(resp.status)


def test_silent_and_half_header_connections_are_closed(fast_server: ServerProcess) -> None:
    silent = [Conn(fast_server.url) for _ in range(10)]
    half = [Conn(fast_server.url) for _ in range(10)]
    for conn in half:
        conn.send(b"GET /v1/health HTTP/1.1\r\nHost: test\r\nX-Slow: ")
    started = time.monotonic()
    for conn in silent + half:
        assert conn.closed_within(3), "the server kept a connection without headers open"
    assert time.monotonic() - started < 3
    for conn in silent:
        assert conn.buffer == b"", "nothing was asked: closed without an answer"
    for conn in half:
        reply = conn.read_answer()  # from what arrived before the close
        assert (reply.status, reply.code) == (408, "request_timeout")
        assert reply.headers["connection"] == "close"
    assert _health(fast_server.url) == 200


def test_trickled_headers_do_not_extend_the_header_timeout(fast_server: ServerProcess) -> None:
    conn = Conn(fast_server.url)
    started = time.monotonic()
    with contextlib.suppress(OSError):
        for byte in b"GET /v1/health HTTP/1.1\r\nHost: test\r\nX-Slow: aaaaaaaaaaaaaaaaaaaa":
            conn.send(bytes([byte]))
            time.sleep(0.1)
            if time.monotonic() - started > 3:
                break
    assert conn.closed_within(1)
    assert time.monotonic() - started < 2.5
    assert conn.read_answer().status == 408


def test_keep_alive_idles_for_the_idle_timeout_then_closes(fast_server: ServerProcess) -> None:
    conn = Conn(fast_server.url)
    for _ in range(2):  # the header timer re-arms for the second request and is met
        conn.request_head("GET", "/v1/health", {})
        assert conn.read_answer().status == 200
        time.sleep(0.3)
    started = time.monotonic()
    assert not conn.closed_within(1.4), "an idle keep-alive is not cut at the header timeout"
    assert conn.closed_within(2)
    assert 1.4 <= time.monotonic() - started < 3.5
    assert conn.buffer == b""


def test_stalled_upload_is_aborted_and_releases_its_reservation(tmp_path: Path) -> None:
    with start_server(tmp_path / "srv", args=FAST) as server:
        token = server.add_user("alice", quota="50MiB", max_file="50MiB")
        folder = Api(server.url, token).create_folder("Campaign")["id"]
        auth = {"Authorization": f"Bearer {token}"}
        path = f"/v1/folders/{folder}/files"
        stalled = Conn(server.url)
        stalled.request_head("PUT", f"{path}/big.mp4", {**auth, "Content-Length": str(40 * MiB)})
        stalled.send(b"0123456789")
        time.sleep(0.2)
        probe = Conn(server.url)
        probe.request_head(
            "PUT",
            f"{path}/small.mp4",
            {**auth, "Content-Length": str(15 * MiB), "Expect": "100-continue"},
        )
        assert probe.read_answer().code == "quota_exceeded", "the stalled upload holds 40 MiB"
        assert stalled.closed_within(3)
        reply = stalled.read_answer()
        assert (reply.status, reply.code) == (408, "request_timeout")
        assert list((server.data_dir / "tmp").iterdir()) == [], "the temp file was removed"
        data = b"v" * (15 * MiB)
        created = Api(server.url, token).upload(folder, "small.mp4", data)
        assert created["size"] == len(data)


def test_client_that_reads_nothing_of_a_download_is_dropped(tmp_path: Path) -> None:
    with start_server(tmp_path / "srv", args=FAST) as server:
        token = server.add_user("alice", quota="200MiB", max_file="100MiB")
        api = Api(server.url, token)
        folder = api.create_folder("Campaign")["id"]
        file = api.upload(folder, "clip.mp4", b"z" * (64 * MiB))
        conn = Conn(server.url)
        conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        auth = {"Authorization": f"Bearer {token}"}
        conn.request_head("GET", f"/v1/files/{file['id']}/content", auth)
        deadline = time.monotonic() + 10
        while '"phase": "answer"' not in server.log() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert '"phase": "answer"' in server.log(), "the stalled reader was not dropped"
        assert conn.closed_within(3), "reset, not fed the rest of 64 MiB"
        assert len(conn.buffer) < 16 * MiB
        conn.close()
        assert _health(server.url) == 200


def test_clients_cut_mid_download_leave_the_server_healthy(tmp_path: Path) -> None:
    """Clients that reset the connection in the middle of a big answer (sent with sendfile)
    cost the server nothing lasting: no error logged, and the next download is byte-exact."""
    with start_server(tmp_path / "srv", args=FAST) as server:
        token = server.add_user("alice", quota="200MiB", max_file="100MiB")
        api = Api(server.url, token)
        folder = api.create_folder("Campaign")["id"]
        data = random.Random(3).randbytes(48 * MiB)
        file = api.upload(folder, "clip.mp4", data)
        auth = {"Authorization": f"Bearer {token}"}
        for offset in (0, 7 * MiB):
            conn = Conn(server.url)
            conn.request_head(
                "GET", f"/v1/files/{file['id']}/content", {**auth, "Range": f"bytes={offset}-"}
            )
            while len(conn.buffer) < 2 * MiB:
                conn._fill()
            conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()  # a reset while the server is mid-body
        assert _health(server.url) == 200
        assert hashlib.sha256(api.download(file["id"])).digest() == hashlib.sha256(data).digest()
        assert "request_failed" not in server.log() and "Traceback" not in server.log()


def test_connections_over_the_cap_get_503_then_service_resumes(tmp_path: Path) -> None:
    args = ["--max-connections", "5", "--header-timeout", "2"]
    with start_server(tmp_path / "srv", args=args) as server:
        held = [Conn(server.url) for _ in range(5)]
        time.sleep(0.2)
        extra = Conn(server.url)
        extra.request_head("GET", "/v1/health", {})
        reply = extra.read_answer()
        assert (reply.status, reply.code) == (503, "unavailable")
        assert reply.headers["retry-after"] == "5" and reply.headers["connection"] == "close"
        assert extra.closed_within(2)
        for conn in held:
            assert conn.closed_within(3)  # reaped by the header timeout
        assert _health(server.url) == 200


def test_open_files_limit_lowers_the_cap_instead_of_failing(tmp_path: Path) -> None:
    """Under a low `ulimit -n`, a few dozen idle sockets once made /v1/health hang and
    filled the log with 'Too many open files' tracebacks. Now the cap fits the limit (here
    256 -> 32 connections): the rest get 503 at once and the server stays reachable."""
    args = ["--header-timeout", "2"]
    with start_server(tmp_path / "srv", args=args, open_files=256) as server:
        idle = [Conn(server.url) for _ in range(300)]
        time.sleep(0.3)
        started = time.monotonic()
        extra = Conn(server.url)
        extra.request_head("GET", "/v1/health", {})
        assert extra.read_answer().status == 503
        assert time.monotonic() - started < 2, "refused at once, not left hanging"
        for conn in idle:
            conn.closed_within(4)
            conn.close()
        assert _health(server.url) == 200
        log = server.log()
        assert "max_connections_lowered" in log
        # A flood may still catch accept() between two bursts (asyncio retries a second
        # later): one line per 10 s at most, never the traceback per attempt of before.
        assert "Traceback" not in log and "out of system resource" not in log
        assert log.count("accept_failed") <= 1
