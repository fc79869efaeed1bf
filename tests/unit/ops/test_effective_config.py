"""check-config's printout masks secrets and is valid TOML."""

import tomllib

from syncd.config import Settings
from syncd.init_command import DEFAULT_UNIT_VALUES, unit_quote
from syncd.ops_commands import effective_config_text


def test_effective_config_masks_secrets() -> None:
    settings = Settings(
        server={"url": "https://bot:pa55word@media.example.com", "token": "s3cr3t-token"}
    )
    text = effective_config_text(settings)
    assert "s3cr3t-token" not in text and "pa55word" not in text
    parsed = tomllib.loads(text)
    assert parsed["server"]["token"] == "**********"
    assert parsed["server"]["url"] == "https://bot:********@media.example.com"
    assert parsed["sync"]["transfers"] == 4
    assert "# token_file = (not set)" in text


def test_unit_quote_escapes_specifiers_and_quotes() -> None:
    assert unit_quote('/home/a b/100%"x') == '"/home/a b/100%%\\"x"'
    assert DEFAULT_UNIT_VALUES["exec_start"].startswith("%h/")
