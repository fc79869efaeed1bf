"""Signing in and out: a one-time link from `syncd admin login-link` (`GET /login/{secret}`),
the form that takes the user's API token in a POST body, and sign-out. Each sign-in starts
a session (web/store.py) and sets its cookie; the cookie value is never logged."""

from __future__ import annotations

import time
from urllib.parse import parse_qs

from aiohttp import web

from syncd.errors import ApiError, Forbidden, ServerError
from syncd.log import get_logger
from syncd.server.http import USER_ID_KEY, read_body, state_of
from syncd.server.users import user_by_token
from syncd.server.web import store
from syncd.server.web.render import PAGE_HEADERS, error_page, render, see_other
from syncd.server.web.sessions import (
    COOKIE,
    CSRF_FIELD,
    SESSION_TTL_S,
    CookieSpec,
    check_same_origin,
    expires_ns,
    is_https,
    request_session,
)

MAX_FORM_BYTES = 4096
log = get_logger(__name__)
routes = web.RouteTableDef()


def _start_session(request: web.Request, user_id: str, response: web.Response) -> None:
    now = time.time_ns()
    secret, _ = store.create_session(
        state_of(request).db, user_id, now, expires_ns(now, SESSION_TTL_S)
    )
    spec = CookieSpec(max_age_s=SESSION_TTL_S, secure=is_https(request))
    spec.set_on(response, secret)
    request[USER_ID_KEY] = user_id


async def _form(request: web.Request) -> dict[str, str]:
    raw = await read_body(request, MAX_FORM_BYTES)
    fields = parse_qs(raw.decode("utf-8", errors="replace"), keep_blank_values=True)
    return {key: values[0] for key, values in fields.items() if values}


@routes.get("/login", name="web_login_form")
async def login_form(request: web.Request) -> web.Response:
    if request_session(request, state_of(request).db) is not None:
        return see_other("/")  # signed in already
    return render("login.html", {"user": None, "csrf": "", "message": None})


@routes.post("/login", name="web_login_token")
async def login_token(request: web.Request) -> web.Response:
    """The token comes in the POST body, never in a URL; a cross-site form is refused (no
    one can sign a visitor into their own account)."""
    try:
        check_same_origin(request)
    except ApiError as error:
        return error_page(error)
    token = (await _form(request)).get("token", "").strip()
    user = user_by_token(state_of(request).db, token) if token else None
    if user is None:
        message = "That token is not valid. Paste the whole token, or ask for a sign-in link."
        return render("login.html", {"user": None, "csrf": "", "message": message}, status=401)
    response = see_other("/")
    _start_session(request, user["id"], response)
    log.info("signed_in", user_id=user["id"], method="token")
    return response


@routes.get("/login/{secret}", name="web_login_link")
async def login_link(request: web.Request) -> web.Response:
    """Spend a one-time link. A browser that arrived from another site (a mail client's
    page) does not send a SameSite=Strict cookie on the redirect that follows, so it gets a
    page that moves on by itself (a same-site navigation) instead of a 303."""
    try:
        user_id = store.use_login_link(
            state_of(request).db, request.match_info["secret"], time.time_ns()
        )
    except Exception:  # logged here without the path: the path holds the secret
        log.exception("login_link_failed")
        return error_page(ServerError("could not sign in; try again"))
    if user_id is None:
        log.info("login_link_refused")
        return error_page(
            Forbidden("This sign-in link was used already or has expired; ask for a new one.")
        )
    fetch_site = request.headers.get("Sec-Fetch-Site", "none").lower()
    if fetch_site in ("none", "same-origin"):
        response = see_other("/")
    else:
        no_referrer = {"Referrer-Policy": "no-referrer"}  # its URL held the link's secret
        response = render("signed_in.html", {"user": None, "csrf": ""}, headers=no_referrer)
    _start_session(request, user_id, response)
    log.info("login_link_used", user_id=user_id)
    return response


@routes.post("/logout", name="web_logout")
async def logout(request: web.Request) -> web.Response:
    form = await _form(request)
    try:
        found = request_session(request, state_of(request).db, form.get(CSRF_FIELD, ""))
    except ApiError as error:
        return error_page(error)
    response = see_other("/login")
    secret = request.cookies.get(COOKIE)
    if found is not None and secret:
        store.end_session(state_of(request).db, secret)
        log.info("signed_out", user_id=found.user["id"])
    response.del_cookie(COOKIE, path="/")
    response.headers.update(PAGE_HEADERS)
    return response
