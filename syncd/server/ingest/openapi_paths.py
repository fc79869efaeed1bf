"""OpenAPI path items of the ingest, ingest-events and share-link routes, merged into the
server's document by syncd.server.openapi."""

from __future__ import annotations

from syncd.server.links import MAX_EXPIRES_IN_S
from syncd.server.openapi_parts import (
    MAX_ID,
    Obj,
    header_ref,
    int_param,
    json_answer,
    json_body,
    link,
    op,
    param,
)
from syncd.server.openapi_paths import CONTENT_PARAMS, content_answers

_NULLABLE = {"type": ["string", "null"]}


def _webhook_paths() -> dict[str, Obj]:
    hook = param("hook_id")
    accepted = {"type": "object", "required": ["ok"], "properties": {"ok": {"const": True}}}
    challenge = {
        "description": "the challenge, echoed",
        "content": {"text/plain": {"schema": {"type": "string"}}},
    }
    return {
        "/hooks/{hook_id}": {
            "post": op(
                "webhook",
                "Gateway webhook (WAHA: X-Webhook-Hmac HMAC-SHA512; Cloud API: "
                "X-Hub-Signature-256; Evolution API: the body's apikey, and a Bearer HS256 JWT "
                "when the hook has a JWT key). Answers at once; media is fetched in the "
                "background. Bodies up to 4 MiB (Evolution API: 96 MiB, media may be inline)",
                {"200": json_answer(accepted, "accepted: counts of queued/duplicate/ignored")},
                401,
                404,
                params=[
                    hook,
                    param("X-Webhook-Hmac", "header"),
                    param("X-Hub-Signature-256", "header"),
                ],
                body=json_body({"type": "object"}),
                public=True,
            ),
            "get": op(
                "webhook_verify",
                "Cloud API verification handshake: echoes hub.challenge",
                {"200": challenge},
                400,
                403,
                404,
                params=[
                    hook,
                    param("hub.mode", "query"),
                    param("hub.verify_token", "query"),
                    param("hub.challenge", "query"),
                ],
                public=True,
            ),
        }
    }


def _link_paths() -> dict[str, Obj]:
    created = {
        "type": "object",
        "required": ["url", "expires_at", "file_id", "token"],
        "properties": {
            "url": {"type": "string"},
            "expires_at": {"type": "string"},
            "file_id": {"type": "string"},
            "token": {"type": "string"},
        },
    }
    expires = {"type": "integer", "minimum": 1, "maximum": MAX_EXPIRES_IN_S, "default": 86400}
    shared = link("shared_file", "the shared bytes", token="$response.body#/token")  # noqa: S106
    etag = {"ETag": header_ref("ETagSha")}
    return {
        "/v1/files/{file_id}/links": {
            "post": op(
                "create_link",
                "A signed, expiring share URL for the file (served without auth at /s/{token})",
                {"201": json_answer(created, "created", links={"Shared": shared})},
                404,
                params=[param("file_id")],
                body=json_body(
                    {"type": "object", "properties": {"expires_in_s": expires}}, required=False
                ),
            )
        },
        "/s/{token}": {
            "get": op(
                "shared_file",
                "The shared file's bytes (no auth: the token is the permission); same answers "
                "as /v1/files/{file_id}/content",
                content_answers(etag, {**etag, "Content-Range": header_ref("ContentRange")}),
                400,
                403,
                404,
                416,
                params=[param("token"), *CONTENT_PARAMS],
                public=True,
            )
        },
    }


def ingest_paths() -> dict[str, Obj]:
    event_fields = ("at", "outcome", "reason", "hook_id", "message_id", "sender", "file_id")
    event = {
        "type": "object",
        "required": ["id", *event_fields],
        "properties": {"id": {"type": "integer"}, **dict.fromkeys(event_fields, _NULLABLE)},
    }
    events = {
        "type": "object",
        "required": ["events"],
        "properties": {"events": {"type": "array", "items": event}},
    }
    return {
        **_webhook_paths(),
        "/v1/ingest/events": {
            "get": op(
                "ingest_events",
                "Recent ingest outcomes of the user, newest first; `before=<id>` pages back",
                {"200": json_answer(events)},
                400,
                params=[int_param("limit", 1, 1000, 100), int_param("before", 1, MAX_ID, MAX_ID)],
            )
        },
        "/v1/files/{file_id}/origin": {
            "get": op(
                "file_origin",
                "Where an incoming file came from (hook, sender, caption, revocation)",
                {"200": json_answer({"type": "object", "required": ["file_id", "hook_id"]})},
                400,
                404,
                params=[param("file_id")],
            )
        },
        **_link_paths(),
    }
