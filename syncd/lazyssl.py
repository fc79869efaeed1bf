"""aiohttp without the cost of its import-time SSL contexts: aiohttp builds two at import, each
loading the system CA bundle (~30 ms and ~1.5 MiB each here), which a daemon talking http:// to
its server never uses. Imported through here they are the same contexts, but each loads its
CAs when it first wraps a connection (https), so nothing changes for a caller but the time."""

from __future__ import annotations

import ssl
import sys
import threading
from collections.abc import Callable
from types import ModuleType
from typing import Any

_LOCK = threading.Lock()


def import_aiohttp() -> ModuleType:
    """`import aiohttp`, with CA loading deferred for the contexts made while importing it."""
    if "aiohttp" in sys.modules:
        return sys.modules["aiohttp"]
    pending: list[ssl.SSLContext] = []
    real = ssl.SSLContext.set_default_verify_paths

    def defer(context: ssl.SSLContext) -> None:
        pending.append(context)

    setattr(ssl.SSLContext, "set_default_verify_paths", defer)  # noqa: B010
    try:
        import aiohttp
    finally:
        setattr(ssl.SSLContext, "set_default_verify_paths", real)  # noqa: B010
    for context in pending:
        _load_on_first_use(context)
    return aiohttp


def _load_on_first_use(context: ssl.SSLContext) -> None:
    """Until its first wrap (asyncio's TLS uses wrap_bio), `context` has no CAs loaded."""

    def load() -> None:
        with _LOCK:
            if "wrap_bio" in vars(context):
                del context.wrap_bio, context.wrap_socket
                context.set_default_verify_paths()

    def first(wrap: Callable[..., Any]) -> Callable[..., Any]:
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            load()
            return wrap(context, *args, **kwargs)

        return wrapped

    setattr(context, "wrap_bio", first(ssl.SSLContext.wrap_bio))  # noqa: B010
    setattr(context, "wrap_socket", first(ssl.SSLContext.wrap_socket))  # noqa: B010
