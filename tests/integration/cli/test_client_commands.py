"""`syncd usage|ls|find|send|sent|link|trash|restore|approve` as subprocesses against a
real server."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.integration.cli.conftest import CliEnv, write_config
from tests.integration.ingest.fake_senders import FakeSenders


def _library(cli: CliEnv) -> dict[str, dict[str, str]]:
    """Two folders: 12 photos of growing size in one, a PDF in the other."""
    alice = cli.api.create_folder("Alice Martin")
    docs = cli.api.create_folder("Campaign assets")
    ids = {}
    for n in range(12):
        f = cli.api.upload(alice["id"], f"IMG-{n:02d}.jpg", b"p" * (1000 + 100 * n))
        ids[f["name"]] = f["id"]
    f = cli.api.upload(docs["id"], "brief.pdf", b"d" * 5000)
    ids["brief.pdf"] = f["id"]
    return {"alice": alice, "docs": docs, "ids": ids}


def test_usage_json_and_plain(cli: CliEnv) -> None:
    _library(cli)
    photos = sum(1000 + 100 * n for n in range(12))
    done = cli.run("usage", "--json")
    assert done.code == 0, done.err
    data = json.loads(done.out)
    assert data["used_bytes"] == photos + 5000
    assert data["limit_bytes"] == 10 << 20
    assert data["by_kind"]["image"] == photos and data["by_kind"]["document"] == 5000
    assert [(f["name"], f["file_count"], f["bytes"]) for f in data["folders"]] == [
        ("Alice Martin", 12, photos),
        ("Campaign assets", 1, 5000),
    ]
    largest = [(f["folder"], f["name"], f["size"]) for f in data["largest"]]
    assert largest[0] == ("Campaign assets", "brief.pdf", 5000)
    assert largest[1] == ("Alice Martin", "IMG-11.jpg", 2100)
    assert len(largest) == 10 and ("Alice Martin", "IMG-00.jpg", 1000) not in largest
    plain = cli.run("usage")
    assert plain.code == 0, plain.err
    assert plain.out.startswith("used 23.0 KiB of 10.0 MiB (0%)  [" + "." * 30 + "]")
    for text in ("image", "Alice Martin", "12 files", "Campaign assets/brief.pdf"):
        assert text in plain.out


def test_ls_folders_and_files(cli: CliEnv) -> None:
    lib = _library(cli)
    done = cli.run("ls", "--json")
    assert done.code == 0, done.err
    folders = json.loads(done.out)["folders"]
    assert {f["name"]: (f["kind"], f["file_count"]) for f in folders} == {
        "Alice Martin": ("custom", 12),
        "Campaign assets": ("custom", 1),
    }
    plain = cli.run("ls")
    assert plain.out.splitlines()[0].split() == ["NAME", "KIND", "FILES", "BYTES"]
    assert any(
        line.startswith("Alice Martin") and " 12 " in line for line in plain.out.splitlines()
    )
    files = json.loads(cli.run("ls", "alice martin", "--json").out)
    assert files["folder"]["id"] == lib["alice"]["id"]
    assert [f["name"] for f in files["files"]] == [f"IMG-{n:02d}.jpg" for n in range(12)]
    assert files["files"][0]["size"] == 1000 and files["files"][0]["modified_at"]
    listing = cli.run("ls", "Campaign assets")
    assert "brief.pdf" in listing.out and "4.9 KiB" in listing.out
    missing = cli.run("ls", "Nobody")
    assert missing.code == 1 and "no folder named 'Nobody'" in missing.err


def test_find_plain_and_json(cli: CliEnv) -> None:
    _library(cli)
    done = cli.run("find", "img 03", "--json")
    assert done.code == 0, done.err
    data = json.loads(done.out)
    assert [(h["type"], h["folder"]["name"], h["file"]["name"]) for h in data["hits"]] == [
        ("file", "Alice Martin", "IMG-03.jpg")
    ]
    plain = cli.run("find", "alice", "--limit", "3")
    lines = plain.out.splitlines()
    assert plain.code == 0 and lines[0].split() == ["FOUND", "SIZE", "CAPTION"]
    assert lines[1].startswith("Alice Martin/ ") and "12 files" in lines[1]
    assert len(lines) == 5 and "more found" in lines[4]
    assert "nothing found" in cli.run("find", "zebra").out
    refused = cli.run("find", "x" * 201)
    assert refused.code == 1 and "1 to 200 characters" in refused.err


@contextmanager
def fake_waha() -> Iterator[FakeSenders]:
    """The fake gateway in a thread of its own (the CLI runs as a subprocess, synchronously)."""
    loop, fake = asyncio.new_event_loop(), FakeSenders()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(fake.start(), loop).result(10)
    try:
        yield fake
    finally:
        asyncio.run_coroutine_threadsafe(fake.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


def test_send_and_sent(cli: CliEnv) -> None:
    _library(cli)
    refused = cli.run("send", "Campaign assets/brief.pdf", "--to", "+1 202 555 0123")
    assert refused.code == 1 and "no gateway hook" in refused.err
    user = cli.api.account()["user"]["name"]
    with fake_waha() as gateway:
        cli.server.admin(
            "add-hook", user, "--type", "waha", "--gateway-url", gateway.url,
            "--api-key", "k", "--hmac-key", "h", "--session", "shop",
        )  # fmt: skip
        done = cli.run("send", "Campaign assets/brief.pdf", "--to", "+1 202 555 0123",
                       "--caption", "The brief")  # fmt: skip
        assert done.code == 0, done.err
        assert done.out.strip() == "sent brief.pdf to +12025550123"
        (call,) = gateway.calls
        assert call.path == "/api/sendFile" and call.json["session"] == "shop"
        gateway.fail_next = [400]
        failed = cli.run("send", "Alice Martin/IMG-01.jpg", "--to", "+1 202 555 0123")
        assert failed.code == 1 and "not sent: the gateway answered 400" in failed.err
    bad = cli.run("send", "Alice Martin/IMG-01.jpg", "--to", "555-0123")
    assert bad.code == 1 and "international form" in bad.err
    listing = cli.run("sent", "--json")
    items = json.loads(listing.out)["items"]
    assert [(i["file_name"], i["state"]) for i in items] == [
        ("IMG-01.jpg", "failed"),
        ("brief.pdf", "sent"),
    ]
    plain = cli.run("sent").out.splitlines()
    assert "IMG-01.jpg  failed: the gateway answered 400" in plain[0] and "sent" in plain[1]


def test_link_serves_bytes_without_auth(cli: CliEnv) -> None:
    _library(cli)
    local = cli.root / "Campaign assets" / "brief.pdf"
    local.parent.mkdir()
    local.write_bytes(b"d" * 5000)
    done = cli.run("link", str(local), "--expires", "1h")
    assert done.code == 0, done.err
    url = done.out.strip().splitlines()[-1]
    assert url.startswith(cli.server.url + "/s/")
    with urllib.request.urlopen(url, timeout=10) as resp:  # no Authorization header
        assert resp.read() == b"d" * 5000
    relative = cli.run("link", "brief.pdf", cwd=local.parent)
    assert relative.code == 0, relative.err
    assert relative.out.strip().splitlines()[-1].startswith(cli.server.url + "/s/")
    assert cli.run("link", "Alice Martin/nope.jpg").code == 1  # root-relative, not on server
    assert cli.run("link", "/etc/passwd").code == 2  # not inside the sync root


def test_trash_lists_deleted_file_and_restore_path_brings_it_back(cli: CliEnv) -> None:
    lib = _library(cli)
    cli.api.delete_file(lib["ids"]["IMG-05.jpg"])
    empty_before = cli.run("trash", "--json")
    items = json.loads(empty_before.out)["items"]
    assert [(i["folder_name"], i["name"], i["size"]) for i in items] == [
        ("Alice Martin", "IMG-05.jpg", 1500)
    ]
    plain = cli.run("trash")
    assert "Alice Martin/IMG-05.jpg" in plain.out and "1.5 KiB" in plain.out
    done = cli.run("restore", str(cli.root / "Alice Martin" / "IMG-05.jpg"))
    assert done.code == 0, done.err
    assert "restored Alice Martin/IMG-05.jpg" in done.out
    names = [f["name"] for f in cli.api.files(lib["alice"]["id"])]
    assert "IMG-05.jpg" in names and len(names) == 12
    assert json.loads(cli.run("trash", "--json").out) == {"items": []}
    again = cli.run("restore", "Alice Martin/IMG-05.jpg")
    assert again.code == 1 and "not in the server trash" in again.err


def test_restore_path_reports_quota_refusal(cli: CliEnv) -> None:
    folder = cli.api.create_folder("Big")
    f = cli.api.upload(folder["id"], "a.bin", b"x" * (6 << 20))
    cli.api.delete_file(f["id"])
    cli.api.upload(folder["id"], "b.bin", b"y" * (6 << 20))
    done = cli.run("restore", "Big/a.bin")
    assert done.code == 1
    assert "quota_exceeded" in done.err


def test_approve_and_restore_without_daemon_exit_3(cli: CliEnv) -> None:
    for args in (["approve"], ["restore"]):
        done = cli.run(*args)
        assert done.code == 3, (args, done.err)
        assert "daemon" in done.err
        no_config = cli.run(*args, config=False)
        assert no_config.code == 3, (args, no_config.err)


def test_unreachable_server_exit_6_and_bad_config_exit_78(cli: CliEnv, tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: connection refused
        config = tmp_path / "down" / "config.toml"
        write_config(config, f"http://127.0.0.1:{port}", "sk_x", cli.root)
        done = cli.run("usage", "--config", str(config), config=False)
    assert done.code == 6 and "cannot reach the server" in done.err
    missing = cli.run("ls", "--config", str(tmp_path / "nope.toml"), config=False)
    assert missing.code == 78 and "configuration error" in missing.err
    wrong_token = tmp_path / "bad" / "config.toml"
    write_config(wrong_token, cli.server.url, "sk_wrong", cli.root)
    refused = cli.run("trash", "--config", str(wrong_token), config=False)
    assert refused.code == 5 and "rejected the token" in refused.err
