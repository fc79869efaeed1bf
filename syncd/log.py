"""structlog set-up shared by both programs: console renderer on a TTY, JSON lines otherwise,
and redaction of secrets (tokens, Authorization headers, webhook secrets) in every event."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

# `import structlog` imports structlog.dev, which imports rich (and pygments) when installed:
# ~0.15 s and several MiB in every process, for pretty tracebacks we never want (exceptions
# are rendered as plain text before redaction, never with locals). rich is hidden during
# that one import only; the status commands that draw with rich import it later as usual.
_hide_rich = "rich" not in sys.modules
if _hide_rich:
    sys.modules["rich"] = None  # type: ignore[assignment]  # `import rich` -> ImportError
try:
    import structlog
finally:
    if _hide_rich:
        del sys.modules["rich"]

_SECRET_KEYS = re.compile(
    r"(token|authorization|secret|password|api_key|apikey|hmac|signature|cookie)", re.I
)
_BEARER = re.compile(r"((?:Bearer|Basic)\s+)[A-Za-z0-9._~+/=-]+", re.I)
# `api_key=abc`, `"token": "abc"` inside free text (messages, exception strings, URLs).
_INLINE = re.compile(
    r"((?:token|secret|password|api_?key|hmac_?key|signature|access_token)[\"']?\s*[=:]\s*"
    r"[\"']?)[^\s\"'&,;}]+",
    re.I,
)
REDACTED = "[redacted]"


def redact_text(text: str) -> str:
    """Blank bearer tokens and `key=value` secrets inside a free-form string."""
    return _INLINE.sub(r"\1" + REDACTED, _BEARER.sub(r"\1" + REDACTED, text))


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {
            k: REDACTED if _SECRET_KEYS.search(str(k)) else _redact_value(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple | set):
        return [_redact_value(v) for v in value]
    if isinstance(value, bytes | bytearray):
        return _redact_value(bytes(value).decode("utf-8", "replace"))
    return value


def redact_secrets(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: blank every key that names a secret and every bearer token."""
    for key in list(event_dict):
        if key != "event" and _SECRET_KEYS.search(key):
            event_dict[key] = REDACTED
        else:
            event_dict[key] = _redact_value(event_dict[key])
    return event_dict


def configure(level: str = "info", fmt: str = "auto", stream: Any = None) -> None:
    """Configure structlog once per process.

    Exceptions are formatted to text *before* redaction (plain tracebacks, never locals), so
    a secret inside an exception message or a local variable cannot reach the output."""
    stream = stream or sys.stderr
    use_console = fmt == "console" or (fmt == "auto" and stream.isatty())
    renderer: Any = (
        structlog.dev.ConsoleRenderer(colors=stream.isatty())
        if use_console
        else structlog.processors.JSONRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            redact_secrets,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)
