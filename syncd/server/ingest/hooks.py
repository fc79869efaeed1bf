"""Per-user webhook hooks: create / list / remove / look up, with their gateway secrets kept in
the server database (needed in clear to check signatures and call gateways; never logged,
never printed by `list-hooks`). The hook id in `/hooks/<id>` is 160 random bits."""

from __future__ import annotations

import base64
import json
import secrets
from typing import Literal

from pydantic import BaseModel, Field
from yarl import URL

from syncd.errors import BadRequest, NotFound
from syncd.server.db import now_ns
from syncd.server.meta import Db
from syncd.server.users import user_by_name

HookType = Literal["waha", "cloudapi", "evolution"]
MiB = 1 << 20
# Per-kind caps of incoming media (a customer's phone allows up to 2 GB since 2022).
DEFAULT_CAPS_BYTES: dict[str, int] = {
    "image": 64 * MiB,
    "audio": 256 * MiB,
    "video": 2048 * MiB,
    "document": 2048 * MiB,
    "sticker": 4 * MiB,
}
DEFAULT_MEDIA_HOSTS = ("lookaside.fbsbx.com",)


class HookConfig(BaseModel):
    """Everything a hook needs; stored as JSON in `ingest_hooks.config`."""

    gateway_url: str | None = None  # waha, evolution
    api_key: str | None = None  # waha, evolution
    jwt_key: str | None = None  # evolution: verify `Authorization: Bearer <HS256 JWT>`
    session: str | None = None  # waha: the session files are sent from ("default")
    phone_number_id: str | None = None  # cloudapi: the business number files are sent from
    instance: str | None = None  # evolution: the instance files are sent from
    hmac_key: str | None = None  # waha
    insecure_no_hmac: bool = False  # waha: explicit opt-out of signatures
    graph_url: str | None = None  # cloudapi
    access_token: str | None = None  # cloudapi
    app_secret: str | None = None  # cloudapi
    verify_token: str | None = None  # cloudapi
    media_hosts: list[str] = Field(default_factory=lambda: list(DEFAULT_MEDIA_HOSTS))
    caps_bytes: dict[str, int] = Field(default_factory=lambda: dict(DEFAULT_CAPS_BYTES))

    def cap_for(self, kind: str) -> int:
        return self.caps_bytes.get(
            kind, DEFAULT_CAPS_BYTES.get(kind, DEFAULT_CAPS_BYTES["document"])
        )


class Hook(BaseModel):
    id: str
    user_id: str
    type: HookType
    created_ns: int
    config: HookConfig

    def public(self) -> dict[str, object]:
        """What may be shown: no secrets, only whether they are set."""
        c = self.config
        info: dict[str, object] = {
            "id": self.id,
            "user_id": self.user_id,
            "type": self.type,
            "path": f"/hooks/{self.id}",
        }
        if self.type == "waha":
            info |= {"gateway_url": c.gateway_url, "signed": not c.insecure_no_hmac}
            info |= {"session": c.session or "default"}
        elif self.type == "evolution":
            info |= {"gateway_url": c.gateway_url, "jwt": c.jwt_key is not None}
            info |= {"media_hosts": c.media_hosts, "instance": c.instance}
        else:
            info |= {"phone_number_id": c.phone_number_id}
            info |= {"graph_url": c.graph_url, "media_hosts": c.media_hosts}
        return info


def new_hook_id() -> str:
    raw = base64.b32encode(secrets.token_bytes(20)).decode("ascii").lower()
    return f"hk_{raw}"


def _http_url(value: str | None, option: str) -> str:
    if not value:
        raise BadRequest(f"{option} is required")
    url = URL(value)
    if url.scheme not in ("http", "https") or not url.host or url.user or url.query_string:
        raise BadRequest(f"{option} must be an http(s) URL without credentials or query")
    return str(url).rstrip("/")


def validate(hook_type: HookType, config: HookConfig) -> HookConfig:
    """Check the options of a new hook; returns the config with normalised URLs."""
    if hook_type == "waha":
        gateway = _http_url(config.gateway_url, "--gateway-url")
        if not config.api_key:
            raise BadRequest("--api-key is required for a WAHA hook")
        if not config.hmac_key and not config.insecure_no_hmac:
            raise BadRequest("--hmac-key is required (or pass --insecure-no-hmac explicitly)")
        return config.model_copy(update={"gateway_url": gateway})
    if hook_type == "evolution":
        gateway = _http_url(config.gateway_url, "--gateway-url")
        if not config.api_key:
            raise BadRequest("--api-key is required for an Evolution API hook")
        # Only hosts named with --media-host: never Meta's default for another gateway.
        hosts = [h.strip().lower() for h in config.media_hosts if h.strip()]
        if hosts == list(DEFAULT_MEDIA_HOSTS):
            hosts = []
        return config.model_copy(update={"gateway_url": gateway, "media_hosts": hosts})
    graph = _http_url(config.graph_url, "--graph-url")
    for option, value in (
        ("--access-token", config.access_token),
        ("--app-secret", config.app_secret),
        ("--verify-token", config.verify_token),
    ):
        if not value:
            raise BadRequest(f"{option} is required for a Cloud API hook")
    hosts = [h.strip().lower() for h in config.media_hosts if h.strip()]
    if not hosts:
        raise BadRequest("at least one --media-host is required")
    return config.model_copy(update={"graph_url": graph, "media_hosts": hosts})


def add_hook(db: Db, user_name: str, hook_type: HookType, config: HookConfig) -> Hook:
    user = user_by_name(db, user_name)
    config = validate(hook_type, config)
    hook = Hook(
        id=new_hook_id(), user_id=user["id"], type=hook_type, created_ns=now_ns(), config=config
    )
    with db.tx() as conn:
        conn.execute(
            "INSERT INTO ingest_hooks (id, user_id, type, config, created_ns) VALUES (?,?,?,?,?)",
            (hook.id, hook.user_id, hook.type, config.model_dump_json(), hook.created_ns),
        )
    return hook


def _from_row(row: object) -> Hook:
    r = dict(row)  # type: ignore[call-overload]
    return Hook(
        id=r["id"],
        user_id=r["user_id"],
        type=r["type"],
        created_ns=r["created_ns"],
        config=HookConfig.model_validate(json.loads(r["config"])),
    )


def get_hook(db: Db, hook_id: str) -> Hook | None:
    row = db.one("SELECT * FROM ingest_hooks WHERE id=?", hook_id)
    return None if row is None else _from_row(row)


def user_hooks(db: Db, user_id: str) -> list[Hook]:
    """One user's hooks, oldest first."""
    rows = db.all("SELECT * FROM ingest_hooks WHERE user_id=? ORDER BY created_ns", user_id)
    return [_from_row(r) for r in rows]


def list_hooks(db: Db) -> list[tuple[Hook, str]]:
    """(hook, user name) pairs, oldest first."""
    rows = db.all(
        "SELECT h.*, u.name AS user_name FROM ingest_hooks h JOIN users u ON u.id=h.user_id"
        " ORDER BY h.created_ns"
    )
    return [(_from_row(r), r["user_name"]) for r in rows]


def remove_hook(db: Db, hook_id: str) -> None:
    """Delete the hook and its pending fetches; finished ones stay as dedupe records."""
    with db.tx() as conn:
        gone = conn.execute("DELETE FROM ingest_hooks WHERE id=?", (hook_id,)).rowcount
        if not gone:
            raise NotFound(f"no hook {hook_id!r}")
        conn.execute("DELETE FROM ingest_jobs WHERE hook_id=? AND state='pending'", (hook_id,))


def short(hook_id: str) -> str:
    """A log-safe prefix of a hook id (the full id is what a caller needs to post)."""
    return hook_id[:8] + "…"
