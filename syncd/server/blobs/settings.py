"""Which blob backend `--blobs` / SYNCD_BLOBS names, parsed and checked at start-up (a bad URL
or missing credentials is a ConfigError naming the setting: exit 78). Imports no driver."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

from syncd.errors import ConfigError

SETTING = "--blobs (SYNCD_BLOBS)"
QUERY_KEYS = frozenset({"endpoint", "region"})
DEFAULT_REGION = "us-east-1"  # what S3-compatible stores expect when none is given


@dataclass(frozen=True)
class S3Settings:
    bucket: str
    prefix: str  # "" or "a/b": keys are "<prefix>/ab/cd/<sha256>"
    endpoint: str | None  # None: AWS itself
    region: str
    access_key_id: str = field(repr=False)
    secret_access_key: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)

    def describe(self) -> str:
        """For logs and health: never the credentials."""
        where = self.endpoint or "aws"
        return f"s3://{self.bucket}/{self.prefix} at {where}"


def parse_blobs_url(url: str, env: Mapping[str, str] | None = None) -> S3Settings:
    """`s3://BUCKET[/PREFIX]?endpoint=http://HOST:PORT[&region=R]`, credentials from
    AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (AWS_SESSION_TOKEN, AWS_REGION optional)."""
    env = os.environ if env is None else env
    parts = urlsplit(url)
    if parts.scheme != "s3":
        raise ConfigError(f"{SETTING}: {url!r} is not an s3://BUCKET URL")
    if not parts.hostname or parts.username or parts.password or parts.port:
        raise ConfigError(f"{SETTING}: give the bucket as s3://BUCKET (no user, password or port)")
    query = parse_qs(parts.query, keep_blank_values=True)
    unknown = sorted(set(query) - QUERY_KEYS)
    if unknown:
        raise ConfigError(f"{SETTING}: unknown parameter {unknown[0]!r} (known: endpoint, region)")
    endpoint = _one(query, "endpoint")
    if endpoint is not None:
        ep = urlsplit(endpoint)
        if ep.scheme not in ("http", "https") or not ep.hostname or ep.path not in ("", "/"):
            raise ConfigError(
                f"{SETTING}: endpoint must be http(s)://HOST[:PORT], not {endpoint!r}"
            )
    key, secret = env.get("AWS_ACCESS_KEY_ID", ""), env.get("AWS_SECRET_ACCESS_KEY", "")
    for name, value in (("AWS_ACCESS_KEY_ID", key), ("AWS_SECRET_ACCESS_KEY", secret)):
        if not value:
            raise ConfigError(f"{SETTING}: {name} is not set (the bucket's credentials)")
    return S3Settings(
        bucket=parts.netloc,
        prefix=parts.path.strip("/"),
        endpoint=endpoint.rstrip("/") if endpoint else None,
        region=_one(query, "region") or env.get("AWS_REGION") or DEFAULT_REGION,
        access_key_id=key,
        secret_access_key=secret,
        session_token=env.get("AWS_SESSION_TOKEN") or None,
    )


def _one(query: dict[str, list[str]], key: str) -> str | None:
    values = query.get(key)
    if not values:
        return None
    if len(values) > 1 or not values[0]:
        raise ConfigError(f"{SETTING}: give {key} once, with a value")
    return values[0]
