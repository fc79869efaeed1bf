"""Share links: `POST /v1/files/{id}/links {expires_in_s}` -> a signed, expiring URL served
without auth by `GET /s/<token>` (for a gateway's send-media call). Token =
`<file id>.<expires unix s>.<HMAC-SHA256>`; the key is generated once per server and kept in
the database; a link dies with its file."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from datetime import UTC, datetime

from aiohttp import web

from syncd.errors import BadRequest, Forbidden, NotFound
from syncd.server.content import send_file
from syncd.server.files import file_row
from syncd.server.http import auth, json_body, state_of
from syncd.server.meta import Db
from syncd.server.server_secrets import server_secret

DEFAULT_EXPIRES_IN_S = 24 * 3600
MAX_EXPIRES_IN_S = 365 * 24 * 3600
_KEY_NAME = "share_link_key"
PUBLIC_URL_KEY = web.AppKey("syncd_public_url", str)
routes = web.RouteTableDef()


def signing_key(db: Db) -> bytes:
    """This server's link key, created on first use (concurrent creators agree: first wins)."""
    return bytes.fromhex(server_secret(db, _KEY_NAME, lambda: secrets.token_hex(32)))


def _mac(key: bytes, file_id: str, expires_s: int) -> str:
    digest = hmac.new(key, f"{file_id}.{expires_s}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def make_token(key: bytes, file_id: str, expires_s: int) -> str:
    return f"{file_id}.{expires_s}.{_mac(key, file_id, expires_s)}"


def check_token(key: bytes, token: str, now_s: float) -> str:
    """The file id of a valid, unexpired token; Forbidden otherwise (tampered or expired)."""
    parts = token.split(".")
    if len(parts) != 3 or not parts[1].isdigit():
        raise Forbidden("invalid share link")
    file_id, expires_raw, mac = parts
    expires_s = int(expires_raw)
    if not hmac.compare_digest(mac, _mac(key, file_id, expires_s)):
        raise Forbidden("invalid share link")
    if now_s >= expires_s:
        raise Forbidden(
            "this share link has expired", reason="expired", expired_at=_rfc3339_s(expires_s)
        )
    return file_id


def _rfc3339_s(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@routes.post("/v1/files/{file_id}/links", name="create_link")
async def create_link(request: web.Request) -> web.Response:
    user = auth(request)
    state = state_of(request)
    row = file_row(state, user["id"], request.match_info["file_id"])
    body = await json_body(request)
    expires_in = body.get("expires_in_s", DEFAULT_EXPIRES_IN_S)
    if isinstance(expires_in, float) and expires_in.is_integer():
        expires_in = int(expires_in)  # JSON has one number type: 36.0 is the integer 36
    if (
        not isinstance(expires_in, int)
        or isinstance(expires_in, bool)
        or not (1 <= expires_in <= MAX_EXPIRES_IN_S)
    ):
        raise BadRequest(f"expires_in_s must be an integer from 1 to {MAX_EXPIRES_IN_S}")
    expires_s = int(time.time()) + expires_in
    token = make_token(signing_key(state.db), row["id"], expires_s)
    base = request.app.get(PUBLIC_URL_KEY) or str(request.url.origin())
    return web.json_response(
        {
            "url": f"{base.rstrip('/')}/s/{token}",
            "expires_at": _rfc3339_s(expires_s),
            "file_id": row["id"],
            "token": token,
        },
        status=201,
    )


@routes.get("/s/{token}", name="shared_file")
async def shared_file(request: web.Request) -> web.StreamResponse:
    """No auth: the token is the permission. Same answers as the API's content route."""
    state = state_of(request)
    file_id = check_token(signing_key(state.db), request.match_info["token"], time.time())
    row = state.db.one("SELECT * FROM files WHERE id=?", file_id)
    if row is None:
        raise NotFound("the shared file no longer exists")
    return await send_file(request, row, inline=True, private=True)


def setup_links(app: web.Application, public_url: str | None) -> None:
    if public_url:
        app[PUBLIC_URL_KEY] = public_url
    app.add_routes(routes)
