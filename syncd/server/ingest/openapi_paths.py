"""OpenAPI path items of the ingest, ingest-events and share-link routes, merged into the
server's document by syncd.server.openapi."""

from __future__ import annotations

from typing import Any

_ERROR = {"$ref": "#/components/schemas/Error"}


def _answers(ok_code: int, ok: dict[str, Any], *errors: int) -> dict[str, Any]:
    out: dict[str, Any] = {str(ok_code): ok}
    for code in errors:
        out[str(code)] = {
            "description": "error",
            "content": {"application/json": {"schema": _ERROR}},
        }
    return out


def _json(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": schema or {"type": "object"}}},
    }


def _param(name: str, where: str = "path", kind: str = "string") -> dict[str, Any]:
    return {"name": name, "in": where, "required": where == "path", "schema": {"type": kind}}


def _webhook_paths() -> dict[str, Any]:
    hook = _param("hook_id")
    raw_body = {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}}
    return {
        "/hooks/{hook_id}": {
            "post": {
                "summary": "Gateway webhook (WAHA: X-Webhook-Hmac HMAC-SHA512; Cloud API: "
                "X-Hub-Signature-256). Answers at once; media is fetched in the background",
                "security": [],
                "parameters": [
                    hook,
                    _param("X-Webhook-Hmac", "header"),
                    _param("X-Hub-Signature-256", "header"),
                ],
                "requestBody": raw_body,
                "responses": _answers(
                    200, _json("accepted: counts of queued/duplicate/ignored"), 400, 401, 404, 413
                ),
            },
            "get": {
                "summary": "Cloud API verification handshake: echoes hub.challenge",
                "security": [],
                "parameters": [
                    hook,
                    _param("hub.mode", "query"),
                    _param("hub.verify_token", "query"),
                    _param("hub.challenge", "query"),
                ],
                "responses": _answers(
                    200,
                    {
                        "description": "the challenge",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    },
                    403,
                    404,
                ),
            },
        }
    }


def ingest_paths() -> dict[str, Any]:
    fid = _param("file_id")
    event = {
        "type": "object",
        "properties": {
            k: {"type": ["string", "integer", "null"]}
            for k in ("id", "at", "outcome", "reason", "hook_id", "message_id", "sender", "file_id")
        },
    }
    link_body = {
        "required": False,
        "content": {
            "application/json": {
                "schema": {"type": "object", "properties": {"expires_in_s": {"type": "integer"}}}
            }
        },
    }
    return {
        **_webhook_paths(),
        "/v1/ingest/events": {
            "get": {
                "summary": "Recent ingest outcomes of the user, newest first",
                "parameters": [
                    _param("limit", "query", "integer"),
                    _param("before", "query", "integer"),
                ],
                "responses": _answers(
                    200,
                    _json(
                        "events",
                        {
                            "type": "object",
                            "properties": {"events": {"type": "array", "items": event}},
                        },
                    ),
                    400,
                    401,
                ),
            }
        },
        "/v1/files/{file_id}/origin": {
            "get": {
                "summary": "Where an incoming file came from (hook, sender, revocation)",
                "parameters": [fid],
                "responses": _answers(200, _json("origin"), 401, 404),
            }
        },
        "/v1/files/{file_id}/links": {
            "post": {
                "summary": "A signed, expiring share URL for the file ({url, expires_at})",
                "parameters": [fid],
                "requestBody": link_body,
                "responses": _answers(201, _json("link"), 400, 401, 404),
            }
        },
        "/s/{token}": {
            "get": {
                "summary": "The shared file's bytes (no auth; the token is the permission)",
                "security": [],
                "parameters": [_param("token"), _param("Range", "header")],
                "responses": _answers(
                    200,
                    {
                        "description": "the bytes",
                        "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
                    },
                    403,
                    404,
                ),
            }
        },
    }
