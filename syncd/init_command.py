"""`syncd init`: write the config (mode 0600) and token file after checking the server and
token, and install the systemd user unit (the template below, rendered with real paths)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import click
import platformdirs

from syncd.ask import ask_server, fail
from syncd.config import check_private_file, default_config_path, load_settings, url_problem
from syncd.errors import ConfigError
from syncd.ops_commands import CONFIG_OPTION, toml_value
from syncd.units import human_bytes

EXIT_CONFIG_EXISTS = 7

# `syncd init --systemd` renders this with the real paths; systemd/syncd.service in the repo
# is the same template rendered with DEFAULT_UNIT_VALUES (a test keeps the two identical).
USER_UNIT_TEMPLATE = """\
# syncd sync daemon as a systemd *user* service.
# `syncd init --systemd` installs this file as $XDG_CONFIG_HOME/systemd/user/syncd.service
# with ExecStart= rewritten to the real syncd executable and config, and ReadWritePaths=
# listing the real sync root and state directory. By hand: copy it there, adjust both, then
#   systemctl --user daemon-reload && systemctl --user enable --now syncd

[Unit]
Description=syncd: mirror the WhatsApp media library into a local folder

[Service]
# The daemon sends READY=1, STATUS=..., WATCHDOG=1 and STOPPING=1 itself (sd_notify).
Type=notify
NotifyAccess=main
ExecStart={exec_start} run --config {config}
WatchdogSec=60
Restart=on-failure
RestartSec=10
# 78 = EX_CONFIG: a bad config does not get better by restarting.
RestartPreventExitStatus=78
TimeoutStopSec=30

# Hardening: everything is read-only except the sync root, the daemon state, the runtime
# dir (status socket) and the Trash (remote-origin deletes). "-": skip a path that is missing.
NoNewPrivileges=yes
ProtectSystem=strict
PrivateTmp=yes
ReadWritePaths={rw_paths}

# Optional, safer than a token file: let systemd hand the token over. The daemon reads
# $CREDENTIALS_DIRECTORY/syncd-token when server.token_file is not set.
#LoadCredential=syncd-token:%h/.config/syncd/token

[Install]
WantedBy=default.target
"""
DEFAULT_UNIT_VALUES = {
    "exec_start": "%h/.local/bin/syncd",
    "config": "%h/.config/syncd/config.toml",
    "rw_paths": '"-%h/WhatsApp Media" -%S/syncd %t -%h/.local/share/Trash',
}


def unit_quote(value: str) -> str:
    """Quote one literal word for a unit file: escape specifiers (%), quotes, backslashes."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%")
    return f'"{escaped}"'


def render_user_unit(exec_start: str, config: str, rw_paths: str) -> str:
    """The user unit text; arguments are already unit-quoted (or specifiers like %h)."""
    return USER_UNIT_TEMPLATE.format(exec_start=exec_start, config=config, rw_paths=rw_paths)


def _write_private(path: Path, text: str) -> None:
    """Create or replace a file readable only by its owner (mode 0600 from the first byte)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        os.fchmod(handle.fileno(), 0o600)  # an existing file keeps its old mode otherwise
        handle.write(text)


def _read_token(token_file: Path | None, token_stdin: bool) -> tuple[str, Path | None]:
    """(token, the existing file holding it or None). On a terminal the token is asked for
    with hidden input; otherwise it is read from stdin with --token-stdin."""
    if token_file is not None:
        path = token_file.expanduser().absolute()
        check_private_file(path, "token file")
        token = path.read_text(encoding="utf-8").strip()
        if not token:
            raise ConfigError(f"token file {path}: token is empty")
        return token, path
    if sys.stdin.isatty():
        token = click.prompt("Token (from `syncd admin add-user`; input hidden)", hide_input=True)
    elif token_stdin:
        token = sys.stdin.readline()
    else:
        raise click.UsageError("give --token-file FILE, or the token on stdin with --token-stdin")
    if not token.strip():
        raise click.UsageError("no token given (empty input)")
    return token.strip(), None


def _check_server(url: str, token: str) -> None:
    """Ask the server who this token is; a wrong URL or token fails here (exit 6 / 5), not
    later in the daemon."""
    account = ask_server(url, token, lambda api: api.account())
    limit = account.quota.limit_bytes
    quota = f"{human_bytes(account.quota.used_bytes)} of {human_bytes(limit)} used"
    click.echo(f"server OK: {url} knows this token as user {account.user.name} ({quota})")


def _config_text(url: str, token_path: Path, root: Path) -> str:
    return (
        "# Written by `syncd init`. Every key and its default: config.example.toml\n"
        "[server]\n"
        f"url = {toml_value(url)}\n"
        f"token_file = {toml_value(token_path)}\n\n"
        "[sync]\n"
        f"root = {toml_value(root)}\n"
    )


def _syncd_argv() -> list[str]:
    """The command systemd should run, by absolute path: the installed `syncd` on PATH (pipx
    or pip --user put it in ~/.local/bin), else the one running now, else this Python."""
    found = shutil.which("syncd")
    if found:
        return [str(Path(found).absolute())]
    script = Path(sys.argv[0])
    if script.name == "syncd" and script.is_file():
        return [str(script.absolute())]
    return [sys.executable, "-m", "syncd"]


def _systemctl_usable() -> bool:
    if shutil.which("systemctl") is None:
        return False
    probe = subprocess.run(
        ["systemctl", "--user", "show-environment"],  # noqa: S607 - looked up on PATH on purpose
        capture_output=True,
        timeout=10,
        check=False,
    )
    return probe.returncode == 0


def _install_unit(config_path: Path, root: Path, start: bool) -> None:
    config_home = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    unit_path = config_home / "systemd" / "user" / "syncd.service"
    state_dir = platformdirs.user_state_path("syncd")
    trash_dir = platformdirs.user_data_path("Trash")
    for directory in (state_dir, trash_dir):
        # ReadWritePaths= entries must exist when the unit starts, or they stay read-only.
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    exec_start = " ".join(unit_quote(arg) for arg in _syncd_argv())
    rw_paths = [unit_quote(f"-{p}") for p in (root, state_dir, trash_dir)]
    unit = render_user_unit(
        exec_start=exec_start,
        config=unit_quote(str(config_path)),
        rw_paths=" ".join([*rw_paths, "%t"]),
    )
    unit_path.parent.mkdir(parents=True, exist_ok=True)
    unit_path.write_text(unit, encoding="utf-8")
    click.echo(f"wrote {unit_path}")
    commands = [
        ["systemctl", "--user", "daemon-reload"],
        ["systemctl", "--user", "enable", "--now", "syncd"],
    ]
    if start and _systemctl_usable():
        for argv in commands:
            subprocess.run(argv, check=True, timeout=60)
        click.echo("syncd is enabled and running: `syncd status`")
        return
    click.echo("to start it now and at every login, run:")
    for argv in commands:
        click.echo("  " + " ".join(argv))


@click.command()
@CONFIG_OPTION
@click.option("--server", "server_url", required=True, help="Library server URL.")
@click.option(
    "--root",
    type=click.Path(path_type=Path, file_okay=False),
    required=True,
    help="Local folder to mirror the library into (created if missing).",
)
@click.option(
    "--token-file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Existing file holding the token (must be mode 0600).",
)
@click.option(
    "--token-stdin",
    is_flag=True,
    help="Read the token from stdin (on a terminal it is asked for, hidden) and store it "
    "next to the config (0600).",
)
@click.option("--offline", is_flag=True, help="Do not contact the server to check URL and token.")
@click.option(
    "--systemd", "with_systemd", is_flag=True, help="Install the systemd user unit and enable it."
)
@click.option(
    "--no-start",
    is_flag=True,
    help="With --systemd: install only; print the systemctl commands instead of running them.",
)
@click.option("--force", is_flag=True, help="Overwrite an existing config file.")
def init(
    config_path: Path | None,
    server_url: str,
    root: Path,
    token_file: Path | None,
    token_stdin: bool,
    offline: bool,
    with_systemd: bool,
    no_start: bool,
    force: bool,
) -> None:
    """Write a config (mode 0600) and token file, and optionally the systemd user unit. The
    server is asked first whether it knows the token (skip with --offline).

    Exit 0 done, 5 token rejected, 6 server unreachable, 7 the config exists (--force
    replaces it), 78 a bad value.

    \b
    Example:
      syncd init --server https://media.example.com --root ~/"WhatsApp Media" --systemd
      echo "$TOKEN" | syncd init --server http://127.0.0.1:8750 --root ~/Media --token-stdin
    """
    if token_file is not None and token_stdin:
        raise click.UsageError("give only one of --token-file FILE or --token-stdin")
    if problem := url_problem(server_url):
        raise ConfigError(f"server.url: {problem}")
    config_path = (config_path or default_config_path()).expanduser().absolute()
    if config_path.exists() and not force:
        fail(f"{config_path} exists; use --force to overwrite it", EXIT_CONFIG_EXISTS)
    root = root.expanduser().absolute()
    token, token_path = _read_token(token_file, token_stdin)
    if not offline:
        _check_server(server_url, token)
    if token_path is None:
        token_path = config_path.parent / "token"
        _write_private(token_path, token + "\n")
    _write_private(config_path, _config_text(server_url, token_path, root))
    root.mkdir(parents=True, exist_ok=True)
    load_settings(config_path, {})  # what we wrote must load; fails loudly otherwise
    click.echo(f"wrote {config_path} (token in {token_path})")
    if with_systemd:
        _install_unit(config_path, root, start=not no_start)
    else:
        click.echo(f"start the daemon with: syncd run --config {config_path}")
