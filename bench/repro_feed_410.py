"""Repro: after feed compaction, a fresh client paging the snapshot (cursor 0) gets 410 on
page 2, and `pull_changes` restarts from 0 forever (see bench/README.md, Findings).

    .venv/bin/python bench/repro_feed_410.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.support.server import Api, ApiFailure, start_server


def main() -> None:
    with start_server(Path(tempfile.mkdtemp()) / "srv") as srv:
        api = Api(srv.url, srv.add_user("u"))
        folder = api.create_folder("F")["id"]
        for i in range(30):
            api.upload(folder, f"f{i}.jpg", b"x")
        api.compact(keep=10)  # what the server does every 60 s with --feed-keep 10
        page = api.changes(cursor=0, limit=10)  # a fresh client: the snapshot, page 1
        print(f"page 1: {len(page['changes'])} changes, cursor {page['cursor']}")
        try:
            api.changes(cursor=page["cursor"], limit=10)
            print("page 2: ok (fixed)")
        except ApiFailure as exc:
            print(f"page 2: HTTP {exc.status} {exc.body}")


if __name__ == "__main__":
    main()
