"""`POST /v1/files/{id}/send` (queue a file for a contact through one of the user's hooks)
and `GET /v1/sent` (what was sent, is being retried, or failed, newest first)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from syncd.errors import BadRequest, HookNeeded, NotFound
from syncd.server.db import new_id, now_ns, rfc3339
from syncd.server.files import file_row
from syncd.server.http import STATE_KEY, auth, json_body, query_int, required_str, state_of
from syncd.server.ingest import hooks
from syncd.server.meta import Row
from syncd.server.outbound.phones import e164
from syncd.server.outbound.queue import MAX_SEND_BYTES, SendQueue, SendSettings

SEND_QUEUE_KEY = web.AppKey("syncd_send_queue", SendQueue)
MAX_CAPTION_CHARS = 1024  # WhatsApp's caption limit
MAX_SENT_PAGE = 200
routes = web.RouteTableDef()


def sent_record(row: Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "file_id": row["file_id"],
        "file_name": row["file_name"],
        "to": row["to_phone"],
        "hook_id": row["hook_id"],
        "caption": row["caption"],
        "state": row["state"],
        "attempts": row["attempts"],
        "gateway_status": row["gateway_status"],
        "gateway_message_id": row["gateway_message_id"],
        "error": row["error"],
        "created_at": rfc3339(row["created_ns"]),
        "updated_at": rfc3339(row["updated_ns"]),
    }


def _pick_hook(mine: list[hooks.Hook], wanted: str | None) -> hooks.Hook:
    if wanted is not None:
        chosen = [h for h in mine if h.id == wanted]
        if not chosen:
            raise NotFound("no such hook of yours", hook=wanted)
        return chosen[0]
    if len(mine) != 1:
        what = "no gateway hook" if not mine else f"{len(mine)} hooks: choose one with 'hook'"
        raise HookNeeded(f"you have {what}", hooks=[h.id for h in mine])
    return mine[0]


def _can_send(hook: hooks.Hook) -> None:
    missing = {
        "cloudapi": ("phone_number_id", "--phone-number-id"),
        "evolution": ("instance", "--instance"),
    }
    if hook.type in missing:
        field, option = missing[hook.type]
        if not getattr(hook.config, field):
            raise HookNeeded(f"this {hook.type} hook cannot send: add it again with {option}")


@routes.post("/v1/files/{file_id}/send", name="send_file")
async def send_file(request: web.Request) -> web.Response:
    user = auth(request)
    state = state_of(request)
    body = await json_body(request)
    to_phone = e164(required_str(body, "to"))
    caption = body.get("caption")
    if caption is not None and (not isinstance(caption, str) or len(caption) > MAX_CAPTION_CHARS):
        raise BadRequest(f"caption is a string of at most {MAX_CAPTION_CHARS} characters")
    wanted = body.get("hook")
    if wanted is not None and not isinstance(wanted, str):
        raise BadRequest("hook is a hook id (string)")
    file = file_row(state, user["id"], request.match_info["file_id"])
    if file["size"] > MAX_SEND_BYTES:
        raise BadRequest("WhatsApp takes files up to 100 MiB", size=file["size"])
    hook = _pick_hook(hooks.user_hooks(state.db, user["id"]), wanted)
    _can_send(hook)
    send_id, now = new_id("sd"), now_ns()
    with state.db.tx() as conn:
        conn.execute(
            "INSERT INTO sent (id, user_id, file_id, file_name, hook_id, to_phone, caption, state,"
            " next_ns, created_ns, updated_ns) VALUES (?,?,?,?,?,?,?,'queued',?,?,?)",
            (
                send_id,
                user["id"],
                file["id"],
                file["name"],
                hook.id,
                to_phone,
                caption or None,
                now,
                now,
                now,
            ),
        )
    request.app[SEND_QUEUE_KEY].kick()
    row = state.db.one("SELECT * FROM sent WHERE id=?", send_id)
    if row is None:  # removed in between: only by a concurrent admin action
        raise NotFound("the send was removed", send_id=send_id)
    return web.json_response(sent_record(row), status=202)


@routes.get("/v1/sent", name="sent")
async def sent(request: web.Request) -> web.Response:
    user = auth(request)
    limit = query_int(request, "limit", 50, 1, MAX_SENT_PAGE)
    rows = state_of(request).db.all(
        "SELECT * FROM sent WHERE user_id=? ORDER BY created_ns DESC, id LIMIT ?", user["id"], limit
    )
    return web.json_response({"items": [sent_record(r) for r in rows]})


def setup_outbound(app: web.Application) -> None:
    """Add the send routes and run the send queue with the app (app[STATE_KEY] is set)."""
    app.add_routes(routes)
    queue = SendQueue(app[STATE_KEY], SendSettings.from_env())
    app[SEND_QUEUE_KEY] = queue

    async def start(_app: web.Application) -> None:
        await queue.start()

    async def stop(_app: web.Application) -> None:
        await queue.stop()

    app.on_startup.append(start)
    app.on_cleanup.append(stop)
