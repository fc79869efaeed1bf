"""Daemon configuration: one pydantic-settings model read from TOML with SYNCD_* env overrides
(DESIGN §6). Precedence: flags > env > file > defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServerSection(BaseModel):
    url: str = "http://127.0.0.1:8750"
    token_file: Path | None = None
    token: SecretStr | None = None  # least safe: prefer token_file or systemd credentials


class SyncSection(BaseModel):
    root: Path = Path("~/WhatsApp Media")
    mode: Literal["mirror", "backup"] = "mirror"
    transfers: int = Field(4, ge=1, le=64)
    max_delete: int = Field(50, ge=0)
    settle_s: float = Field(1.0, ge=0)
    quiet_s: float = Field(0.2, ge=0)
    max_wait_s: float = Field(2.0, ge=0)
    rescan_interval_s: float = Field(300.0, gt=0)
    ignore: list[str] = Field(default_factory=list)
    state_dir: Path | None = None  # default: $XDG_STATE_HOME/syncd/<library-id>


class LogSection(BaseModel):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "console", "json"] = "auto"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SYNCD_", env_nested_delimiter="__", extra="forbid"
    )

    server: ServerSection = Field(default_factory=ServerSection)
    sync: SyncSection = Field(default_factory=SyncSection)
    log: LogSection = Field(default_factory=LogSection)
