"""The pages of a signed-in user: library home (participant folders, search box, usage),
a folder's grid, search results and the trash. Every page reads only the session user's rows
(another user's folder is "not found", as in the API); actions go to the JSON API."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from syncd.errors import ApiError
from syncd.server import search, trash
from syncd.server.folders import folder_row
from syncd.server.http import USER_ID_KEY, state_of
from syncd.server.meta import Row
from syncd.server.web import store
from syncd.server.web.render import error_page, render, see_other
from syncd.server.web.sessions import request_session
from syncd.server.web.store import SessionUser

MAX_GRID = 500  # newest items shown in a folder
KINDS = {
    "image": "Images",
    "video": "Videos",
    "audio": "Voice notes & audio",
    "document": "Documents",
}
routes = web.RouteTableDef()
Page = Callable[[web.Request, SessionUser], Awaitable[web.StreamResponse]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def page(handler: Page) -> Handler:
    """Signed-in pages: no session -> the sign-in page; API errors -> an error page."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            found = request_session(request, state_of(request).db)
        except ApiError as error:
            return error_page(error)
        if found is None:
            return see_other("/login")
        request[USER_ID_KEY] = found.user["id"]
        try:
            return await handler(request, found)
        except ApiError as error:
            return error_page(error, signed_in=True)

    return wrapped


def usage(db_user: Row, by_kind: dict[str, int]) -> dict[str, Any]:
    used, limit = int(db_user["used_bytes"]), int(db_user["limit_bytes"])
    return {
        "used": used,
        "limit": limit,
        "max_file": int(db_user["max_file_bytes"]),
        "percent": round(100 * used / limit, 1) if limit else 100.0,
        "by_kind": [(kind, label, by_kind.get(kind, 0)) for kind, label in KINDS.items()],
    }


def base_context(request: web.Request, found: SessionUser) -> dict[str, Any]:
    user = found.user
    db = state_of(request).db
    return {
        "user": user,
        "csrf": found.csrf,
        "cursor": int(user["last_seq"]),
        "usage": usage(user, store.kind_bytes(db, user["id"])),
        "query": "",
    }


@routes.get("/", name="web_home")
@page
async def home(request: web.Request, found: SessionUser) -> web.StreamResponse:
    folders = store.folder_overview(state_of(request).db, found.user["id"])
    return render("home.html", {**base_context(request, found), "folders": folders})


@routes.get("/folders/{folder_id}", name="web_folder")
@page
async def folder(request: web.Request, found: SessionUser) -> web.StreamResponse:
    state = state_of(request)
    row = folder_row(state, found.user["id"], request.match_info["folder_id"])
    items = store.folder_files(state.db, found.user["id"], row["id"], MAX_GRID)
    context = {**base_context(request, found), "folder": row, "items": items}
    return render("folder.html", context)


@routes.get("/search", name="web_search")
@page
async def find(request: web.Request, found: SessionUser) -> web.StreamResponse:
    text = request.query.get("q", "").strip()[: search.MAX_QUERY_CHARS]
    hits = search.search(state_of(request), found.user["id"], text, 50, 0).hits if text else []
    context = {**base_context(request, found), "hits": hits, "query": text}
    return render("search.html", context)


@routes.get("/trash", name="web_trash")
@page
async def trash_page(request: web.Request, found: SessionUser) -> web.StreamResponse:
    state = state_of(request)
    items = trash.list_trash(state.db, found.user["id"], state.trash_days)
    return render("trash.html", {**base_context(request, found), "items": items})
