"""Benchmark of find (`GET /v1/search`) on a 50,000-file library: p50/p95 latency over HTTP
on loopback of word, caption, prefix, phone-substring and empty queries (issue 15: well under
100 ms). The library's rows are written straight into the server's SQLite (the search index
is kept by triggers, whatever writes): the search cost depends on rows, not on blob bytes.

    .venv/bin/python bench/search.py [--files 50000] [--folders 500] [--runs 50]
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from syncd.server.db import new_id  # noqa: E402
from syncd.server.meta.sqlite import SqliteDb as Db  # noqa: E402
from tests.support.server import start_server  # noqa: E402

FIRST = ["María", "José", "Ana", "Luis", "Chloé", "Björn", "Aisha", "Wei", "Olu", "Noé"]
LAST = ["García", "Müller", "Silva", "Okafor", "Dubois", "Nakamura", "Smith", "Rossi"]
WORDS = ["factura", "precio", "catálogo", "entrega", "recibo", "foto", "pedido", "garantía"]
QUERIES = ["maría", "factura", "catalogo garantia", "img 2024", "5550", "Müller recibo", "zzzz"]


def seed(db: Db, user_id: str, n_files: int, n_folders: int) -> None:
    """Participant folders (name, phone) and files (WhatsApp names, half with a caption)."""
    rng = random.Random(42)
    folder_ids = []
    with db.tx() as conn:
        for i in range(n_folders):
            name = f"{rng.choice(FIRST)} {rng.choice(LAST)} {i:03d}"
            folder_id = new_id("fo")
            folder_ids.append(folder_id)
            conn.execute(
                "INSERT INTO folders (id, user_id, name, name_key, kind, participant_id, phone,"
                " display_name, rev, seq, created_ns) VALUES (?,?,?,?,?,?,?,?,1,?,0)",
                (
                    folder_id,
                    user_id,
                    name,
                    name.casefold(),
                    "participant",
                    f"p{i}",
                    f"+1202555{i:04d}",
                    name,
                    i + 1,
                ),
            )
        for i in range(n_files):
            caption = " ".join(rng.sample(WORDS, 3)) if i % 2 else None
            conn.execute(
                "INSERT INTO files (id, user_id, folder_id, name, name_key, size, sha256, mime,"
                " kind, source, created_ns, mtime_ns, rev, seq, caption) VALUES"
                " (?,?,?,?,?,1,'s','image/jpeg','image','incoming',0,0,1,?,?)",
                (
                    new_id("fi"),
                    user_id,
                    folder_ids[i % n_folders],
                    f"IMG-{2020 + i % 6}{i:07d}.jpg",
                    f"img-{i}",
                    n_folders + i + 1,
                    caption,
                ),
            )


def timed_query(url: str, token: str, q: str) -> tuple[float, int]:
    query = urllib.parse.urlencode({"q": q, "limit": 20})
    req = urllib.request.Request(f"{url}/v1/search?{query}")
    req.add_header("Authorization", f"Bearer {token}")
    started = time.perf_counter()
    with urllib.request.urlopen(req, timeout=30) as resp:
        body = json.loads(resp.read())
    return time.perf_counter() - started, len(body["hits"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=50_000)
    parser.add_argument("--folders", type=int, default=500)
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="syncd-bench-search-"))
    try:
        with start_server(work / "data", test_hooks=False) as server:
            token = server.add_user("bench", quota="100GiB")
            db = Db(work / "data" / "library.db")
            user = db.one("SELECT id FROM users WHERE name='bench'")
            assert user is not None
            started = time.perf_counter()
            seed(db, user["id"], args.files, args.folders)
            print(
                f"seeded {args.files} files in {args.folders} folders"
                f" in {time.perf_counter() - started:.1f} s (index kept by triggers)"
            )
            load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
            print(f"load average {load}; {args.runs} runs per query, limit 20")
            print("| query | hits | p50 ms | p95 ms |\n|---|---:|---:|---:|")
            for q in QUERIES:
                timed_query(server.url, token, q)  # warm the page cache
                runs = [timed_query(server.url, token, q) for _ in range(args.runs)]
                times = sorted(t for t, _ in runs)
                p50, p95 = times[len(times) // 2], times[int(len(times) * 0.95) - 1]
                print(f"| `{q}` | {runs[0][1]} | {p50 * 1000:.1f} | {p95 * 1000:.1f} |")
            db.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
