"""OpenAPI paths of sending: `POST /v1/files/{file_id}/send` and `GET /v1/sent`."""

from __future__ import annotations

from syncd.server.openapi_parts import Obj, int_param, json_answer, json_body, op, param
from syncd.server.outbound.phones import PHONE_PATTERN
from syncd.server.outbound.routes import MAX_CAPTION_CHARS, MAX_SENT_PAGE

_NULLABLE_STR: Obj = {"type": ["string", "null"]}
SENT: Obj = {
    "type": "object",
    "required": ["id", "file_id", "to", "state", "attempts", "created_at"],
    "properties": {
        "id": {"type": "string"},
        "file_id": {"type": "string"},
        "file_name": {"type": "string"},
        "to": {"type": "string", "description": "E.164"},
        "hook_id": {"type": "string"},
        "caption": _NULLABLE_STR,
        "state": {"enum": ["queued", "sending", "sent", "failed"]},
        "attempts": {"type": "integer"},
        "gateway_status": {"type": ["integer", "null"]},
        "gateway_message_id": _NULLABLE_STR,
        "error": _NULLABLE_STR,
        "created_at": {"type": "string"},
        "updated_at": {"type": "string"},
    },
}


def send_paths() -> dict[str, Obj]:
    request = {
        "type": "object",
        "required": ["to"],
        "properties": {
            "to": {
                "type": "string",
                "pattern": PHONE_PATTERN,
                "examples": ["+1 202 555 0123"],
                "description": "E.164: + (or 00), the country code, the number",
            },
            "caption": {"type": "string", "maxLength": MAX_CAPTION_CHARS},
            "hook": {"type": "string", "description": "hook id (needed with several hooks)"},
        },
    }
    return {
        "/v1/files/{file_id}/send": {
            "post": op(
                "send_file",
                "Send the file to a WhatsApp contact through one of your gateway hooks; "
                "queued (202), retried with backoff while the gateway is down or busy",
                {"202": json_answer(SENT, "queued")},
                404,
                409,
                params=[param("file_id")],
                body=json_body(request),
            )
        },
        "/v1/sent": {
            "get": op(
                "sent",
                "Files sent to contacts, newest first, with the gateway's answer",
                {"200": json_answer(_items(SENT))},
                400,
                params=[int_param("limit", 1, MAX_SENT_PAGE, 50)],
            )
        },
    }


def _items(schema: Obj) -> Obj:
    return {
        "type": "object",
        "required": ["items"],
        "properties": {"items": {"type": "array", "items": schema}},
    }
