"""Schemathesis (a third-party OpenAPI fuzzer, pinned in the test extras) against the real
`syncd serve` subprocess: every phase, `--checks all`, two users as peers (so it also probes
one user's objects with the other's token), bounded examples. It must find nothing.

Allowed beyond schemathesis' defaults, per operation, are only answers that depend on the
server's state rather than on the request's shape: 412 for an If-Match naming another rev,
416 for a Range past the end of the file, 410 for a cursor ahead of the feed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from tests.support.server import REPO, Api, start_server

MAX_EXAMPLES = "12"
SEED = "20261201"
STATE_DEPENDENT = [
    (["patch_folder", "delete_folder", "patch_file", "delete_file", "upload_file"], "412"),
    (["file_content", "shared_file"], "416"),
    (["changes"], "410"),
    # its body is a frame stream (syncd.frames), which a schema cannot describe: arbitrary
    # bytes are rightly refused as malformed
    (["batch_write"], "400"),
]
POSITIVE_DEFAULT = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx"]


def _config(tmp_path: Path, tokens: dict[str, str]) -> Path:
    wfc = tmp_path / "users.json"
    wfc.write_text(
        json.dumps(
            {
                "auth": [
                    {
                        "name": user,
                        "fixedHeaders": [{"name": "Authorization", "value": f"Bearer {token}"}],
                    }
                    for user, token in tokens.items()
                ]
            }
        )
    )
    lines = [
        'hooks = "tests.support.schemathesis_hooks"',
        # HTTP servers must ignore header fields (and our routes query parameters) they do
        # not know (RFC 9110 5.1); sending one is not an invalid request.
        "[generation]",
        "allow-extra-parameters = false",
        "[auth.wfc]",
        f'path = "{wfc}"',
        f"peers = {json.dumps(list(tokens))}",
    ]
    for operation_ids, status in STATE_DEPENDENT:
        lines += [
            "[[operations]]",
            f"include-operation-id = {json.dumps(operation_ids)}",
            "checks.positive_data_acceptance.expected-statuses = "
            + json.dumps([*POSITIVE_DEFAULT, status]),
        ]
    path = tmp_path / "schemathesis.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _seed(api: Api, who: str) -> None:
    """A folder, two files (one with a share link), one file in the trash."""
    folder = api.create_folder(f"{who} shop")["id"]
    photo = api.upload(folder, "photo.jpg", b"\xff\xd8" + who.encode() * 100)
    api.upload(folder, "price list.pdf", b"%PDF-" + who.encode() * 50)
    api.json("POST", f"/v1/files/{photo['id']}/links", {"expires_in_s": 3600})
    gone = api.upload(folder, "old.txt", b"old")
    api.delete_file(gone["id"])


def test_schemathesis_finds_nothing(tmp_path: Path) -> None:
    with start_server(tmp_path / "srv", test_hooks=False) as server:
        tokens = {user: server.add_user(user, quota="1GiB") for user in ("alice", "bob")}
        for user, token in tokens.items():
            _seed(Api(server.url, token), user)
        config = _config(tmp_path, tokens)
        started = time.monotonic()
        done = subprocess.run(
            [
                str(Path(sys.executable).parent / "st"),
                "--config-file",
                str(config),
                "run",
                f"{server.url}/v1/openapi.json",
                "--checks",
                "all",
                "--max-examples",
                MAX_EXAMPLES,
                "--seed",
                SEED,
                "--workers",  # 1: schemathesis 4.32 threads hit a CPython AST recursion bug
                "1",
                "--request-timeout",
                "10",
                "--no-shrink",
            ],
            cwd=tmp_path,  # schemathesis keeps its example database in the working directory
            env={**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1"},
            capture_output=True,
            text=True,
            timeout=240,
        )
        elapsed = time.monotonic() - started
        assert done.returncode == 0, f"{done.stdout[-12000:]}\n{done.stderr[-3000:]}"
        assert " passed" in done.stdout, done.stdout[-3000:]
        print(f"schemathesis: {elapsed:.1f} s\n{done.stdout[-1500:]}")
        assert "Traceback" not in server.log()
