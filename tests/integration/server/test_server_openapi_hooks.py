"""OpenAPI document kept true to the router (the web page's HTML routes, named `web_*`, are
not API and are left out); test hooks present only with --test-hooks."""

from __future__ import annotations

import time

from aiohttp import web

from syncd.server.app import create_app
from syncd.server.state import ServerState
from tests.integration.server.conftest import Srv


def registered_routes(app: web.Application) -> dict[str, set[str]]:
    routes: dict[str, set[str]] = {}
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter")
        if (route.name or "").startswith("web_"):
            continue  # the browser page (syncd/server/web/): HTML, not API v1
        if path and route.method != "HEAD":
            routes.setdefault(path, set()).add(route.method.lower())
    return routes


async def test_openapi_describes_every_route(srv: Srv) -> None:
    reply = await srv.user("a").call("GET", "/v1/openapi.json", auth=False)
    doc = reply.json
    assert doc["openapi"].startswith("3.1")
    state = ServerState.open(srv.data_dir / "other", test_hooks=False)
    routes = registered_routes(create_app(state))
    await state.close()
    assert routes, "no routes found"
    for path, methods in routes.items():
        assert path in doc["paths"], f"{path} missing from OpenAPI"
        assert methods <= set(doc["paths"][path]), f"{path}: {methods} vs {doc['paths'][path]}"
    for path in doc["paths"]:
        assert path in routes, f"OpenAPI documents {path}, which is not routed"
    for name in ("Account", "Folder", "File", "FilesPage", "ChangesPage", "Error"):
        assert name in doc["components"]["schemas"]


async def test_test_hooks_absent_without_flag(srv_plain: Srv) -> None:
    alice = srv_plain.user("alice")
    for method, path in [
        ("GET", "/v1/_test/counters"),
        ("POST", "/v1/_test/faults"),
        ("POST", "/v1/_test/compact"),
        ("POST", "/v1/_test/delay"),
    ]:
        reply = await alice.call(method, path, json={})
        assert (reply.status, reply.code) == (404, "not_found")
    doc = (await alice.call("GET", "/v1/openapi.json")).json
    assert not any("_test" in p for p in doc["paths"])


async def test_fault_injection_answers_then_recovers(srv: Srv) -> None:
    alice = srv.user("alice")
    folder = await alice.folder()
    file = await alice.upload(folder, "a.jpg", b"a")
    reply = await alice.call(
        "POST",
        "/v1/_test/faults",
        json={"status": 503, "count": 2, "retry_after_s": 3, "path_prefix": "/v1/files"},
    )
    assert reply.status == 200
    assert (await alice.call("GET", "/v1/account")).status == 200  # other prefix untouched
    for _ in range(2):
        reply = await alice.call("GET", f"/v1/files/{file['id']}")
        assert (reply.status, reply.code) == (503, "unavailable")
        assert reply.headers["Retry-After"] == "3"
    assert (await alice.call("GET", f"/v1/files/{file['id']}")).status == 200
    await alice.call(
        "POST", "/v1/_test/faults", json={"status": 429, "count": 1, "path_prefix": "/v1"}
    )
    reply = await alice.call("GET", "/v1/folders")
    assert (reply.status, reply.code) == (429, "rate_limited") and "Retry-After" in reply.headers


async def test_counters_and_delay(srv: Srv) -> None:
    alice, bob = srv.user("alice"), srv.user("bob")
    folder = await alice.folder()
    file = await alice.upload(folder, "a.jpg", b"abcd")
    await alice.call("GET", f"/v1/files/{file['id']}/content")
    await bob.call("GET", "/v1/account")
    counts = (await alice.call("GET", "/v1/_test/counters")).json
    assert (counts["uploads"], counts["upload_bytes"]) == (1, 4)
    assert (counts["downloads"], counts["download_bytes"]) == (1, 4)
    assert counts["requests"]["upload_file"] == 1 and "account" not in counts["requests"]
    await alice.call("POST", "/v1/_test/delay", json={"ms": 800, "count": 1})
    started = time.monotonic()
    await alice.call("GET", "/v1/account")
    assert time.monotonic() - started >= 0.8
    started = time.monotonic()
    await alice.call("GET", "/v1/account")
    assert time.monotonic() - started < 0.8  # the delay was used up
