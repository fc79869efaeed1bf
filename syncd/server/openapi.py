"""The OpenAPI 3.1 document of API v1, served at `/v1/openapi.json`. Schemas come from the
wire models in syncd.protocol; a test checks that every registered route is described."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel

from syncd import __version__
from syncd.protocol import (
    MTIME_HEADER,
    Account,
    ChangesPage,
    File,
    FilesPage,
    Folder,
    TrashItem,
)
from syncd.server.ingest.openapi_paths import ingest_paths

_MODELS: list[type[BaseModel]] = [Account, Folder, File, FilesPage, ChangesPage, TrashItem]
Op = dict[str, Any]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _err(*codes: int) -> dict[str, Any]:
    return {
        str(c): {"description": "error", "content": {"application/json": {"schema": _ref("Error")}}}
        for c in codes
    }


def _op(
    summary: str,
    ok: dict[str, Any],
    *errors: int,
    ok_code: int = 200,
    params: list[dict[str, Any]] | None = None,
    body: dict[str, Any] | None = None,
    auth: bool = True,
) -> Op:
    op: Op = {"summary": summary, "responses": {str(ok_code): ok, **_err(*errors)}}
    if params:
        op["parameters"] = params
    if body:
        op["requestBody"] = body
    if not auth:
        op["security"] = []
    return op


def _p(name: str, where: str = "path", kind: str = "string", desc: str = "") -> dict[str, Any]:
    return {
        "name": name,
        "in": where,
        "required": where == "path",
        "schema": {"type": kind},
        "description": desc,
    }


_PRE = [
    _p("If-Match", "header", desc='"<rev>" or *'),
    _p("If-None-Match", "header", desc="* = create only"),
]
_NAME_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["name"],
                "properties": {"name": {"type": "string"}},
            }
        }
    },
}
_PATCH_FILE_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "folder_id": {"type": "string"}},
            }
        }
    },
}
_NO_CONTENT = {"description": "deleted"}


def _paths() -> dict[str, dict[str, Op]]:
    fid, fo = _p("file_id"), _p("folder_id")
    return {
        "/v1/health": {"get": _op("Liveness and version", _json({"type": "object"}), auth=False)},
        "/v1/openapi.json": {"get": _op("This document", _json({"type": "object"}), auth=False)},
        "/v1/account": {
            "get": _op("The user, quota, counts and usage by kind", _json(_ref("Account")), 401)
        },
        "/v1/folders": {
            "get": _op(
                "All folders",
                _json(
                    {
                        "type": "object",
                        "properties": {"folders": {"type": "array", "items": _ref("Folder")}},
                    }
                ),
                401,
            ),
            "post": _op(
                "Create a custom folder",
                _json(_ref("Folder"), "created"),
                400,
                401,
                409,
                ok_code=201,
                body=_NAME_BODY,
            ),
        },
        "/v1/folders/{folder_id}": {
            "get": _op("One folder", _json(_ref("Folder")), 401, 404, params=[fo]),
            "patch": _op(
                "Rename a folder",
                _json(_ref("Folder")),
                400,
                401,
                404,
                409,
                412,
                params=[fo, *_PRE],
                body=_NAME_BODY,
            ),
            "delete": _op(
                "Delete a folder and all its files",
                _NO_CONTENT,
                401,
                404,
                412,
                ok_code=204,
                params=[fo, *_PRE],
            ),
        },
        "/v1/folders/{folder_id}/files": {
            "get": _op(
                "Files of a folder, paged by id",
                _json(_ref("FilesPage")),
                400,
                401,
                404,
                params=[fo, _p("limit", "query", "integer"), _p("after", "query")],
            )
        },
        "/v1/folders/{folder_id}/files/{name}": {
            "put": _op(
                "Upload (streamed). 201 created, 200 replaced",
                _json(_ref("File")),
                400,
                401,
                404,
                411,
                412,
                413,
                507,
                params=[
                    fo,
                    _p("name"),
                    *_PRE,
                    _p("Content-Length", "header", "integer"),
                    _p("Repr-Digest", "header", desc="sha-256=:<base64>: (RFC 9530)"),
                    _p(MTIME_HEADER, "header", "integer", "file mtime in ns"),
                ],
                body={
                    "required": True,
                    "content": {
                        "application/octet-stream": {
                            "schema": {"type": "string", "format": "binary"}
                        }
                    },
                },
            )
        },
        "/v1/files/{file_id}": {
            "get": _op("File metadata", _json(_ref("File")), 401, 404, params=[fid]),
            "patch": _op(
                "Rename and/or move",
                _json(_ref("File")),
                400,
                401,
                404,
                409,
                412,
                params=[fid, *_PRE],
                body=_PATCH_FILE_BODY,
            ),
            "delete": _op(
                "Delete a file", _NO_CONTENT, 401, 404, 412, ok_code=204, params=[fid, *_PRE]
            ),
        },
        "/v1/files/{file_id}/content": {
            "get": _op(
                "File bytes; ETag is the sha256; Range gives 206",
                {
                    "description": "the bytes",
                    "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
                },
                401,
                404,
                416,
                params=[fid, _p("Range", "header"), _p("If-Range", "header")],
            )
        },
        "/v1/changes": {
            "get": _op(
                "Change feed; cursor=0 = whole library; wait = long poll seconds",
                _json(_ref("ChangesPage")),
                400,
                401,
                410,
                params=[
                    _p("cursor", "query", "integer"),
                    _p("limit", "query", "integer"),
                    _p("wait", "query", "number", "long poll seconds, <= 60"),
                    _p(
                        "epoch",
                        "query",
                        "string",
                        "the epoch of the page the cursor came from: a cursor into a history "
                        "the server lost (restored from a backup) answers 410 with rewound",
                    ),
                ],
            )
        },
    }


def _trash_paths() -> dict[str, dict[str, Op]]:
    items = {
        "type": "object",
        "properties": {"items": {"type": "array", "items": _ref("TrashItem")}},
    }
    return {
        "/v1/trash": {
            "get": _op(
                "The caller's trash (deleted files, newest first, until expires_at)",
                _json(items),
                401,
            )
        },
        "/v1/trash/{trash_id}/restore": {
            "post": _op(
                "Restore into the original folder (re-created if deleted; `name (restored)`"
                " if the name is taken); counted in quota; appears on the change feed",
                _json(_ref("File"), "restored"),
                401,
                404,
                409,
                507,
                ok_code=201,
                params=[_p("trash_id")],
            )
        },
    }


def document() -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    for model in _MODELS:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    schemas["Error"] = {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "additionalProperties": True,
                "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
            }
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "syncd library API", "version": __version__},
        "paths": {**_paths(), **_trash_paths(), **ingest_paths()},
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }


async def handler(_request: web.Request) -> web.Response:
    return web.json_response(document())
