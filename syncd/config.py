"""Daemon configuration: one pydantic model read from TOML with SYNCD_<SECTION>__<KEY> env
overrides (DESIGN §6). Precedence: flags > env > file > defaults. Also token resolution and the
permission check that refuses secret-bearing files other users can read (DESIGN §5 rule 5)."""

from __future__ import annotations

import json
import os
import stat
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, get_origin
from urllib.parse import urlsplit

import platformdirs
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
)
from pydantic_core import ErrorDetails

from syncd.errors import ConfigError

CREDENTIAL_NAME = "syncd-token"


def _expand(path: Path) -> Path:
    return path.expanduser()


# `~` is expanded at load time so every consumer sees an absolute-ish path.
UserPath = Annotated[Path, AfterValidator(_expand)]


class _Section(BaseModel):
    # forbid: a typo such as `transfer = 3` must fail loudly, not be silently ignored;
    # validate_default: defaults go through the same validators (`~` expansion).
    model_config = ConfigDict(extra="forbid", validate_default=True)


def url_problem(url: str) -> str | None:
    """Why `url` cannot be the server's address (None: it can). `init`, `check-config` and
    every config load apply this one rule."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"must be http://HOST[:PORT] or https://HOST[:PORT] (got {url!r})"
    return None


def _check_url(url: str) -> str:
    problem = url_problem(url)
    if problem:
        raise ValueError(problem)
    return url


def _check_root(path: Path) -> Path:
    # A missing root is fine (first sync creates it; an unmounted disk is reported later);
    # an existing file is a mistake in the config.
    if path.exists() and not path.is_dir():
        raise ValueError(f"{path} is a file, not a folder")
    return path


class ServerSection(_Section):
    url: Annotated[str, AfterValidator(_check_url)] = "http://127.0.0.1:8750"
    token_file: UserPath | None = None
    token: SecretStr | None = None  # least safe: prefer token_file or systemd credentials


class SyncSection(_Section):
    root: Annotated[UserPath, AfterValidator(_check_root)] = Path("~/WhatsApp Media")
    mode: Literal["mirror", "backup"] = "mirror"
    transfers: int = Field(4, ge=1, le=64)
    small_file_bytes: int = Field(1 << 20, ge=0, le=8 << 20)
    max_delete: int = Field(50, ge=0)
    settle_s: float = Field(1.0, ge=0)
    quiet_s: float = Field(0.2, ge=0)
    max_wait_s: float = Field(2.0, ge=0)
    rescan_interval_s: float = Field(300.0, gt=0)
    ignore: list[str] = Field(default_factory=list)
    state_dir: UserPath | None = None  # default: $XDG_STATE_HOME/syncd/<library-id>


class LogSection(_Section):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "console", "json"] = "auto"


class NotifySection(_Section):
    enabled: bool = True
    min_interval_s: float = Field(300.0, ge=0)


class StatusSection(_Section):
    socket: UserPath | None = None  # default: $XDG_RUNTIME_DIR/syncd/<hash of config path>.sock


class Settings(BaseModel):
    # (pydantic-settings did the env and TOML merging once: ~0.1 s of every start-up, for
    # what load_settings does below in a few lines.)
    model_config = ConfigDict(extra="forbid")

    server: ServerSection = Field(default_factory=ServerSection)
    sync: SyncSection = Field(default_factory=SyncSection)
    log: LogSection = Field(default_factory=LogSection)
    notify: NotifySection = Field(default_factory=NotifySection)
    status: StatusSection = Field(default_factory=StatusSection)

    _config_path: Path | None = PrivateAttr(default=None)

    @property
    def config_path(self) -> Path | None:
        """The TOML file these settings were read from (None: defaults/env only)."""
        return self._config_path


ENV_PREFIX = "syncd_"  # SYNCD_<SECTION>__<KEY>, any case; SYNCD_<SECTION> a JSON object


def env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    """The settings the environment sets, by section. Values stay strings (validation converts
    them, as it does TOML's), except list keys (`sync.ignore`) and whole sections: JSON."""
    whole: dict[str, Any] = {}
    keys: dict[str, dict[str, Any]] = {}
    for name, value in environ.items():
        lower = name.lower()
        section, nested, key = lower.removeprefix(ENV_PREFIX).partition("__")
        if not lower.startswith(ENV_PREFIX) or section not in Settings.model_fields:
            continue
        if not nested:
            whole[section] = _json(value, name)
            continue
        model = Settings.model_fields[section].annotation
        field = getattr(model, "model_fields", {}).get(key)
        is_list = field is not None and get_origin(field.annotation) is list
        keys.setdefault(section, {})[key] = _json(value, name) if is_list else value
    return _merge(whole, keys)


def _json(value: str, name: str) -> Any:
    try:
        return json.loads(value)
    except ValueError as exc:
        raise ConfigError(f"environment variable {name}: not valid JSON: {exc}") from None


def _merge(low: dict[str, Any], high: Mapping[str, Any]) -> dict[str, Any]:
    """`high` over `low`, section by section (a section set in both keeps both's keys)."""
    out = dict(low)
    for key, value in high.items():
        below = out.get(key)
        both = isinstance(below, dict) and isinstance(value, dict)
        out[key] = {**below, **value} if both else value  # type: ignore[dict-item]
    return out


def default_config_path() -> Path:
    """`$XDG_CONFIG_HOME/syncd/config.toml` (platformdirs honours XDG_CONFIG_HOME)."""
    return platformdirs.user_config_path("syncd") / "config.toml"


def check_private_file(path: Path, what: str) -> None:
    """Refuse a secret-bearing file that group or others may read or write."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise ConfigError(f"{what} {path} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"{what} {path} cannot be read: {exc.strerror}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"{what} {path} is accessible by group or others (mode {stat.S_IMODE(mode):04o}); "
            f"run: chmod 600 {path}"
        )


def _nest(overrides: dict[str, Any]) -> dict[str, Any]:
    """Accept {"sync.root": x} or {"sync": {"root": x}}; drop None (flag not given)."""
    nested: dict[str, Any] = {}
    for key, value in overrides.items():
        if value is None:
            continue
        if isinstance(value, dict):
            section = nested.setdefault(key, {})
            section.update({k: v for k, v in value.items() if v is not None})
            continue
        section_name, _, field = key.partition(".")
        if not field:
            nested[key] = value
        else:
            nested.setdefault(section_name, {})[field] = value
    return nested


def _describe(error: ErrorDetails) -> str:
    key = ".".join(str(part) for part in error["loc"]) or "config"
    ctx = error.get("ctx") or {}
    got = error.get("input")
    kind = error["type"]
    bounds = {
        "greater_than_equal": (">=", "ge"),
        "greater_than": (">", "gt"),
        "less_than_equal": ("<=", "le"),
        "less_than": ("<", "lt"),
    }
    if kind in bounds:
        op, name = bounds[kind]
        return f"{key}: must be {op} {ctx.get(name)} (got {got!r})"
    if kind == "extra_forbidden":
        return f"{key}: unknown key"
    if kind == "value_error":  # our own validators: their sentence says it all
        return f"{key}: {ctx.get('error')}"
    if kind == "literal_error":
        return f"{key}: must be one of {ctx.get('expected')} (got {got!r})"
    return f"{key}: {error['msg'][:1].lower()}{error['msg'][1:]} (got {got!r})"


def load_settings(
    config_path: Path | None = None, overrides: dict[str, Any] | None = None
) -> Settings:
    """Read settings: flags (overrides) > env SYNCD_<SECTION>__<KEY> > TOML file > defaults.

    An explicit config_path must exist; the default one is optional. Raises ConfigError with
    one message naming the bad key(s)."""
    explicit = config_path is not None
    path = (config_path or default_config_path()).expanduser()
    if path.exists():
        check_private_file(path, "config file")
    elif explicit:
        raise ConfigError(f"config file {path} does not exist (create one with `syncd init`)")
    try:
        from_file = tomllib.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path}: invalid TOML: {exc}") from None
    merged = _merge(_merge(from_file, env_overrides(os.environ)), _nest(overrides or {}))
    try:
        settings = Settings.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError("; ".join(_describe(e) for e in exc.errors())) from None
    settings._config_path = path.resolve() if path.exists() else None
    return settings


def credential_path() -> Path | None:
    """systemd LoadCredential= location of the token, when the service manager provides one."""
    directory = os.environ.get("CREDENTIALS_DIRECTORY")
    return Path(directory) / CREDENTIAL_NAME if directory else None


def token_source(settings: Settings) -> str:
    """Where resolve_token() will take the token from (for check-config; never the token)."""
    if settings.server.token_file is not None:
        return f"server.token_file ({settings.server.token_file})"
    cred = credential_path()
    if cred is not None and cred.exists():
        return f"systemd credential ({cred})"
    if settings.server.token is not None:
        return "server.token (inline in config/env: least safe)"
    return "none"


def resolve_token(settings: Settings) -> str:
    """The bearer token: token_file, else $CREDENTIALS_DIRECTORY/syncd-token, else token."""
    if settings.server.token_file is not None:
        path = settings.server.token_file
        check_private_file(path, "server.token_file:")
        return _non_empty(path.read_text(encoding="utf-8").strip(), f"server.token_file {path}")
    cred = credential_path()
    if cred is not None and cred.exists():
        # systemd creates credentials 0400 for the service user; no mode check needed.
        return _non_empty(cred.read_text(encoding="utf-8").strip(), f"credential {cred}")
    if settings.server.token is not None:
        return _non_empty(settings.server.token.get_secret_value().strip(), "server.token")
    if settings.config_path is None:
        # Nothing configured at all: the real problem is the missing file, not the token.
        raise ConfigError(
            f"no config file at {default_config_path()}: run `syncd init` or pass --config"
        )
    raise ConfigError(
        "server.token_file: no token configured (set server.token_file, provide the systemd "
        f"credential {CREDENTIAL_NAME}, or set server.token)"
    )


def _non_empty(token: str, where: str) -> str:
    if not token:
        raise ConfigError(f"{where}: token is empty")
    return token
