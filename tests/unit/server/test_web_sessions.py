"""The web page's pure rules and its store on a real database: session and sign-in link
expiry, one use per link, the cross-site (Origin / Sec-Fetch-Site) and CSRF checks, the
cookie's attributes, token rotation ending sessions, and the thumbnail cache bound."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from aiohttp import web
from PIL import Image

from syncd.server.meta import Db, open_db
from syncd.server.users import create_user, rotate_token
from syncd.server.web import store
from syncd.server.web.sessions import (
    COOKIE,
    CookieSpec,
    cross_site_reason,
    csrf_matches,
    expires_ns,
    is_expired,
)
from syncd.server.web.thumbs import THUMB_PX, image_to_webp, trim
from syncd.units import parse_duration_s

S = 1_000_000_000
HOST = "media.example.com:8750"


@pytest.fixture
def db(tmp_path: Path, db_url: str | None) -> Db:
    """On each metadata backend (SQLite, PostgreSQL)."""
    return open_db(tmp_path, db_url)


def test_expiry_is_the_instant_of_expires_ns() -> None:
    deadline = expires_ns(100 * S, 15 * 60)
    assert deadline == 100 * S + 900 * S
    assert not is_expired(deadline, deadline - 1)
    assert is_expired(deadline, deadline)


def test_a_session_is_valid_until_it_expires_then_gone(db: Db) -> None:
    user_id, _ = create_user(db, "alice", 1 << 20, 1 << 20)
    secret, csrf = store.create_session(db, user_id, 0, expires_ns(0, 60))
    assert secret.startswith("ss_") and csrf
    found = store.session_user(db, secret, 59 * S)
    assert found is not None and found.user["id"] == user_id and found.csrf == csrf
    assert store.session_user(db, secret, 60 * S) is None
    assert store.session_user(db, secret + "x", 1) is None
    stored = db.one("SELECT id_hash FROM web_sessions")
    assert stored is not None and secret not in stored["id_hash"]  # only a hash at rest


def test_a_sign_in_link_works_once_and_not_after_it_expires(db: Db) -> None:
    user_id, _ = create_user(db, "alice", 1 << 20, 1 << 20)
    link = store.create_login_link(db, user_id, 0, expires_ns(0, 900))
    late = store.create_login_link(db, user_id, 0, expires_ns(0, 900))
    assert store.use_login_link(db, link, 10 * S) == user_id
    assert store.use_login_link(db, link, 11 * S) is None  # spent
    assert store.use_login_link(db, late, 900 * S) is None  # expired
    assert store.use_login_link(db, "ln_made_up", 1) is None


def test_rotating_the_token_ends_sessions_and_unused_links(db: Db) -> None:
    user_id, _ = create_user(db, "alice", 1 << 20, 1 << 20)
    other_id, _ = create_user(db, "bob", 1 << 20, 1 << 20)
    secret, _ = store.create_session(db, user_id, 0, expires_ns(0, 3600))
    kept, _ = store.create_session(db, other_id, 0, expires_ns(0, 3600))
    link = store.create_login_link(db, user_id, 0, expires_ns(0, 900))
    rotate_token(db, "alice")
    assert store.session_user(db, secret, S) is None
    assert store.use_login_link(db, link, S) is None
    assert store.session_user(db, kept, S) is not None  # bob is not touched


def test_purge_forgets_expired_sessions_and_links(db: Db) -> None:
    user_id, _ = create_user(db, "alice", 1 << 20, 1 << 20)
    store.create_session(db, user_id, 0, expires_ns(0, 10))
    live, _ = store.create_session(db, user_id, 0, expires_ns(0, 100))
    store.create_login_link(db, user_id, 0, expires_ns(0, 10))
    assert store.purge_expired(db, 50 * S) == 2
    assert store.session_user(db, live, 50 * S) is not None


@pytest.mark.parametrize(
    ("origin", "fetch_site", "refused"),
    [
        (f"https://{HOST}", "same-origin", False),
        (None, "same-origin", False),
        (None, None, False),  # not a browser: left to the CSRF token
        (None, "none", False),  # typed or bookmarked
        ("https://evil.example", None, True),
        ("http://media.example.com:9999", None, True),  # another port: another origin
        (f"https://{HOST}", "same-site", True),
        (None, "cross-site", True),
        ("null", None, True),
    ],
)
def test_cross_site_reason(origin: str | None, fetch_site: str | None, refused: bool) -> None:
    assert (cross_site_reason(origin, fetch_site, HOST) is not None) == refused


def test_csrf_token_must_match_exactly() -> None:
    assert csrf_matches("abc", "abc")
    assert not csrf_matches(None, "abc")
    assert not csrf_matches("abd", "abc")
    assert not csrf_matches("", "")  # an empty expected token never matches


def test_session_cookie_is_httponly_strict_and_secure_only_on_https() -> None:
    plain, tls = web.Response(), web.Response()
    CookieSpec(max_age_s=60, secure=False).set_on(plain, "ss_x")
    CookieSpec(max_age_s=60, secure=True).set_on(tls, "ss_x")
    cookie = plain.cookies[COOKIE]
    assert cookie.value == "ss_x" and cookie["httponly"] and cookie["samesite"] == "Strict"
    assert cookie["path"] == "/" and cookie["max-age"] == "60" and not cookie["secure"]
    assert tls.cookies[COOKIE]["secure"]


def test_login_link_lifetimes_parse() -> None:
    assert parse_duration_s("15m") == 900 and parse_duration_s("2d") == 172_800
    with pytest.raises(ValueError, match="use a number"):
        parse_duration_s("soon")


def test_thumbnail_is_a_small_webp_with_the_source_aspect() -> None:
    source = io.BytesIO()
    Image.new("RGB", (1600, 800), "teal").save(source, "JPEG")
    webp = image_to_webp(source.getvalue())
    with Image.open(io.BytesIO(webp)) as thumb:
        assert thumb.format == "WEBP" and thumb.size == (THUMB_PX, THUMB_PX // 2)


def test_thumbnail_cache_drops_least_recently_used_when_over_its_bound(tmp_path: Path) -> None:
    for n in range(8):
        path = tmp_path / "ab" / f"{n}.webp"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(b"x" * 1000)
        os.utime(path, (n, n))  # 0 is the least recently used
    assert trim(tmp_path, 10_000) == 0  # under the bound: nothing goes
    assert trim(tmp_path, 4000) == 5  # down to 3/4 of it, oldest first
    assert sorted(p.name for p in (tmp_path / "ab").iterdir()) == ["5.webp", "6.webp", "7.webp"]
