"""HTTP helpers shared by the route modules: state/auth lookup, bounded request bodies,
query integers, names from the raw path, precondition headers, JSON answers (wire models
and errors), Range and Content-Disposition."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote, unquote_to_bytes

from aiohttp import web
from pydantic import BaseModel

from syncd.errors import (
    ApiError,
    BadRequest,
    BodyTooLarge,
    InvalidJson,
    InvalidName,
    LengthRequired,
    MethodNotAllowed,
    NotFound,
    RangeNotSatisfiable,
    RequestTimeout,
    ServerError,
    Unauthorized,
    Unavailable,
)
from syncd.protocol import rev_from_etag
from syncd.server.meta import Row
from syncd.server.state import Precondition, ServerState
from syncd.server.users import user_by_token
from syncd.server.web.sessions import request_session

STATE_KEY = web.AppKey("syncd_state", ServerState)
USER_ID_KEY = web.RequestKey("syncd_user_id", str)
_INTEGER = re.compile(r"-?[0-9]{1,19}\Z")
_NUMBER = re.compile(r"-?[0-9]{1,19}(\.[0-9]+)?([eE][-+]?[0-9]{1,3})?\Z")
_REV_ETAG = re.compile(r'(W/)?"[0-9]{1,18}"\Z')
MAX_JSON_BYTES = 64 << 10  # our JSON bodies are a name or a number; 64 KiB is plenty
_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequest,
    404: NotFound,
    405: MethodNotAllowed,
    408: RequestTimeout,
    411: LengthRequired,
    413: BodyTooLarge,
    503: Unavailable,
}


def state_of(request: web.Request) -> ServerState:
    return request.app[STATE_KEY]


def auth(request: web.Request) -> Row:
    """The calling user, re-read from the database on every request (so a rotated token or
    a new quota from `syncd admin` applies at once). A bearer token, or, without an
    Authorization header, the web page's session cookie (state changes then need the same
    origin and the session's CSRF token: web/sessions.py)."""
    header = request.headers.get("Authorization", "")
    if not header:
        found = request_session(request, state_of(request).db)
        if found is not None:
            request[USER_ID_KEY] = found.user["id"]
            return found.user
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("missing bearer token (Authorization: Bearer <token>)")
    user = user_by_token(state_of(request).db, token.strip())
    if user is None:
        raise Unauthorized("invalid token")
    request[USER_ID_KEY] = user["id"]
    return user


def error_for_status(status: int, message: str) -> ApiError:
    """Our error for an HTTP status that aiohttp decided (unknown route, wrong method,
    malformed framing): the matching code, the exact status."""
    cls = _BY_STATUS.get(status, ServerError if status >= 500 else BadRequest)
    error = cls(message)
    error.http_status = status
    return error


def error_response(error: ApiError, headers: dict[str, str] | None = None) -> web.Response:
    """The one rendering of every error: `{"error": {...}}` plus the headers its status
    calls for (Retry-After, Content-Range of a 416, Connection: close after a timeout)."""
    out = dict(headers or {})
    retry_after = error.details.get("retry_after_s")
    if error.http_status in (429, 503) and retry_after is not None:
        out["Retry-After"] = str(max(0, round(float(retry_after))))
    if error.http_status == 416 and "size" in error.details:
        out["Content-Range"] = f"bytes */{error.details['size']}"
    resp = web.json_response(error.body(), status=error.http_status, headers=out)
    if error.http_status in (408, 413):
        resp.force_close()  # the request's body was not read to its end
    return resp


def http_exception_response(exc: web.HTTPException) -> web.Response:
    """aiohttp's own answers (unknown route, wrong method, body too big) in our format,
    keeping the headers they carry (`Allow` of a 405)."""
    message = "no such route" if exc.status == 404 else exc.reason
    error = error_for_status(exc.status, message)
    allow = exc.headers.get("Allow")
    if exc.status == 405 and allow is not None:
        error.details["allow"] = sorted(m.strip() for m in allow.split(",") if m.strip())
    keep = {k: v for k, v in exc.headers.items() if k.lower() in ("allow", "retry-after")}
    return error_response(error, keep)


async def body_chunks(request: web.Request) -> AsyncIterator[bytes]:
    """The request body as it arrives; 408 when no byte comes for the body timeout (the
    connection is then closed, so whatever the caller holds for it is released)."""
    timeout_s = state_of(request).limits.body_timeout_s
    while True:
        try:
            async with asyncio.timeout(timeout_s):
                chunk = await request.content.readany()
        except TimeoutError:
            raise RequestTimeout(
                f"no byte of the request body for {timeout_s:g} s", timeout_s=timeout_s
            ) from None
        if not chunk:
            return
        yield chunk


async def read_body(request: web.Request, max_bytes: int) -> bytes:
    """The whole (small) body, refused with 413 as soon as it is over `max_bytes`: by its
    Content-Length before reading, or while reading a chunked one."""
    if (request.content_length or 0) > max_bytes:
        raise BodyTooLarge(f"request body over {max_bytes} bytes", max_bytes=max_bytes)
    body = bytearray()
    async for chunk in body_chunks(request):
        body += chunk
        if len(body) > max_bytes:
            raise BodyTooLarge(f"request body over {max_bytes} bytes", max_bytes=max_bytes)
    return bytes(body)


def content_length(request: web.Request, max_bytes: int | None = None) -> int:
    """The body's announced length: 411 without one (chunked bodies are not accepted), 413
    above `max_bytes`."""
    if request.content_length is None:
        raise LengthRequired("Content-Length is required (chunked uploads are not accepted)")
    if max_bytes is not None and request.content_length > max_bytes:
        raise BodyTooLarge(f"request body over {max_bytes} bytes", max_bytes=max_bytes)
    return request.content_length


def last_segment_name(request: web.Request) -> str:
    """The route's last path segment (a name), percent-decoded from the *raw* path as
    UTF-8. aiohttp leaves undecodable (`%ff`) and reserved (`%2F`) escapes in match_info
    as text, so `%ff%fe.txt` was stored literally and collided with `%25ff%25fe.txt`."""
    segment = request.raw_path.split("?", 1)[0].rsplit("/", 1)[-1]
    try:
        return unquote_to_bytes(segment).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidName(
            "the name is not valid UTF-8 after percent-decoding", name=segment
        ) from exc


async def json_body(request: web.Request) -> dict[str, Any]:
    raw = await read_body(request, MAX_JSON_BYTES)
    try:
        body = json.loads(raw or b"{}")
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
    if len(request.query.getall(key, [])) > 1:
        raise BadRequest(f"{key} must be given once")
    raw = request.query.get(key)
    if raw is None or raw == "":
        return default
    if not _INTEGER.match(raw):  # int() would also take " 5", "+5" and "5_0"
        raise BadRequest(f"{key} must be an integer", **{key: raw})
    value = int(raw)
    if not lo <= value <= hi:
        raise BadRequest(f"{key} must be between {lo} and {hi}", **{key: value})
    return value


def query_float(request: web.Request, key: str, default: float, lo: float, hi: float) -> float:
    raw = request.query.get(key)
    if raw is None or raw == "":
        return default
    if not _NUMBER.match(raw):  # float() would also take "nan", "inf" and "1_0"
        raise BadRequest(f"{key} must be a number", **{key: raw})
    value = float(raw)
    if not lo <= value <= hi:
        raise BadRequest(f"{key} must be between {lo:g} and {hi:g}", **{key: value})
    return value


def header_int(request: web.Request, name: str, lo: int, hi: int) -> int | None:
    raw = request.headers.get(name)
    if raw is None:
        return None
    if not _INTEGER.match(raw.strip()) or not lo <= int(raw) <= hi:
        raise BadRequest(f"{name} must be an integer from {lo} to {hi}", header=name)
    return int(raw)


def precondition(request: web.Request) -> Precondition:
    if_match = request.headers.get("If-Match")
    if_none = request.headers.get("If-None-Match")
    rev: int | None = None
    if if_match is not None and if_match.strip() != "*":
        rev = rev_from_etag(if_match) if _REV_ETAG.match(if_match.strip()) else None
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
