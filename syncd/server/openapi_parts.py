"""Building blocks of the OpenAPI document: operations with their exact answers, parameters
with the server's limits as schema constraints, response headers and links."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from syncd.protocol import MAX_NAME_BYTES

Obj = dict[str, Any]
INT64_MAX = 2**63 - 1
MAX_ID = 2**62  # cursors and event ids

# Error codes per status, as the server sends them (`{"error": {"code": ...}}`).
ERROR_CODES: dict[int, str] = {
    400: "bad_request, invalid_json, invalid_name, digest_mismatch",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    408: "request_timeout (no byte of the body for the body timeout; the connection closes)",
    409: "name_taken, hook_needed",
    410: "cursor_expired",
    411: "length_required",
    412: "rev_mismatch",
    413: "file_too_large (uploads), body_too_large (JSON and webhook bodies)",
    416: "range_not_satisfiable",
    417: "bad_request (an Expect other than 100-continue)",
    507: "quota_exceeded",
}

_C = "[^/\\x00-\\x1f\\x7f]"  # a name's character: no '/', NUL or control
_D = "[^./\\x00-\\x1f\\x7f]"  # ... and not '.'
NAME: Obj = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_NAME_BYTES,
    # any run of _C but '.' and '..' (no look-ahead: fuzzers generate from this)
    "pattern": f"^(?:{_D}{_C}*|\\.{_D}{_C}*|\\.\\.{_C}+)$",
    "format": "syncd-name",
    "description": f"NFC-normalised by the server; at most {MAX_NAME_BYTES} UTF-8 bytes; no "
    "'/', NUL or control characters; not '.' or '..'. Unique per folder ignoring case.",
}
# Any text but '.' and '..', which URL parsing would fold away (refused with 400).
ID: Obj = {"type": "string", "pattern": "^(?:[^.][\\s\\S]*|\\.[^.][\\s\\S]*|\\.\\.[\\s\\S]+)$"}
IF_MATCH: Obj = {
    "type": "string",
    "pattern": '^("[0-9]{1,18}"|W/"[0-9]{1,18}"|\\*)$',
    "examples": ['"1"', "*"],
    "description": '"<rev>" (the ETag of the object) or *: 412 rev_mismatch otherwise',
}


def ref(name: str) -> Obj:
    return {"$ref": f"#/components/schemas/{name}"}


def header_ref(name: str) -> Obj:
    return {"$ref": f"#/components/headers/{name}"}


def param(name: str, where: str = "path", schema: Obj | None = None, description: str = "") -> Obj:
    out: Obj = {"name": name, "in": where, "required": where == "path"}
    out["schema"] = schema or (ID if where == "path" else {"type": "string"})
    if description:
        out["description"] = description
    return out


def int_param(name: str, lo: int, hi: int, default: int, description: str = "") -> Obj:
    schema = {"type": "integer", "minimum": lo, "maximum": hi, "default": default}
    return param(name, "query", schema, description)


def json_body(schema: Obj, required: bool = True) -> Obj:
    return {"required": required, "content": {"application/json": {"schema": schema}}}


def json_answer(
    schema: Obj, description: str = "OK", headers: Obj | None = None, links: Obj | None = None
) -> Obj:
    out: Obj = {"description": description, "content": {"application/json": {"schema": schema}}}
    if headers:
        out["headers"] = headers
    if links:
        out["links"] = links
    return out


def bytes_answer(description: str, headers: Obj) -> Obj:
    content = {"*/*": {"schema": {"type": "string", "format": "binary"}}}
    return {"description": description, "content": content, "headers": headers}


def errors(*codes: int) -> Obj:
    out: Obj = {}
    for code in codes:
        answer = json_answer(ref("Error"), f"{HTTPStatus(code).phrase}: {ERROR_CODES[code]}")
        if code == 416:
            answer["headers"] = {"Content-Range": header_ref("ContentRangeUnsatisfied")}
        out[str(code)] = answer
    return out


def op(
    operation_id: str,
    summary: str,
    answers: Obj,
    *error_codes: int,
    params: list[Obj] | None = None,
    body: Obj | None = None,
    public: bool = False,
) -> Obj:
    """One operation. Authenticated ones answer 401 too; ones with a JSON body answer 400
    (not JSON / wrong shape), 408 (stalled body) and 413 (over 64 KiB)."""
    codes = set(error_codes)
    if not public:
        codes.add(401)
    if body is not None and "application/json" in body["content"]:
        codes |= {400, 408, 413}
    out: Obj = {
        "operationId": operation_id,
        "summary": summary,
        "responses": {**answers, **errors(*sorted(codes))},
    }
    if params:
        out["parameters"] = params
    if body is not None:
        out["requestBody"] = body
    if public:
        out["security"] = []
    return out


def link(operation_id: str, description: str, **parameters: str) -> Obj:
    return {"operationId": operation_id, "parameters": parameters, "description": description}


HEADERS: Obj = {
    "ETagRev": {
        "description": 'The object\'s rev as an entity tag, "<rev>"; send it back in If-Match',
        "required": True,
        "schema": {"type": "string", "pattern": '^"[0-9]+"$'},
    },
    "ETagSha": {
        "description": 'The content\'s sha256 as an entity tag, "<hex>"',
        "required": True,
        "schema": {"type": "string", "pattern": '^"[0-9a-f]{64}"$'},
    },
    "ContentRange": {
        "description": "The part sent: bytes <first>-<last>/<size>",
        "required": True,
        "schema": {"type": "string", "pattern": "^bytes [0-9]+-[0-9]+/[0-9]+$"},
    },
    "ContentRangeUnsatisfied": {
        "description": "The file's size: bytes */<size>",
        "required": True,
        "schema": {"type": "string", "pattern": "^bytes \\*/[0-9]+$"},
    },
    "ReprDigest": {
        "description": "sha-256 of the stored content (RFC 9530), whatever the request sent",
        "required": True,
        "schema": {"type": "string", "pattern": "^sha-256=:[A-Za-z0-9+/]{43}=:$"},
    },
}
