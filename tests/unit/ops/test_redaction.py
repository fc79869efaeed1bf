"""Secrets never reach log output, with either renderer (DESIGN §5 rule 5)."""

import io

import pytest

from syncd import log

SECRETS = ["abc123tok", "abcBEARER", "key-one", "hmac-two", "app-three", "zzzQUERY"]


@pytest.mark.parametrize("fmt", ["console", "json"])
def test_secrets_are_redacted_in_every_renderer(fmt: str) -> None:
    out = io.StringIO()
    log.configure("debug", fmt, out)
    logger = log.get_logger("test")
    logger.info(
        "request_sent",
        token="abc123tok",
        headers={"Authorization": "Bearer abcBEARER", "Accept": "application/json"},
        note="sent Bearer abcBEARER to /v1/changes?access_token=zzzQUERY",
        api_key="key-one",
        hmac_key="hmac-two",
        app_secret="app-three",
        args=["Bearer abcBEARER"],
    )
    try:
        raise RuntimeError("upload refused for token=abc123tok")
    except RuntimeError:
        logger.exception("upload_failed")
    text = out.getvalue()
    for secret in SECRETS:
        assert secret not in text, f"{secret} leaked with {fmt}: {text}"
    # The events themselves are still there, with the non-secret values.
    assert "request_sent" in text and "upload_failed" in text
    assert "application/json" in text and "/v1/changes" in text
    assert log.REDACTED in text


def test_redact_text_keeps_ordinary_words() -> None:
    assert log.redact_text("token file missing") == "token file missing"
    assert log.redact_text("Authorization: Bearer x.y.z") == "Authorization: Bearer [redacted]"
