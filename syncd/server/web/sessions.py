"""Browser sessions: the cookie (HttpOnly, SameSite=Strict, Secure on https), its lifetime,
and the rules that refuse cross-site state changes (Origin / Sec-Fetch-Site and a CSRF token).
Pure functions, plus `request_session`, the one lookup of a request's session."""

from __future__ import annotations

import hmac
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from aiohttp import web

from syncd.errors import Forbidden
from syncd.server.meta import Db
from syncd.server.web.store import SessionUser, session_user

COOKIE = "syncd_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf"
SESSION_TTL_S = 7 * 86_400  # a session lasts a week, then the user signs in again
LOGIN_LINK_TTL_S = 15 * 60
MAX_LOGIN_LINK_TTL_S = 7 * 86_400
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
NS = 1_000_000_000


def expires_ns(now_ns: int, ttl_s: float) -> int:
    return now_ns + int(ttl_s * NS)


def is_expired(expires_at_ns: int, now_ns: int) -> bool:
    """A session or link is dead from its expiry instant on (the store's `expires_ns>?`)."""
    return now_ns >= expires_at_ns


def is_https(request: web.Request) -> bool:
    """https here or at the reverse proxy in front (which then says so)."""
    forwarded = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
    return request.secure or forwarded == "https"


@dataclass(frozen=True)
class CookieSpec:
    """What `Set-Cookie` carries for a session."""

    max_age_s: int
    secure: bool

    def set_on(self, response: web.StreamResponse, value: str) -> None:
        response.set_cookie(
            COOKIE,
            value,
            max_age=self.max_age_s,
            httponly=True,
            samesite="Strict",
            secure=self.secure,
            path="/",
        )


def cross_site_reason(origin: str | None, fetch_site: str | None, host: str) -> str | None:
    """Why a state-changing request is refused as cross-site, or None when it is same-origin.
    A browser sends Origin on every POST/PUT/DELETE and Sec-Fetch-Site on every request;
    either naming another site refuses it. Requests without both (curl with a cookie) are left
    to the CSRF token, which a browser on another site cannot read."""
    if fetch_site is not None and fetch_site.strip().lower() not in ("same-origin", "none"):
        return f"Sec-Fetch-Site: {fetch_site.strip()}"
    if origin is not None:
        if origin.strip().lower() == "null":
            return "Origin: null"
        if urlsplit(origin.strip()).netloc.lower() != host.lower():
            return "Origin is another site"
    return None


def csrf_matches(sent: str | None, expected: str) -> bool:
    return sent is not None and bool(expected) and hmac.compare_digest(sent, expected)


def check_same_origin(request: web.Request) -> None:
    """403 when a state-changing request comes from another site."""
    reason = cross_site_reason(
        request.headers.get("Origin"), request.headers.get("Sec-Fetch-Site"), request.host
    )
    if reason is not None:
        raise Forbidden(f"cross-site request refused ({reason})", reason="cross_site")


def request_session(
    request: web.Request, db: Db, csrf_sent: str | None = None
) -> SessionUser | None:
    """The request's session user, or None without a valid cookie. For anything but
    GET/HEAD/OPTIONS the request must be same-origin and carry the session's CSRF token
    (header `X-CSRF-Token`, or `csrf_sent` from a form field): 403 otherwise."""
    secret = request.cookies.get(COOKIE)
    if not secret:
        return None
    found = session_user(db, secret, time.time_ns())
    if found is None or request.method in SAFE_METHODS:
        return found
    check_same_origin(request)
    sent = csrf_sent if csrf_sent is not None else request.headers.get(CSRF_HEADER)
    if not csrf_matches(sent, found.csrf):
        raise Forbidden("missing or wrong CSRF token", reason="csrf")
    return found
