"""`syncd admin migrate`: an embedded library (SQLite + blob folder) copied into a real
PostgreSQL + a real S3 bucket serves the same library (files, bytes, usage, trash, share links,
search); a second run finishes or repeats the copy without doubling anything; a damaged blob
stops it before any row is copied; a running source server or a foreign target is refused."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
import uuid
from pathlib import Path

import pytest

from syncd.server.meta import open_db
from tests.support.postgres import PostgresServer
from tests.support.s3 import SeaweedS3
from tests.support.server import REPO, Api, ServerProcess, start_server


def run_migrate(
    source: Path, db_url: str, blobs_url: str, seaweed: SeaweedS3
) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "syncd", "admin", "migrate", "--from", str(source)]
    cmd += ["--db", db_url, "--blobs", blobs_url]
    env = {**os.environ, **seaweed.env()}
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)


def make_library(source: Path) -> tuple[str, dict[str, bytes], str]:
    """A stopped embedded library: two folders, a forwarded photo stored once, a file in the
    trash, a share link. Returns the token, name -> bytes of the live files, the link."""
    with start_server(source) as server:
        token = server.add_user("alice", quota="10MiB")
        api = Api(server.url, token)
        alice, bruno = api.create_folder("Alice Martin")["id"], api.create_folder("Bruno")["id"]
        files = {"Alice Martin/photo.jpg": os.urandom(70_000), "Bruno/invoice.pdf": b"%PDF-1"}
        api.upload(alice, "photo.jpg", files["Alice Martin/photo.jpg"])
        api.upload(bruno, "invoice.pdf", files["Bruno/invoice.pdf"])
        forwarded = api.upload(bruno, "photo.jpg", files["Alice Martin/photo.jpg"])
        files["Bruno/photo.jpg"] = files["Alice Martin/photo.jpg"]
        api.delete_file(api.upload(alice, "old.txt", b"to the trash")["id"])
        link = api.json("POST", f"/v1/files/{forwarded['id']}/links", {"expires_in_s": 3600})
    return token, files, str(link["url"])


def listing(api: Api) -> dict[str, bytes]:
    return {
        f"{folder['name']}/{f['name']}": api.download(f["id"])
        for folder in api.folders()
        for f in api.files(folder["id"])
    }


def test_migrated_library_serves_the_same_files_usage_trash_links_and_search(
    tmp_path: Path, postgres: PostgresServer, seaweed: SeaweedS3, monkeypatch: pytest.MonkeyPatch
) -> None:
    token, files, link = make_library(tmp_path / "embedded")
    db_url, blobs_url = postgres.fresh_database(), seaweed.blobs_url(uuid.uuid4().hex[:12])
    done = run_migrate(tmp_path / "embedded", db_url, blobs_url, seaweed)
    assert done.returncode == 0, done.stderr
    assert "copied 3 blobs" in done.stdout and done.stdout.splitlines()[-1].startswith("migrated")
    again = run_migrate(tmp_path / "embedded", db_url, blobs_url, seaweed)
    assert again.returncode == 0, again.stderr
    assert "copied 0 blobs (0 B), 3 already there" in again.stdout
    for key, value in seaweed.env().items():
        monkeypatch.setenv(key, value)
    with start_server(tmp_path / "spool", db_url=db_url, args=["--blobs", blobs_url]) as server:
        api = Api(server.url, token)  # the same token: users and their token hashes came along
        assert listing(api) == files
        usage = api.account()["quota"]
        assert usage["used_bytes"] == sum(len(b) for b in files.values())
        trash = api.json("GET", "/v1/trash")
        assert [t["name"] for t in trash["items"]] == ["old.txt"]
        shared_path = link.split("/s/", 1)[1]
        with urllib.request.urlopen(f"{server.url}/s/{shared_path}", timeout=10) as answer:
            assert answer.read() == files["Bruno/photo.jpg"]  # the signing key came along
        hits = api.json("GET", "/v1/search?q=invoice")["hits"]
        assert [h["file"]["name"] for h in hits if h["file"]] == ["invoice.pdf"]
        new_folder = api.create_folder("Chloé")["id"]
        api.upload(new_folder, "new.bin", b"after the move")
        assert api.account()["quota"]["used_bytes"] == usage["used_bytes"] + 14


def test_damaged_blob_stops_the_migration_before_any_row(
    tmp_path: Path, postgres: PostgresServer, seaweed: SeaweedS3
) -> None:
    make_library(tmp_path / "embedded")
    victim = next(p for p in (tmp_path / "embedded" / "blobs").rglob("*") if p.is_file())
    rotten = bytearray(victim.read_bytes())
    rotten[0] ^= 0x01  # one flipped bit: same size, other bytes
    victim.write_bytes(bytes(rotten))
    db_url = postgres.fresh_database()
    done = run_migrate(tmp_path / "embedded", db_url, seaweed.blobs_url("rot"), seaweed)
    assert done.returncode == 1
    assert f"blob {victim.name}" in done.stderr and "does not match its digest" in done.stderr
    target = open_db(tmp_path, db_url)
    try:
        row = target.one("SELECT COUNT(*) AS n FROM users")
        assert row is not None and row["n"] == 0
    finally:
        target.close()


def test_running_source_and_foreign_target_are_refused(
    tmp_path: Path, postgres: PostgresServer, seaweed: SeaweedS3, server: ServerProcess
) -> None:
    db_url = postgres.fresh_database()
    busy = run_migrate(server.data_dir, db_url, seaweed.blobs_url("busy"), seaweed)
    assert busy.returncode == 1 and "is running" in busy.stderr
    make_library(tmp_path / "one")
    make_library(tmp_path / "two")
    assert run_migrate(tmp_path / "one", db_url, seaweed.blobs_url("one"), seaweed).returncode == 0
    other = run_migrate(tmp_path / "two", db_url, seaweed.blobs_url("one"), seaweed)
    assert other.returncode == 1 and "copy of another library" in other.stderr
    bad = run_migrate(tmp_path / "two", "mysql://x@y/z", seaweed.blobs_url("x"), seaweed)
    assert bad.returncode == 78 and "--db" in bad.stderr
