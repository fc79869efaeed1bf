"""Runs the real library server (`python -m syncd serve --port 0 --test-hooks`) as a subprocess
for integration and e2e tests, and `Api`, a small synchronous client for arranging a library
(create folders, upload, delete) with a token.

Usage:
    with start_server(tmp_path / "srv") as server:
        token = server.add_user("alice", quota="100MiB")
        api = Api(server.url, token)
        folder = api.create_folder("Campaign")
        api.upload(folder["id"], "a.jpg", b"...")

`Api` is synchronous (urllib): use it against a subprocess server (or from a thread). For
an in-process server inside an event loop, use aiohttp's client instead.
Set SYNCD_TEST_CLI_MODULE=syncd.server to run the server-only entry point.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import resource
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 30.0


def _cli() -> list[str]:
    return [sys.executable, "-m", os.environ.get("SYNCD_TEST_CLI_MODULE", "syncd")]


class ApiFailure(Exception):
    """An HTTP error answer: `.status` and the parsed `.body` (`{"error": {...}}`)."""

    def __init__(self, status: int, body: Any, headers: dict[str, str]) -> None:
        super().__init__(f"HTTP {status}: {body}")
        self.status = status
        self.body = body
        self.headers = headers

    @property
    def code(self) -> str | None:
        if isinstance(self.body, dict) and isinstance(self.body.get("error"), dict):
            return str(self.body["error"].get("code"))
        return None


class Api:
    """Synchronous client of API v1 for tests. Methods return parsed JSON (dicts)."""

    def __init__(self, url: str, token: str, timeout_s: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.timeout_s = timeout_s

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        """Raw request; raises ApiFailure on an HTTP error status."""
        all_headers = {"Authorization": f"Bearer {self.token}", **(headers or {})}
        req = urllib.request.Request(self.url + path, data=body, method=method, headers=all_headers)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                return resp.status, dict(resp.headers), resp.read()
        except urllib.error.HTTPError as err:
            raw = err.read()
            try:
                parsed: Any = json.loads(raw)
            except ValueError:
                parsed = raw
            raise ApiFailure(err.code, parsed, dict(err.headers)) from None

    def json(
        self, method: str, path: str, payload: Any = None, headers: dict[str, str] | None = None
    ) -> Any:
        body = None if payload is None else json.dumps(payload).encode()
        hdrs = {"Content-Type": "application/json", **(headers or {})}
        _, _, raw = self.request(method, path, body, hdrs)
        return json.loads(raw) if raw else None

    def account(self) -> dict[str, Any]:
        return self.json("GET", "/v1/account")

    def folders(self) -> list[dict[str, Any]]:
        return self.json("GET", "/v1/folders")["folders"]

    def create_folder(self, name: str) -> dict[str, Any]:
        return self.json("POST", "/v1/folders", {"name": name})

    def delete_folder(self, folder_id: str) -> None:
        self.request("DELETE", f"/v1/folders/{folder_id}")

    def files(self, folder_id: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        after = ""
        while True:
            page = self.json("GET", f"/v1/folders/{folder_id}/files?limit=5000&after={after}")
            out += page["files"]
            if not page["next_after"]:
                return out
            after = page["next_after"]

    def upload(
        self,
        folder_id: str,
        name: str,
        data: bytes,
        *,
        mtime_ns: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        digest = base64.b64encode(hashlib.sha256(data).digest()).decode()
        hdrs = {"Repr-Digest": f"sha-256=:{digest}:", "Content-Type": "application/octet-stream"}
        if mtime_ns is not None:
            hdrs["X-Syncd-Mtime-Ns"] = str(mtime_ns)
        hdrs.update(headers or {})
        quoted = urllib.parse.quote(name, safe="")
        _, _, raw = self.request("PUT", f"/v1/folders/{folder_id}/files/{quoted}", data, hdrs)
        return json.loads(raw)

    def download(self, file_id: str) -> bytes:
        return self.request("GET", f"/v1/files/{file_id}/content")[2]

    def delete_file(self, file_id: str) -> None:
        self.request("DELETE", f"/v1/files/{file_id}")

    def changes(self, cursor: int = 0, limit: int = 1000, wait_s: int = 0) -> dict[str, Any]:
        return self.json("GET", f"/v1/changes?cursor={cursor}&limit={limit}&wait={wait_s}")

    def counters(self) -> dict[str, Any]:
        return self.json("GET", "/v1/_test/counters")

    def inject_fault(
        self,
        status: int = 503,
        count: int = 1,
        retry_after_s: float = 1,
        path_prefix: str = "/v1/files",
    ) -> None:
        self.json(
            "POST",
            "/v1/_test/faults",
            {
                "status": status,
                "count": count,
                "retry_after_s": retry_after_s,
                "path_prefix": path_prefix,
            },
        )

    def delay(self, ms: int, count: int = 1, path_prefix: str = "/v1", after: bool = False) -> None:
        """The next `count` requests under path_prefix wait `ms` before they are handled (or,
        `after`, once handled and committed, before they are answered)."""
        body = {"ms": ms, "count": count, "path_prefix": path_prefix, "after": after}
        self.json("POST", "/v1/_test/delay", body)

    def compact(self, keep: int = 0) -> None:
        self.json("POST", "/v1/_test/compact", {"keep": keep})


class ServerProcess:
    """A running `syncd serve` subprocess on 127.0.0.1 with a free port."""

    def __init__(
        self,
        data_dir: Path,
        *,
        test_hooks: bool = True,
        args: Sequence[str] = (),
        open_files: int | None = None,
        db_url: str | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.db_url = db_url  # --db of `serve` and of every `admin` call; None: SQLite
        self.test_hooks = test_hooks
        self.args = list(args)  # extra `syncd serve` flags, e.g. ["--header-timeout", "1"]
        self.open_files = open_files  # RLIMIT_NOFILE (soft and hard) of the server process
        self.url = ""
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = self.data_dir.parent / f"{self.data_dir.name}.server.log"

    def start(self) -> ServerProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        info = self.data_dir / "server.json"
        info.unlink(missing_ok=True)
        cmd = [*_cli(), "serve", "--data", str(self.data_dir), "--port", "0"]
        if self.test_hooks:
            cmd.append("--test-hooks")
        cmd += self.args
        cmd += ["--db", self.db_url] if self.db_url else []
        log = open(self.log_path, "ab")  # noqa: SIM115 - lives as long as the process
        limit = self._limit_open_files if self.open_files is not None else None
        self.proc = subprocess.Popen(cmd, cwd=REPO, stdout=log, stderr=log, preexec_fn=limit)
        log.close()
        self.url = self._wait_ready(info)
        return self

    def _limit_open_files(self) -> None:
        assert self.open_files is not None
        resource.setrlimit(resource.RLIMIT_NOFILE, (self.open_files, self.open_files))

    def _wait_ready(self, info: Path) -> str:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}: {self.log()}")
            try:
                data = json.loads(info.read_text())
                if data.get("pid") == self.proc.pid:
                    with urllib.request.urlopen(data["url"] + "/v1/health", timeout=2):
                        return str(data["url"])
            except (OSError, ValueError):
                pass
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"server not ready after {START_TIMEOUT_S}s: {self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def admin(self, *args: str) -> str:
        """Run `syncd admin ARGS --data DIR`; returns stdout (raises on failure)."""
        done = subprocess.run(
            [*_cli(), "admin", *args, "--data", str(self.data_dir)]
            + (["--db", self.db_url] if self.db_url else []),
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if done.returncode != 0:
            raise RuntimeError(f"admin {args} failed ({done.returncode}): {done.stderr}")
        return done.stdout

    def add_user(self, name: str, quota: str = "1GiB", max_file: str | None = None) -> str:
        extra = ["--max-file", max_file] if max_file else []
        return self.admin("add-user", name, "--quota", quota, *extra).strip().splitlines()[-1]

    def set_quota(self, name: str, size: str) -> None:
        self.admin("set-quota", name, size)

    def rotate_token(self, name: str) -> str:
        return self.admin("rotate-token", name).strip().splitlines()[-1]

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 15) -> int:
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return int(self.proc.returncode)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def restart(self) -> ServerProcess:
        """Stop (SIGTERM) and start again on a new free port (`.url` changes)."""
        self.stop()
        return self.start()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_server(
    data_dir: Path,
    *,
    test_hooks: bool = True,
    args: Sequence[str] = (),
    open_files: int | None = None,
    db_url: str | None = None,
) -> ServerProcess:
    return ServerProcess(
        data_dir, test_hooks=test_hooks, args=args, open_files=open_files, db_url=db_url
    ).start()
