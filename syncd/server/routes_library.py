"""Routes for health, the account, folders and search (DESIGN §3)."""

from __future__ import annotations

import asyncio

from aiohttp import web

from syncd import __version__
from syncd.protocol import Account, Quota, User, etag_for_rev
from syncd.server import folders, search
from syncd.server.http import (
    auth,
    json_body,
    model_response,
    precondition,
    query_int,
    required_str,
    state_of,
)

routes = web.RouteTableDef()


@routes.get("/v1/health", name="health")
async def health(request: web.Request) -> web.Response:
    """Liveness and each backend's reachability: 503 while the blob store or the metadata
    database cannot be reached (a load balancer then sends traffic to another instance)."""
    state = state_of(request)
    reach, db_reach = await asyncio.gather(state.blobs.check(), state.db.check())
    blobs: dict[str, object] = {"backend": reach.backend, "reachable": reach.reachable}
    if reach.detail:
        blobs["reason"] = reach.detail
    db: dict[str, object] = {"backend": db_reach.backend, "reachable": db_reach.reachable}
    if db_reach.detail:
        db["reason"] = db_reach.detail
    ok = reach.reachable and db_reach.reachable
    return web.json_response(
        {"status": "ok" if ok else "unavailable", "version": __version__, "blobs": blobs, "db": db},
        status=200 if ok else 503,
    )


@routes.get("/v1/account", name="account")
async def account(request: web.Request) -> web.Response:
    user = auth(request)
    db = state_of(request).db
    # Trigger-kept counters (schema v4): O(kinds + folders), not O(files).
    folders_row = db.one("SELECT COUNT(*) AS n FROM folders WHERE user_id=?", user["id"])
    by_kind = dict.fromkeys(("image", "audio", "video", "document"), 0)
    files = 0
    for row in db.all("SELECT kind, files, bytes FROM user_kind_stats WHERE user_id=?", user["id"]):
        by_kind[row["kind"]] = by_kind.get(row["kind"], 0) + int(row["bytes"])
        files += int(row["files"])
    return model_response(
        Account(
            user=User(id=user["id"], name=user["name"]),
            library_id=user["library_id"],
            quota=Quota(
                used_bytes=user["used_bytes"],
                limit_bytes=user["limit_bytes"],
                max_file_bytes=user["max_file_bytes"],
            ),
            counts={"files": files, "folders": int(folders_row["n"]) if folders_row else 0},
            by_kind=by_kind,
        )
    )


@routes.get("/v1/folders", name="list_folders")
async def list_folders(request: web.Request) -> web.Response:
    user = auth(request)
    items = folders.list_folders(state_of(request), user["id"])
    return web.json_response({"folders": [f.model_dump(mode="json") for f in items]})


@routes.post("/v1/folders", name="create_folder")
async def create_folder(request: web.Request) -> web.Response:
    user = auth(request)
    name = required_str(await json_body(request), "name")
    folder = folders.create_folder(state_of(request), user["id"], name)
    return model_response(folder, 201, {"ETag": etag_for_rev(folder.rev)})


@routes.get("/v1/folders/{folder_id}", name="get_folder")
async def get_folder(request: web.Request) -> web.Response:
    user = auth(request)
    folder = folders.get_folder(state_of(request), user["id"], request.match_info["folder_id"])
    return model_response(folder, headers={"ETag": etag_for_rev(folder.rev)})


@routes.patch("/v1/folders/{folder_id}", name="patch_folder")
async def patch_folder(request: web.Request) -> web.Response:
    user = auth(request)
    pre = precondition(request)
    name = required_str(await json_body(request), "name")
    folder = folders.rename_folder(
        state_of(request), user["id"], request.match_info["folder_id"], name, pre
    )
    return model_response(folder, headers={"ETag": etag_for_rev(folder.rev)})


@routes.delete("/v1/folders/{folder_id}", name="delete_folder")
async def delete_folder(request: web.Request) -> web.Response:
    user = auth(request)
    await folders.delete_folder(
        state_of(request), user["id"], request.match_info["folder_id"], precondition(request)
    )
    return web.Response(status=204)


@routes.get("/v1/search", name="search")
async def find(request: web.Request) -> web.Response:
    user = auth(request)
    limit = query_int(request, "limit", 20, 1, search.MAX_LIMIT)
    offset = query_int(request, "offset", 0, 0, search.MAX_OFFSET)
    text = request.query.get("q", "")
    return model_response(search.search(state_of(request), user["id"], text, limit, offset))
