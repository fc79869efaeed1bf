"""OpenAPI path items of the library routes (health, account, folders, files, content, the
change feed, the trash): every answer the server can give, and links between operations."""

from __future__ import annotations

from syncd.frames import MAX_HEADER_BYTES, MEDIA_TYPE
from syncd.protocol import BATCH_MAX_BYTES, BATCH_MAX_FILES, MAX_WAIT_S, MTIME_HEADER
from syncd.server import feed, files, search
from syncd.server.openapi_parts import (
    IF_MATCH,
    INT64_MAX,
    MAX_ID,
    NAME,
    Obj,
    bytes_answer,
    header_ref,
    int_param,
    json_answer,
    json_body,
    link,
    op,
    param,
    ref,
)

FOLDER_ID, FILE_ID = param("folder_id"), param("file_id")
BINARY = {"type": "string", "format": "binary"}
IF_MATCH_PARAM = param("If-Match", "header", IF_MATCH)
ETAG_REV = {"ETag": header_ref("ETagRev")}
NO_CONTENT = {"description": "deleted (the files go to the trash)"}
_FOLDER_ID = "$response.body#/id"
FOLDER_LINKS = {
    "GetFolder": link("get_folder", "the folder", folder_id=_FOLDER_ID),
    "ListFiles": link("list_files", "its files", folder_id=_FOLDER_ID),
    "UploadFile": link("upload_file", "upload into it", folder_id=_FOLDER_ID),
    "RenameFolder": link("patch_folder", "rename it", folder_id=_FOLDER_ID),
    "DeleteFolder": link("delete_folder", "delete it", folder_id=_FOLDER_ID),
}
_FILE_ID = "$response.body#/id"
FILE_LINKS = {
    "GetFile": link("get_file", "its metadata", file_id=_FILE_ID),
    "GetContent": link("file_content", "its bytes", file_id=_FILE_ID),
    "PatchFile": link("patch_file", "rename or move it", file_id=_FILE_ID),
    "DeleteFile": link("delete_file", "delete it (to the trash)", file_id=_FILE_ID),
    "CreateLink": link("create_link", "a share link", file_id=_FILE_ID),
    "GetOrigin": link("file_origin", "where it came from", file_id=_FILE_ID),
}


def _object(required: list[str], **properties: Obj) -> Obj:
    return {"type": "object", "required": required, "properties": properties}


def account_paths() -> dict[str, Obj]:
    folders = _object(["folders"], folders={"type": "array", "items": ref("Folder")})
    blobs = _object(
        ["backend", "reachable"],
        backend={"enum": ["local", "s3"]},
        reachable={"type": "boolean"},
        reason={"type": "string"},
    )
    db = _object(
        ["backend", "reachable"],
        backend={"enum": ["sqlite", "postgresql"]},
        reachable={"type": "boolean"},
        reason={"type": "string"},
    )
    health = _object(
        ["status", "version", "blobs", "db"],
        status={"enum": ["ok", "unavailable"]},
        version={"type": "string"},
        blobs=blobs,
        db=db,
    )
    answers = {"200": json_answer(health), "503": json_answer(health)}
    return {
        "/v1/health": {
            "get": op(
                "health",
                "Liveness, version and the reachability of the blob store and the database",
                answers,
                public=True,
            )
        },
        "/v1/openapi.json": {
            "get": op(
                "openapi",
                "This document",
                {"200": json_answer({"type": "object"})},
                public=True,
            )
        },
        "/v1/account": {
            "get": op(
                "account",
                "The user, quota (used, limit, per-file limit), counts and usage by kind",
                {"200": json_answer(ref("Account"))},
            )
        },
        "/v1/folders": {
            "get": op(
                "list_folders",
                "All folders",
                {
                    "200": json_answer(
                        folders,
                        links={
                            "GetFolder": link(
                                "get_folder",
                                "the first folder",
                                folder_id="$response.body#/folders/0/id",
                            )
                        },
                    )
                },
            ),
            "post": op(
                "create_folder",
                "Create a custom folder",
                {"201": json_answer(ref("Folder"), "created", ETAG_REV, FOLDER_LINKS)},
                409,
                body=json_body(_object(["name"], name=NAME)),
            ),
        },
    }


def folder_paths() -> dict[str, Obj]:
    return {
        "/v1/folders/{folder_id}": {
            "get": op(
                "get_folder",
                "One folder",
                {"200": json_answer(ref("Folder"), headers=ETAG_REV, links=FOLDER_LINKS)},
                400,
                404,
                params=[FOLDER_ID],
            ),
            "patch": op(
                "patch_folder",
                "Rename a folder",
                {"200": json_answer(ref("Folder"), headers=ETAG_REV)},
                404,
                409,
                412,
                params=[FOLDER_ID, IF_MATCH_PARAM],
                body=json_body(_object(["name"], name=NAME)),
            ),
            "delete": op(
                "delete_folder",
                "Delete a folder and every file in it (the files go to the trash)",
                {"204": NO_CONTENT},
                400,
                404,
                412,
                params=[FOLDER_ID, IF_MATCH_PARAM],
            ),
        },
        "/v1/folders/{folder_id}/files": {
            "get": op(
                "list_files",
                "Files of a folder, paged by id (`next_after` = the next page's `after`)",
                {"200": json_answer(ref("FilesPage"))},
                400,
                404,
                params=[
                    FOLDER_ID,
                    int_param("limit", 1, files.MAX_PAGE, 1000),
                    param("after", "query", {"type": "string"}),
                ],
            )
        },
        "/v1/folders/{folder_id}/files/{name}": {"put": _upload()},
        "/v1/search": {
            "get": op(
                "search",
                "Folders and files whose participant name, phone, file name, original name "
                "or caption match every word of `q` (case- and accent-insensitive, word "
                "prefixes; 4+ digits also match inside phones), best first",
                {"200": json_answer(ref("SearchPage"))},
                400,
                params=[
                    {
                        **param(
                            "q",
                            "query",
                            {"type": "string", "minLength": 1, "maxLength": search.MAX_QUERY_CHARS},
                            "the words to find",
                        ),
                        "required": True,
                    },
                    int_param("limit", 1, search.MAX_LIMIT, 20),
                    int_param("offset", 0, search.MAX_OFFSET, 0, "the previous page's next_offset"),
                ],
            )
        },
    }


def _upload() -> Obj:
    headers = {**ETAG_REV, "Repr-Digest": header_ref("ReprDigest")}
    answer = json_answer(ref("File"), "replaced", headers, FILE_LINKS)
    created = json_answer(ref("File"), "created", headers, FILE_LINKS)
    digest = {
        "type": "string",
        "pattern": "^sha-(256|512)=:[A-Za-z0-9+/=]+:$",
        "examples": ["sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:"],
        "description": "RFC 9530, parsed as an RFC 8941 dictionary: sha-256 and sha-512 are "
        "verified (a repeated key: the last wins), other algorithms ignored; a field with "
        "no usable digest is refused (400). Without it the server only records its own.",
    }
    return op(
        "upload_file",
        "Upload raw bytes (streamed; Content-Length required). Quota, size and If-Match are "
        "decided before the body is read, and before `100 Continue` when the client sends "
        "`Expect: 100-continue`",
        {"200": answer, "201": created},
        400,
        404,
        408,
        411,
        412,
        413,
        417,
        507,
        params=[
            FOLDER_ID,
            param("name", schema=NAME),
            IF_MATCH_PARAM,
            param("If-None-Match", "header", {"type": "string", "const": "*"}, "create only"),
            param("Repr-Digest", "header", digest),
            param(
                MTIME_HEADER,
                "header",
                {"type": "integer", "minimum": -INT64_MAX - 1, "maximum": INT64_MAX},
                "the file's mtime in ns since the epoch (default: now)",
            ),
        ],
        body={
            "required": True,
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        },
    )


def file_paths() -> dict[str, Obj]:
    content_headers = {"ETag": header_ref("ETagSha")}
    partial_headers = {**content_headers, "Content-Range": header_ref("ContentRange")}
    name_or_folder = {
        "type": "object",
        "properties": {"name": NAME, "folder_id": {"type": "string"}},
        "anyOf": [{"required": ["name"]}, {"required": ["folder_id"]}],
    }
    return {
        "/v1/files/{file_id}": {
            "get": op(
                "get_file",
                "File metadata",
                {"200": json_answer(ref("File"), headers=ETAG_REV, links=FILE_LINKS)},
                400,
                404,
                params=[FILE_ID],
            ),
            "patch": op(
                "patch_file",
                "Rename and/or move to another folder",
                {"200": json_answer(ref("File"), headers=ETAG_REV)},
                404,
                409,
                412,
                params=[FILE_ID, IF_MATCH_PARAM],
                body=json_body(name_or_folder),
            ),
            "delete": op(
                "delete_file",
                "Delete a file (to the trash)",
                {"204": NO_CONTENT},
                400,
                404,
                412,
                params=[FILE_ID, IF_MATCH_PARAM],
            ),
        },
        "/v1/files/{file_id}/content": {
            "get": op(
                "file_content",
                "The bytes; ETag is the sha256; one Range gives 206",
                content_answers(content_headers, partial_headers),
                400,
                404,
                416,
                params=[FILE_ID, *CONTENT_PARAMS],
            )
        },
    }


CONTENT_PARAMS = [
    param(
        "Range",
        "header",
        description="one range, bytes=<first>-[<last>] or bytes=-<suffix>: 206 (416 when past "
        "the end); several ranges or a malformed value are ignored (the whole file, 200)",
    ),
    param("If-Range", "header", description='"<sha256>": the range only if unchanged'),
    param("If-None-Match", "header", description='"<sha256>" or *: 304 when it matches'),
]


def content_answers(headers: Obj, partial_headers: Obj) -> Obj:
    return {
        "200": bytes_answer("the bytes", headers),
        "206": bytes_answer("the requested range", partial_headers),
        "304": {"description": "not modified (If-None-Match)", "headers": headers},
    }


def feed_paths() -> dict[str, Obj]:
    return {
        "/v1/changes": {
            "get": op(
                "changes",
                "Change feed: cursor=0 = the whole library; `wait` = long poll (seconds)",
                {"200": json_answer(ref("ChangesPage"))},
                400,
                410,
                params=[
                    int_param("cursor", 0, MAX_ID, 0, "410 below the compaction floor or ahead"),
                    int_param("limit", 1, feed.MAX_LIMIT, feed.DEFAULT_LIMIT),
                    param(
                        "wait",
                        "query",
                        {"type": "number", "minimum": 0, "maximum": MAX_WAIT_S, "default": 0},
                        "hold the request until a change or this many seconds",
                    ),
                    param(
                        "epoch",
                        "query",
                        {"type": "string", "maxLength": feed.MAX_EPOCH_CHARS},
                        "the epoch of the page the cursor came from: a cursor into a history "
                        "the server lost (restored from an older backup) answers 410 rewound",
                    ),
                    param(
                        "snapshot",
                        "query",
                        {"type": "integer", "minimum": 0, "maximum": MAX_ID},
                        "a full read: 0 with cursor 0, then the page's `snapshot`; its pages "
                        "stay within `limit` and may go on below the compaction floor",
                    ),
                ],
            )
        }
    }


def trash_paths() -> dict[str, Obj]:
    items = _object(["items"], items={"type": "array", "items": ref("TrashItem")})
    restore = link("restore_trash", "restore the newest", trash_id="$response.body#/items/0/id")
    return {
        "/v1/trash": {
            "get": op(
                "list_trash",
                "The caller's trash: deleted files, newest first, until expires_at (bounded per "
                "user: oldest entries are purged first past the server's cap)",
                {"200": json_answer(items, links={"Restore": restore})},
            )
        },
        "/v1/trash/{trash_id}/restore": {
            "post": op(
                "restore_trash",
                "Restore into the original folder (re-created if deleted; `name (restored)` if "
                "the name is taken); counted in quota; appears on the change feed",
                {"201": json_answer(ref("File"), "restored", ETAG_REV, FILE_LINKS)},
                400,
                404,
                409,
                507,
                params=[param("trash_id")],
            )
        },
    }


FRAMES = (
    "A stream of frames: each a 4-byte big-endian header length, a UTF-8 JSON object "
    f"header (at most {MAX_HEADER_BYTES} bytes), then exactly header.size bytes (none when "
    'size is absent); the last frame is {"end": true}. '
)


def batch_paths() -> dict[str, Obj]:
    read_answer = {
        "description": FRAMES + "Per requested id, in order: a header BatchReadHeader, status "
        "200 with the file's bytes, or an error status (404 for a missing or another user's "
        "file) with `error` and no bytes. One file's error does not stop the others.",
        "content": {MEDIA_TYPE: {"schema": BINARY}},
    }
    write_body = {
        "required": True,
        "description": FRAMES + "Per file a header BatchWriteHeader, then its bytes.",
        "content": {"application/octet-stream": {"schema": BINARY}},
    }
    return {
        "/v1/files:batch-read": {
            "post": op(
                "batch_read",
                f"The bytes of up to {BATCH_MAX_FILES} files, {BATCH_MAX_BYTES} bytes in all "
                "(413 above), in one answer",
                {"200": read_answer},
                body=json_body(ref("BatchRead")),
            )
        },
        "/v1/files:batch-write": {
            "post": op(
                "batch_write",
                f"Upload up to {BATCH_MAX_FILES} files, {BATCH_MAX_BYTES} bytes in all, in one "
                "body (Content-Length required). Each file has its own checks, sha256 and quota "
                "reservation and its own result (one bad file does not fail the others); a "
                "body that is cut or not well-formed is a 400 and stores nothing",
                {"200": json_answer(ref("BatchWriteAnswer"))},
                400,
                408,
                411,
                413,
                body=write_body,
            )
        },
    }
