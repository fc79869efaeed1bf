"""`--blobs` URLs: what is accepted, and each refusal names the setting (exit 78 upstream)."""

from __future__ import annotations

import pytest

from syncd.errors import ConfigError
from syncd.server.blobs.settings import parse_blobs_url

CREDS = {"AWS_ACCESS_KEY_ID": "key", "AWS_SECRET_ACCESS_KEY": "secret"}


@pytest.mark.parametrize(
    ("url", "env", "bucket", "prefix", "endpoint", "region"),
    [
        ("s3://media", CREDS, "media", "", None, "us-east-1"),
        ("s3://media/", CREDS, "media", "", None, "us-east-1"),
        ("s3://media/a/b/", CREDS, "media", "a/b", None, "us-east-1"),
        (
            "s3://media?endpoint=http://127.0.0.1:8333/",
            {**CREDS, "AWS_REGION": "eu-west-3"},
            "media",
            "",
            "http://127.0.0.1:8333",
            "eu-west-3",
        ),
        (
            "s3://m?endpoint=https://s3.example&region=auto",
            {**CREDS, "AWS_REGION": "eu-west-3"},
            "m",
            "",
            "https://s3.example",
            "auto",
        ),
    ],
)
def test_accepted(
    url: str, env: dict[str, str], bucket: str, prefix: str, endpoint: str | None, region: str
) -> None:
    s = parse_blobs_url(url, env)
    assert (s.bucket, s.prefix, s.endpoint, s.region) == (bucket, prefix, endpoint, region)
    assert (s.access_key_id, s.secret_access_key) == ("key", "secret")
    assert "secret" not in repr(s) and "secret" not in s.describe()


@pytest.mark.parametrize(
    ("url", "env", "names"),
    [
        ("/srv/blobs", CREDS, "s3://BUCKET"),
        ("gs://media", CREDS, "s3://BUCKET"),
        ("s3://", CREDS, "bucket"),
        ("s3://user:pw@media", CREDS, "no user"),
        ("s3://media:9000", CREDS, "port"),
        ("s3://media?endpoint=ftp://h", CREDS, "endpoint"),
        ("s3://media?endpoint=http://h/path", CREDS, "endpoint"),
        ("s3://media?endpoint=", CREDS, "endpoint"),
        ("s3://media?endpoint=http://a&endpoint=http://b", CREDS, "endpoint"),
        ("s3://media?acl=public", CREDS, "acl"),
        ("s3://media", {}, "AWS_ACCESS_KEY_ID"),
        ("s3://media", {"AWS_ACCESS_KEY_ID": "key"}, "AWS_SECRET_ACCESS_KEY"),
    ],
)
def test_refused_with_the_setting_named(url: str, env: dict[str, str], names: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_blobs_url(url, env)
    message = str(caught.value)
    assert message.startswith("--blobs (SYNCD_BLOBS): ") and names in message
    assert "secret" not in message
