"""What a new user meets first, against a real server: `check-config` and `init` check the URL
scheme, the root and the token with the server (unless --offline), `init` asks for the token
with hidden input on a terminal and has its own exit code for an existing config, and with no
config anywhere every client command says which file is missing."""

from __future__ import annotations

import os
import pty
import select
import socket
import sys
import time
from pathlib import Path

from tests.integration.cli.conftest import REPO, CliEnv, write_config


def test_check_config_asks_the_server_about_the_token(cli: CliEnv, tmp_path: Path) -> None:
    done = cli.run("check-config")
    assert done.code == 0, done.err
    assert "# config OK; the server knows this token as user user-" in done.out
    wrong = tmp_path / "wrong" / "config.toml"
    write_config(wrong, cli.server.url, "sk_wrong", cli.root)
    refused = cli.run("check-config", "--config", str(wrong), config=False)
    assert refused.code == 5 and "rejected the token" in refused.err
    assert cli.run("check-config", "--config", str(wrong), "--offline", config=False).code == 0
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))  # bound, never listening: refused
        down = tmp_path / "down" / "config.toml"
        write_config(down, f"http://127.0.0.1:{sock.getsockname()[1]}", "sk_x", cli.root)
        assert cli.run("check-config", "--config", str(down), config=False).code == 6


def test_check_config_refuses_a_url_without_scheme_and_a_root_that_is_a_file(
    cli: CliEnv, tmp_path: Path
) -> None:
    no_scheme = tmp_path / "a" / "config.toml"
    write_config(no_scheme, cli.server.url.removeprefix("http://"), "sk_x", cli.root)
    done = cli.run("check-config", "--config", str(no_scheme), "--offline", config=False)
    assert done.code == 78 and "server.url: must be http://HOST[:PORT]" in done.err
    a_file = tmp_path / "root-is-a-file"
    a_file.write_text("not a folder")
    file_root = tmp_path / "b" / "config.toml"
    write_config(file_root, cli.server.url, "sk_x", a_file)
    done = cli.run("check-config", "--config", str(file_root), "--offline", config=False)
    assert done.code == 78 and f"sync.root: {a_file} is a file, not a folder" in done.err


def test_init_checks_the_server_and_token_and_exits_7_when_the_config_exists(
    cli: CliEnv, tmp_path: Path
) -> None:
    config = tmp_path / "new" / "config.toml"
    base = ["init", "--config", str(config), "--server", cli.server.url, "--root"]
    base += [str(tmp_path / "Media"), "--token-stdin"]
    bad = cli.run(*base, config=False, stdin="sk_wrong\n")
    assert bad.code == 5 and "rejected the token" in bad.err
    assert not config.exists() and not (config.parent / "token").exists()
    good = cli.run(*base, config=False, stdin=cli.token + "\n")
    assert good.code == 0, good.err
    assert "server OK" in good.out and config.exists()
    again = cli.run(*base, config=False, stdin=cli.token + "\n")
    assert again.code == 7 and "--force" in again.err


def test_init_asks_for_the_token_with_hidden_input_on_a_terminal(
    cli: CliEnv, tmp_path: Path
) -> None:
    config = tmp_path / "tty" / "config.toml"
    argv = [sys.executable, "-m", "syncd", "init", "--config", str(config)]
    argv += ["--server", cli.server.url, "--root", str(tmp_path / "Media"), "--token-stdin"]
    pid, fd = pty.fork()
    if pid == 0:  # the child: the pty is its controlling terminal and stdin
        os.chdir(REPO)
        os.execve(sys.executable, argv, cli.env())
    seen = _read_until(fd, b"input hidden")
    os.write(fd, cli.token.encode() + b"\n")
    seen += _read_until(fd, b"wrote ")
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0, seen
    assert cli.token.encode() not in seen, "the token was echoed"
    assert (config.parent / "token").read_text().strip() == cli.token


def _read_until(fd: int, marker: bytes, timeout_s: float = 30.0) -> bytes:
    out = b""
    deadline = time.monotonic() + timeout_s
    while marker not in out and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            try:
                out += os.read(fd, 4096)
            except OSError:  # the child closed the terminal
                break
    return out


def test_without_any_config_every_command_names_the_missing_file(cli: CliEnv) -> None:
    cli.config.unlink()  # the default config path; no daemon runs
    for args in (["ls"], ["usage"], ["trash"], ["link", "A/b.jpg"], ["check-config"]):
        done = cli.run(*args, config=False)
        assert done.code == 78, (args, done.err)
        assert f"no config file at {cli.config}: run `syncd init` or pass --config" in done.err
