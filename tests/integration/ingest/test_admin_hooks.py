"""`syncd admin add-hook / list-hooks / remove-hook` on a real data directory (click runner
on the real command group): last line is the webhook path, secrets never printed."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from syncd.server.admin import admin
from syncd.server.ingest import hooks
from syncd.server.meta.sqlite import SqliteDb as Db


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(admin, list(args))
    return result.exit_code, result.output


def test_add_list_remove_hooks(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    assert run("add-user", "alice", "--quota", "1GiB", "--data", data)[0] == 0
    code, out = run(
        "add-hook",
        "alice",
        "--data",
        data,
        "--type",
        "waha",
        "--gateway-url",
        "http://waha:3000/",
        "--api-key",
        "KEY-SECRET-1",
        "--hmac-key",
        "HMAC-SECRET-2",
        "--cap",
        "image=10MiB",
    )
    assert code == 0, out
    waha_path = out.strip().splitlines()[-1]
    assert waha_path.startswith("/hooks/hk_") and len(waha_path) > 40
    code, out = run(
        "add-hook",
        "alice",
        "--data",
        data,
        "--type",
        "cloudapi",
        "--graph-url",
        "https://graph.facebook.com/v21.0",
        "--access-token",
        "TOKEN-SECRET-3",
        "--app-secret",
        "APP-SECRET-4",
        "--verify-token",
        "VERIFY-SECRET-5",
        "--media-host",
        "lookaside.fbsbx.com",
        "--media-host",
        "cdn.example",
    )
    assert code == 0, out
    cloud_path = out.strip().splitlines()[-1]
    code, listing = run("list-hooks", "--data", data)
    assert code == 0 and waha_path in listing and cloud_path in listing
    assert "http://waha:3000" in listing and "image=10.0 MiB" in listing
    for secret in (
        "KEY-SECRET-1",
        "HMAC-SECRET-2",
        "TOKEN-SECRET-3",
        "APP-SECRET-4",
        "VERIFY-SECRET-5",
    ):
        assert secret not in listing
    db = Db(tmp_path / "data" / "library.db")
    hook = hooks.get_hook(db, waha_path.rsplit("/", 1)[1])
    assert hook is not None and hook.config.hmac_key == "HMAC-SECRET-2"
    assert hook.config.caps_bytes["image"] == 10 << 20
    db.close()
    assert run("remove-hook", waha_path, "--data", data)[0] == 0
    code, listing = run("list-hooks", "--data", data)
    assert waha_path not in listing and cloud_path in listing
    code, out = run("remove-hook", waha_path, "--data", data)
    assert code != 0 and "no hook" in out


def test_add_hook_refuses_incomplete_options(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    run("add-user", "alice", "--quota", "1GiB", "--data", data)
    base = ("add-hook", "alice", "--data", data, "--type", "waha")
    code, out = run(*base, "--gateway-url", "http://w:3000", "--api-key", "k")
    assert code != 0 and "--hmac-key is required" in out
    code, out = run(*base, "--gateway-url", "http://w:3000", "--api-key", "k", "--insecure-no-hmac")
    assert code == 0 and out.strip().splitlines()[-1].startswith("/hooks/hk_")
    code, out = run(*base, "--gateway-url", "ftp://w", "--api-key", "k", "--hmac-key", "h")
    assert code != 0 and "http(s) URL" in out
    code, out = run(
        "add-hook",
        "nobody",
        "--data",
        data,
        "--type",
        "waha",
        "--gateway-url",
        "http://w:3000",
        "--api-key",
        "k",
        "--hmac-key",
        "h",
    )
    assert code != 0
    code, out = run(
        "add-hook",
        "alice",
        "--data",
        data,
        "--type",
        "cloudapi",
        "--graph-url",
        "https://graph.example/v21.0",
        "--access-token",
        "t",
    )
    assert code != 0 and "--app-secret is required" in out
