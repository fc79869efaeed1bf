"""A single-file download (transfer.fetch_file) against the real server: the body is received
in a worker thread (stream.py) and written with O_DIRECT (tempwrite.py). A cut download
resumes at the 4 KiB boundary before the temp file's end, a cancelled one stops writing before
its temp file is removed, a full disk is reported as such, not retried as a network fault, and
over https the server's certificate is checked."""

from __future__ import annotations

import asyncio
import errno
import os
import shutil
import ssl
import subprocess
import time
from pathlib import Path

import pytest

from syncd.errors import StaleError, TransportError
from syncd.protocol import File
from syncd.sync import stream
from syncd.sync.client import ApiClient
from syncd.sync.remote import remote_file
from syncd.sync.transfer import fetch_file, temp_path_for
from tests.support.mounts import mounted_tmpfs
from tests.support.proxy import FaultProxy
from tests.support.server import Api, ServerProcess

MiB = 1024 * 1024


def _uploaded(server: ServerProcess, size: int) -> tuple[str, Api, File, bytes]:
    token = server.add_user("alice")
    api = Api(server.url, token)
    folder = api.create_folder("Alice")
    data = os.urandom(size)
    return token, api, File.model_validate(api.upload(folder["id"], "clip.mp4", data)), data


def test_a_cut_download_resumes_from_the_last_4k_boundary(
    server: ServerProcess, tmp_path: Path
) -> None:
    size, kept = 3 * MiB + 123, 1_000_005  # what a cut left: not on a 4 KiB boundary
    token, api, file, data = _uploaded(server, size)
    remote = remote_file(file, "Alice")
    target = tmp_path / "clip.mp4"
    temp_path_for(target, remote.file_id).write_bytes(data[:kept])
    before = api.counters()["download_bytes"]

    async def fetch() -> Path:
        async with ApiClient(server.url, token) as client:
            return (await fetch_file(client, remote, target, None)).temp

    temp = asyncio.run(fetch())
    assert temp.read_bytes() == data
    assert temp.stat().st_mtime_ns == remote.mtime_ns
    # The unaligned tail (1_000_005 % 4096 bytes) is fetched again, and nothing before it.
    assert api.counters()["download_bytes"] - before == size - (kept - kept % 4096)


def test_a_resume_over_wrong_bytes_fails_the_digest_and_drops_the_temp(
    server: ServerProcess, tmp_path: Path
) -> None:
    token, _api, file, data = _uploaded(server, 2 * MiB)
    remote = remote_file(file, "Alice")
    target = tmp_path / "clip.mp4"
    temp = temp_path_for(target, remote.file_id)
    temp.write_bytes(bytes(b ^ 1 for b in data[:8192]))  # a temp of other content

    async def fetch() -> None:
        async with ApiClient(server.url, token) as client:
            await fetch_file(client, remote, target, None)

    with pytest.raises(StaleError, match="digest"):
        asyncio.run(fetch())
    assert not temp.exists()


def test_a_cancelled_download_stops_writing_before_its_temp_file_goes(
    server: ServerProcess, tmp_path: Path
) -> None:
    token, _api, file, _data = _uploaded(server, 8 * MiB)
    remote = remote_file(file, "Alice")
    root = tmp_path / "root"
    root.mkdir()
    target = root / "clip.mp4"
    temp = temp_path_for(target, remote.file_id)
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    with FaultProxy(host, int(port)) as proxy:
        proxy.state.rate_bytes_per_s = 2 * MiB

        async def fetch_then_cancel() -> None:
            async with ApiClient(proxy.url, token) as client:
                task = asyncio.create_task(fetch_file(client, remote, target, None))
                while not (temp.exists() and temp.stat().st_size >= MiB):
                    await asyncio.sleep(0.01)
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
                assert not temp.exists(), "cancelled, the temp file is removed"
                await asyncio.sleep(1.0)  # a receiving thread still running would write again

        asyncio.run(fetch_then_cancel())
    assert list(root.iterdir()) == []


def test_a_full_disk_is_reported_not_retried(server: ServerProcess, tmp_path: Path) -> None:
    token, api, file, _data = _uploaded(server, 6 * MiB)
    remote = remote_file(file, "Alice")
    disk = tmp_path / "disk"
    with mounted_tmpfs(disk, "2m"):
        target = disk / "clip.mp4"
        before = api.counters()["requests"].get("file_content", 0)

        async def fetch() -> None:
            async with ApiClient(server.url, token) as client:
                await fetch_file(client, remote, target, None)

        started = time.monotonic()
        with pytest.raises(OSError) as caught:
            asyncio.run(fetch())
        assert caught.value.errno == errno.ENOSPC, "as it is: not a TransportError"
        gets = api.counters()["requests"]["file_content"] - before
        assert gets == 1, "one GET, no retry"
        assert time.monotonic() - started < 10
        assert list(disk.iterdir()) == [], "the partial temp file is dropped"


def _self_signed(folder: Path) -> tuple[Path, Path]:
    cert, key = folder / "cert.pem", folder / "key.pem"
    request = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
    names = ["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"]
    files = ["-keyout", str(key), "-out", str(cert)]
    subprocess.run([*request, *names, *files], check=True, capture_output=True)
    return cert, key


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_a_download_over_https_checks_the_server_certificate(
    server: ServerProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The receiving thread's own connection speaks TLS with the system's trust (here a CA
    given by SSL_CERT_FILE, as for any OpenSSL client), and refuses a server it cannot trust."""
    token, _api, file, data = _uploaded(server, 3 * MiB + 5)
    remote = remote_file(file, "Alice")
    cert, key = _self_signed(tmp_path)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    root = tmp_path / "root"
    root.mkdir()

    async def fetch(url: str) -> Path:
        async with ApiClient(url, token) as client:
            return (await fetch_file(client, remote, root / "clip.mp4", None)).temp

    with FaultProxy(host, int(port), tls=tls) as proxy:
        monkeypatch.setattr(stream, "_TLS", [])  # a context made before would not know the CA
        with pytest.raises(TransportError, match="CERTIFICATE_VERIFY_FAILED"):
            asyncio.run(fetch(proxy.url))
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))
        monkeypatch.setattr(stream, "_TLS", [])
        assert asyncio.run(fetch(proxy.url)).read_bytes() == data
