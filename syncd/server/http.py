"""HTTP helpers shared by the route modules: state/auth lookup, JSON bodies, query integers,
precondition headers, JSON answers of wire models, Range and Content-Disposition."""

from __future__ import annotations

import json
import sqlite3
from typing import Any
from urllib.parse import quote

from aiohttp import web
from pydantic import BaseModel

from syncd.errors import BadRequest, InvalidJson, RangeNotSatisfiable, Unauthorized
from syncd.protocol import rev_from_etag
from syncd.server.state import Precondition, ServerState
from syncd.server.users import user_by_token

STATE_KEY = web.AppKey("syncd_state", ServerState)
USER_ID_KEY = web.RequestKey("syncd_user_id", str)


def state_of(request: web.Request) -> ServerState:
    return request.app[STATE_KEY]


def auth(request: web.Request) -> sqlite3.Row:
    """The calling user, re-read from the database on every request (so a rotated token or
    a new quota from `syncd admin` applies at once)."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("missing bearer token (Authorization: Bearer <token>)")
    user = user_by_token(state_of(request).db, token.strip())
    if user is None:
        raise Unauthorized("invalid token")
    request[USER_ID_KEY] = user["id"]
    return user


async def json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.read() or b"{}")
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidJson(f"request body is not valid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise InvalidJson("request body must be a JSON object")
    return body


def required_str(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str):
        raise BadRequest(f"field {key!r} (a string) is required")
    return value


def optional_str(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise BadRequest(f"field {key!r} must be a string")
    return value


def query_int(request: web.Request, key: str, default: int, lo: int, hi: int) -> int:
    raw = request.query.get(key)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise BadRequest(f"{key} must be an integer", **{key: raw}) from exc
    if not lo <= value <= hi:
        raise BadRequest(f"{key} must be between {lo} and {hi}", **{key: value})
    return value


def query_float(request: web.Request, key: str, default: float, lo: float, hi: float) -> float:
    raw = request.query.get(key)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise BadRequest(f"{key} must be a number", **{key: raw}) from exc
    if not lo <= value <= hi:
        raise BadRequest(f"{key} must be between {lo:g} and {hi:g}", **{key: value})
    return value


def precondition(request: web.Request) -> Precondition:
    if_match = request.headers.get("If-Match")
    if_none = request.headers.get("If-None-Match")
    rev: int | None = None
    if if_match is not None and if_match.strip() != "*":
        rev = rev_from_etag(if_match)
        if rev is None:
            raise BadRequest('If-Match must be "<rev>" or *', if_match=if_match)
    if if_none is not None and if_none.strip() != "*":
        raise BadRequest("only If-None-Match: * is supported on mutations")
    return Precondition(
        if_match=rev,
        if_match_any=if_match is not None and if_match.strip() == "*",
        if_none_match_any=if_none is not None,
    )


def model_response(
    model: BaseModel | dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    data = model.model_dump(mode="json") if isinstance(model, BaseModel) else model
    return web.json_response(data, status=status, headers=headers)


def content_disposition(name: str, inline: bool = False) -> str:
    """RFC 6266: an ASCII fallback plus the exact UTF-8 name in `filename*`."""
    fallback = "".join(c if 0x20 <= ord(c) < 0x7F and c not in '"\\%' else "_" for c in name)
    kind = "inline" if inline else "attachment"
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """A single `bytes=` range as (start, end inclusive); None = whole file. Several ranges
    are answered with the whole file (allowed by RFC 9110). Unsatisfiable -> 416."""
    if not header:
        return None
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    if (
        not dash
        or not (first.isdigit() or last.isdigit())
        or (first and not first.isdigit())
        or (last and not last.isdigit())
    ):
        return None  # malformed: ignore it, as RFC 9110 allows
    if not first:
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise _unsatisfiable(size)
        return max(0, size - suffix), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or (last and int(last) < start):
        raise _unsatisfiable(size)
    return start, end


def _unsatisfiable(size: int) -> RangeNotSatisfiable:
    return RangeNotSatisfiable(f"range not satisfiable for a file of {size} bytes", size=size)
