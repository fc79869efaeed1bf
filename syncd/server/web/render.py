"""HTML answers of the web page: the Jinja2 environment (autoescaped templates/), the security
headers every page carries (a Content-Security-Policy without inline script, no referrer,
no caching) and the error page."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import jinja2
from aiohttp import web

from syncd.errors import ApiError
from syncd.units import human_bytes, plural

# Everything comes from syncd itself; no inline script or style, no plugins, no framing.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "media-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CSP,
    "Referrer-Policy": "same-origin",  # no-referrer would make Chrome send `Origin: null`
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


def when(ns: int | None) -> str:
    """`2026-12-02 05:40 UTC`; empty for None."""
    if not ns:
        return ""
    return datetime.fromtimestamp(ns / 1e9, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def iso(ns: int | None) -> str:
    if not ns:
        return ""
    return datetime.fromtimestamp(ns / 1e9, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("syncd.server.web", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["size"] = human_bytes
    env.filters["when"] = when
    env.filters["iso"] = iso
    env.globals["plural"] = plural
    return env


ENV = _environment()


def render(
    template: str,
    context: dict[str, Any],
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> web.Response:
    body = ENV.get_template(template).render(now_s=time.time(), **context)
    resp = web.Response(text=body, status=status, content_type="text/html", charset="utf-8")
    resp.headers.update(PAGE_HEADERS)
    resp.headers.update(headers or {})
    return resp


def error_page(error: ApiError, signed_in: bool = False) -> web.Response:
    """An API error (404 of another user's folder, 403 cross-site...) as a page."""
    context = {"status": error.http_status, "message": error.message, "signed_in": signed_in}
    return render("error.html", {**context, "csrf": "", "user": None}, status=error.http_status)


def see_other(location: str, headers: dict[str, str] | None = None) -> web.Response:
    resp = web.Response(status=303, headers={"Location": location, **PAGE_HEADERS})
    resp.headers.update(headers or {})
    return resp
