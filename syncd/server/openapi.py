"""The OpenAPI 3.1 document of API v1, served at `/v1/openapi.json`: schemas from the wire
models in syncd.protocol, paths from openapi_paths (library) and ingest.openapi_paths. Tests
check that every route is described and run schemathesis against it."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel

from syncd import __version__
from syncd.protocol import (
    Account,
    BatchRead,
    BatchReadHeader,
    BatchWriteAnswer,
    BatchWriteHeader,
    ChangesPage,
    File,
    FilesPage,
    Folder,
    SearchPage,
    TrashItem,
)
from syncd.server.ingest.openapi_paths import ingest_paths
from syncd.server.openapi_parts import HEADERS
from syncd.server.openapi_paths import (
    account_paths,
    batch_paths,
    feed_paths,
    file_paths,
    folder_paths,
    trash_paths,
)
from syncd.server.outbound.openapi_paths import send_paths

_MODELS: list[type[BaseModel]] = [
    *(Account, Folder, File, FilesPage, ChangesPage, TrashItem, SearchPage),
    *(BatchRead, BatchReadHeader, BatchWriteHeader, BatchWriteAnswer),
]
DESCRIPTION = (
    'Every error is `{"error": {"code", "message", ...details}}`. Answers of the '
    "connection itself, on any path: 400 for malformed HTTP framing; 408 `request_timeout` "
    "when a request's headers are not complete within the header timeout (the connection "
    "closes); 503 `unavailable` with Retry-After when the server is at its connection cap, "
    "and on a route that reads or writes media while the blob store cannot be reached; "
    "405 `method_not_allowed` with Allow for a method a path does not have; 404 `not_found` "
    "for an unknown path; 500 `internal_error` for a bug."
)
_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "additionalProperties": True,
            "properties": {
                "code": {"type": "string", "pattern": "^[a-z][a-z_]*$"},
                "message": {"type": "string"},
            },
        }
    },
}


def document() -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    for model in _MODELS:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    schemas["Error"] = _ERROR
    paths = {
        **account_paths(),
        **folder_paths(),
        **file_paths(),
        **batch_paths(),
        **feed_paths(),
        **trash_paths(),
        **ingest_paths(),
        **send_paths(),
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "syncd library API", "version": __version__, "description": DESCRIPTION},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "headers": HEADERS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }


async def handler(_request: web.Request) -> web.Response:
    return web.json_response(document())
