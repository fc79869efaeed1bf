"""The real `syncd serve` subprocess: server.json, SIGTERM drains and exits 0, the admin CLI
works while the server runs (quota and token changes apply at once)."""

from __future__ import annotations

import json
import signal
import threading
import time
import urllib.error
import urllib.request

import pytest

from tests.support.server import Api, ApiFailure, ServerProcess


def test_server_json_and_health(server_process: ServerProcess) -> None:
    info = json.loads((server_process.data_dir / "server.json").read_text())
    assert info["url"] == server_process.url and info["url"].startswith("http://127.0.0.1:")
    assert info["pid"] == server_process.proc.pid
    assert "server_started" in server_process.log()


def test_admin_cli_while_running(server_process: ServerProcess) -> None:
    token = server_process.add_user("alice", quota="1KiB")
    api = Api(server_process.url, token)
    folder = api.create_folder("F")["id"]
    api.upload(folder, "a.bin", b"x" * 1000)
    with pytest.raises(ApiFailure) as over:
        api.upload(folder, "b.bin", b"x" * 100)
    assert over.value.status == 507
    server_process.set_quota("alice", "2KiB")
    api.upload(folder, "b.bin", b"x" * 100)  # the new limit applies at once
    assert api.account()["quota"]["limit_bytes"] == 2048
    listing = server_process.admin("list-users")
    assert "alice" in listing and "2.0 KiB" in listing
    new_token = server_process.rotate_token("alice")
    with pytest.raises(ApiFailure) as old:
        api.account()
    assert old.value.status == 401
    assert Api(server_process.url, new_token).account()["user"]["name"] == "alice"
    assert token not in server_process.log() and new_token not in server_process.log()


def test_unexpected_failure_logs_the_route_not_a_share_links_secret(
    server_process: ServerProcess,
) -> None:
    """A bug met while serving `/s/<token>` is logged with the route's pattern: the link's
    secret (the path) never reaches the log."""
    token = server_process.add_user("alice")
    api = Api(server_process.url, token)
    folder = api.create_folder("F")["id"]
    file_id = api.upload(folder, "a.bin", b"shared")["id"]
    link = api.json("POST", f"/v1/files/{file_id}/links", {"expires_in_s": 600})["url"]
    secret = link.rsplit("/", 1)[1]
    api.json("POST", "/v1/_test/faults", {"count": 1, "path_prefix": "/s/", "unexpected": True})
    with pytest.raises(urllib.error.HTTPError) as failed:
        urllib.request.urlopen(link, timeout=10)
    assert failed.value.code == 500
    log = server_process.log()
    assert "request_failed" in log and "/s/{token}" in log
    assert secret not in log


def test_sigterm_finishes_in_flight_request_and_exits_0(server_process: ServerProcess) -> None:
    token = server_process.add_user("alice")
    api = Api(server_process.url, token)
    folder = api.create_folder("F")["id"]
    api.json("POST", "/v1/_test/delay", {"ms": 1500, "count": 1})
    result: dict[str, object] = {}

    def slow_upload() -> None:
        try:
            result["file"] = api.upload(folder, "slow.bin", b"s" * 1000)
        except Exception as exc:  # reported below
            result["error"] = exc

    worker = threading.Thread(target=slow_upload)
    worker.start()
    time.sleep(0.5)  # let the request reach the server (not an assertion)
    started = time.monotonic()
    assert server_process.stop(signal.SIGTERM) == 0
    worker.join(timeout=20)
    assert "error" not in result, result.get("error")
    assert result["file"]["size"] == 1000  # type: ignore[index]
    assert time.monotonic() - started < 12
    assert "server_stopped" in server_process.log()
    server_process.start()  # the data survived the shutdown
    assert Api(server_process.url, token).files(folder)[0]["name"] == "slow.bin"


def test_sigterm_releases_long_polls(server_process: ServerProcess) -> None:
    api = Api(server_process.url, server_process.add_user("alice"))
    cursor = api.changes(0)["cursor"]
    result: dict[str, object] = {}
    worker = threading.Thread(target=lambda: result.update(page=api.changes(cursor, wait_s=60)))
    worker.start()
    time.sleep(0.5)  # let the poll park (not an assertion)
    started = time.monotonic()
    assert server_process.stop(signal.SIGTERM) == 0
    worker.join(timeout=20)
    assert time.monotonic() - started < 5
    assert result["page"]["changes"] == []  # type: ignore[index]
