"""Load (issue 6 item 7): 20 concurrent clients of one user uploading into one quota against the
real server subprocess: the quota is never exceeded, every upload either succeeds or gets 507,
and the server's listing is exactly the set of successful uploads (nothing lost or doubled)."""

from __future__ import annotations

import hashlib
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from tests.support.server import Api, ApiFailure, ServerProcess

CLIENTS = 20
FILES_PER_CLIENT = 8
FILE_BYTES = 64 * 1024
QUOTA_BYTES = 3 * 1024 * 1024  # room for 48 of the 160 files: most uploads must get 507
OUTCOME_TIMEOUT_S = 60


def _payload(client: int, index: int, size: int = FILE_BYTES) -> bytes:
    seed = hashlib.sha256(f"{client}/{index}".encode()).digest()
    return (seed * (size // len(seed) + 1))[:size]


def _quota(api: Api) -> dict[str, Any]:
    return dict(api.account()["quota"])


class QuotaWatch:
    """Reads the account's quota in a loop while the clients upload: `max_used` is the
    highest used_bytes ever answered (the quota must hold at every moment, not only at the
    end). Bounded by the stop event and a deadline."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.stop = threading.Event()
        self.max_used = 0
        self.limit = 0
        self.samples = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        for _ in range(100_000):
            quota = _quota(self.api)
            self.max_used = max(self.max_used, int(quota["used_bytes"]))
            self.limit = int(quota["limit_bytes"])
            self.samples += 1
            if self.stop.wait(0.01):
                return

    def __enter__(self) -> QuotaWatch:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=10)


def _client(url: str, token: str, folder_id: str, client: int) -> list[tuple[str, int, str]]:
    """One client on its own connection: uploads its files; returns (name, status, code)."""
    api = Api(url, token)
    out: list[tuple[str, int, str]] = []
    for index in range(FILES_PER_CLIENT):
        name = f"c{client:02d}-f{index}.jpg"
        try:
            api.upload(folder_id, name, _payload(client, index))
            out.append((name, 201, ""))
        except ApiFailure as failure:
            out.append((name, failure.status, failure.code or ""))
    return out


def test_concurrent_clients_share_one_quota(server: ServerProcess, tmp_path: Path) -> None:
    token = server.add_user("crowd", quota=str(QUOTA_BYTES))
    api = Api(server.url, token)
    folder_id = api.create_folder("Crowd")["id"]
    with QuotaWatch(api) as watch, ThreadPoolExecutor(CLIENTS) as pool:
        futures = [pool.submit(_client, server.url, token, folder_id, c) for c in range(CLIENTS)]
        results = [row for f in futures for row in f.result(timeout=OUTCOME_TIMEOUT_S)]

    assert len(results) == CLIENTS * FILES_PER_CLIENT
    outcomes = {(status, code) for _, status, code in results}
    assert outcomes <= {(201, ""), (507, "quota_exceeded")}, outcomes
    stored = {name for name, status, _ in results if status == 201}
    refused = [name for name, status, _ in results if status == 507]
    assert refused, "the quota was never reached: the test did not test it"
    # Every refusal was right: when it was refused, the file could not have fit; so at the
    # end the library is full up to less than one file.
    quota = _quota(api)
    assert quota["used_bytes"] <= quota["limit_bytes"]
    assert quota["limit_bytes"] - quota["used_bytes"] < FILE_BYTES
    assert watch.samples > 0 and watch.max_used <= watch.limit == QUOTA_BYTES

    listing = api.files(folder_id)
    names = [f["name"] for f in listing]
    assert len(names) == len(set(names)), "a file is listed twice"
    assert set(names) == stored, "server listing differs from the successful uploads"
    assert quota["used_bytes"] == len(stored) * FILE_BYTES == sum(f["size"] for f in listing)
    for entry in listing:
        client, index = int(entry["name"][1:3]), int(entry["name"].split("-f")[1][0])
        expected = hashlib.sha256(_payload(client, index)).hexdigest()
        assert entry["sha256"] == expected, entry["name"]
    account = api.account()
    assert account["counts"]["files"] == len(stored)


def _same_name_client(url: str, token: str, folder_id: str, client: int) -> tuple[int, str]:
    try:
        Api(url, token).upload(folder_id, "shared.jpg", _payload(client, 0, 32 * 1024))
        return 201, ""
    except ApiFailure as failure:
        return failure.status, failure.code or ""


def test_concurrent_overwrites_of_one_name_count_once(server: ServerProcess) -> None:
    """20 clients PUT the same name at once: one file remains, its content is one client's
    complete upload, and the quota counts it once (no leaked reservation or double count)."""
    token = server.add_user("race", quota=str(QUOTA_BYTES))
    api = Api(server.url, token)
    folder_id = api.create_folder("Race")["id"]
    with ThreadPoolExecutor(CLIENTS) as pool:
        futures = [
            pool.submit(_same_name_client, server.url, token, folder_id, c) for c in range(CLIENTS)
        ]
        outcomes = [f.result(timeout=OUTCOME_TIMEOUT_S) for f in futures]
    assert {status for status, _ in outcomes} <= {200, 201}, outcomes
    listing = api.files(folder_id)
    assert [f["name"] for f in listing] == ["shared.jpg"]
    candidates = {hashlib.sha256(_payload(c, 0, 32 * 1024)).hexdigest() for c in range(CLIENTS)}
    assert listing[0]["sha256"] in candidates
    assert _quota(api)["used_bytes"] == 32 * 1024
