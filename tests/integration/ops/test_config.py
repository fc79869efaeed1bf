"""Config loading from real files: precedence, the example config, unsafe permissions, bad
values naming the key, token resolution and `syncd check-config`."""

from __future__ import annotations

import re
import shutil
import tomllib
from pathlib import Path

import pytest

from syncd.config import Settings, default_config_path, load_settings, resolve_token
from syncd.errors import ConfigError

from .conftest import REPO, OpsEnv, write_private


def test_precedence_file_then_env_then_flags(
    ops_env: OpsEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_private(
        tmp_path / "c.toml",
        '[sync]\ntransfers = 2\nmax_delete = 10\nroot = "~/Media"\nmode = "backup"\n'
        '[log]\nlevel = "debug"\n',
    )
    only_file = load_settings(config, {})
    assert (only_file.sync.transfers, only_file.sync.max_delete) == (2, 10)
    assert only_file.sync.root == ops_env.home / "Media"  # ~ expanded
    monkeypatch.setenv("SYNCD_SYNC__TRANSFERS", "7")
    monkeypatch.setenv("SYNCD_SYNC__MAX_DELETE", "20")
    with_env = load_settings(config, {})
    assert (with_env.sync.transfers, with_env.sync.max_delete) == (7, 20)
    with_flags = load_settings(config, {"sync.max_delete": 30, "sync.root": None})
    assert (with_flags.sync.transfers, with_flags.sync.max_delete) == (7, 30)
    # keys nobody overrode keep their file value; untouched keys keep defaults
    assert with_flags.sync.mode == "backup" and with_flags.log.level == "debug"
    assert with_flags.sync.root == ops_env.home / "Media"
    assert with_flags.sync.settle_s == 1.0
    assert with_flags.config_path == config.resolve()


def test_default_path_honours_xdg_config_home(ops_env: OpsEnv) -> None:
    assert default_config_path() == ops_env.config_home / "syncd" / "config.toml"
    assert load_settings(None, {}).config_path is None  # missing default file: defaults
    write_private(default_config_path(), "[sync]\ntransfers = 9\n")
    settings = load_settings(None, {})
    assert settings.sync.transfers == 9 and settings.config_path == default_config_path()


def test_example_config_loads_unchanged_and_documents_every_key(
    ops_env: OpsEnv, tmp_path: Path
) -> None:
    example = REPO / "config.example.toml"
    copy = tmp_path / "example.toml"
    shutil.copyfile(example, copy)
    copy.chmod(0o600)
    assert load_settings(copy, {}).model_dump() == Settings().model_dump()
    text = example.read_text()
    parsed = tomllib.loads(text)
    for section, model in Settings.model_fields.items():
        assert f"[{section}]" in text
        sub_fields = model.annotation.model_fields  # type: ignore[union-attr]
        for key in sub_fields:
            assert key in parsed.get(section, {}) or f"# {key} = " in text, f"{section}.{key}"


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_unsafe_config_file_is_refused(ops_env: OpsEnv, tmp_path: Path, mode: int) -> None:
    config = write_private(tmp_path / "c.toml", "[sync]\n", mode=mode)
    with pytest.raises(ConfigError, match=f"chmod 600 {config}"):
        load_settings(config, {})


def test_unsafe_token_file_is_refused(ops_env: OpsEnv, tmp_path: Path) -> None:
    token = write_private(tmp_path / "token", "t0ken\n", mode=0o644)
    config = write_private(tmp_path / "c.toml", f'[server]\ntoken_file = "{token}"\n')
    settings = load_settings(config, {})
    with pytest.raises(ConfigError, match=f"chmod 600 {token}") as caught:
        resolve_token(settings)
    assert "t0ken" not in str(caught.value)
    token.chmod(0o600)
    assert resolve_token(settings) == "t0ken"


def test_token_sources_in_order(
    ops_env: OpsEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    creds = tmp_path / "creds"
    write_private(creds / "syncd-token", "from-credential\n")
    inline = Settings(server={"token": "inline"})
    assert resolve_token(inline) == "inline"
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    assert resolve_token(inline) == "from-credential"
    token_file = write_private(tmp_path / "tok", "from-file")
    assert resolve_token(Settings(server={"token_file": token_file})) == "from-file"
    monkeypatch.delenv("CREDENTIALS_DIRECTORY")
    with pytest.raises(ConfigError, match=r"no config file at .*: run `syncd init` or pass"):
        resolve_token(Settings())  # nothing configured at all: the file is what is missing


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("[sync]\ntransfers = 0\n", "sync.transfers: must be >= 1 (got 0)"),
        ('[sync]\nmode = "sideways"\n', "sync.mode: must be one of"),
        ("[sync]\ntransfer = 3\n", "sync.transfer: unknown key"),
        ('[sync]\nmax_delete = "lots"\n', "sync.max_delete: "),
        ("[sync\n", "invalid TOML"),
    ],
)
def test_bad_value_names_the_key(ops_env: OpsEnv, tmp_path: Path, body: str, message: str) -> None:
    config = write_private(tmp_path / "c.toml", body)
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_settings(config, {})


def test_bad_env_value_names_the_key(ops_env: OpsEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNCD_SYNC__TRANSFERS", "0")
    with pytest.raises(ConfigError, match=r"sync\.transfers: must be >= 1"):
        load_settings(None, {})


def test_check_config_cli_exit_codes(ops_env: OpsEnv, tmp_path: Path) -> None:
    token = write_private(tmp_path / "token", "sup3r-secret\n")
    good = write_private(
        tmp_path / "good.toml", f'[server]\ntoken_file = "{token}"\n[sync]\ntransfers = 3\n'
    )
    done = ops_env.run("check-config", "--config", str(good), "--offline", SYNCD_LOG__LEVEL="debug")
    assert done.returncode == 0, done.stderr
    assert "transfers = 3" in done.stdout and 'level = "debug"' in done.stdout
    assert "sup3r-secret" not in done.stdout + done.stderr

    bad = write_private(tmp_path / "bad.toml", "[sync]\ntransfers = 0\n")
    done = ops_env.run("check-config", "--config", str(bad))
    assert done.returncode == 78
    assert "sync.transfers: must be >= 1 (got 0)" in done.stderr

    bad.chmod(0o644)
    done = ops_env.run("check-config", "--config", str(bad))
    assert done.returncode == 78 and f"chmod 600 {bad}" in done.stderr

    inline = write_private(tmp_path / "inline.toml", '[server]\ntoken = "inl1ne-secret"\n')
    done = ops_env.run("check-config", "--config", str(inline), "--offline")
    assert done.returncode == 0 and "inl1ne-secret" not in done.stdout
    assert "least safe" in done.stdout


def test_env_lists_sections_and_other_programs_variables(
    ops_env: OpsEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A list key is JSON, a whole section may be one JSON object (its keys under the
    per-key variables), names match in any case, and SYNCD_* variables of the server or of
    no section are not config keys."""
    monkeypatch.setenv("SYNCD_SYNC__IGNORE", '["*.bak", "Drafts/"]')
    monkeypatch.setenv("SYNCD_LOG", '{"level": "warning", "format": "json"}')
    monkeypatch.setenv("syncd_log__level", "error")
    monkeypatch.setenv("SYNCD_INGEST_RETRY_DELAYS_S", "0.05,0.1")
    monkeypatch.setenv("SYNCD_BLOBS", "local")
    settings = load_settings(None, {})
    assert settings.sync.ignore == ["*.bak", "Drafts/"]
    assert (settings.log.level, settings.log.format) == ("error", "json")
    monkeypatch.setenv("SYNCD_SYNC__IGNORE", "*.bak")
    with pytest.raises(ConfigError, match="SYNCD_SYNC__IGNORE: not valid JSON"):
        load_settings(None, {})
    monkeypatch.delenv("SYNCD_SYNC__IGNORE")
    monkeypatch.setenv("SYNCD_SYNC__TRANSFERX", "3")
    with pytest.raises(ConfigError, match=r"sync\.transferx: unknown key"):
        load_settings(None, {})
