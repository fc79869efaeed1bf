"""Webhook routes (`POST /hooks/{id}`, Cloud API `GET /hooks/{id}` handshake), a file's ingest
origin (`GET /v1/files/{id}/origin`), and `setup_ingest`, which the app factory calls to add
these routes, the events and share-link routes and the fetch queue's start/stop."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from aiohttp import web

from syncd.errors import Forbidden, InvalidJson, NotFound, Unauthorized
from syncd.log import get_logger
from syncd.server import links
from syncd.server.db import rfc3339
from syncd.server.files import file_row
from syncd.server.http import STATE_KEY, auth, read_body, state_of
from syncd.server.ingest import cloudapi, events, evolution, hooks, intake, spool, waha
from syncd.server.ingest.fetch import IngestQueue, IngestSettings
from syncd.server.ingest.hooks import Hook
from syncd.server.ingest.model import MediaJob, Reading

log = get_logger(__name__)
QUEUE_KEY = web.AppKey("syncd_ingest_queue", IngestQueue)
MAX_WEBHOOK_BYTES = 4 << 20  # Meta: payloads up to 3 MB
# Evolution API may send the media inside the webhook (base64: 4/3 of the bytes); larger
# media needs the gateway's webhook `base64` off (then it is fetched from the gateway).
MAX_INLINE_WEBHOOK_BYTES = 96 << 20
routes = web.RouteTableDef()


def _hook(request: web.Request) -> Hook:
    hook = hooks.get_hook(state_of(request).db, request.match_info["hook_id"])
    if hook is None:
        raise NotFound("no such hook")
    return hook


def _check_signature(request: web.Request, hook: Hook, body: bytes) -> None:
    config = hook.config
    if hook.type == "waha":
        if config.insecure_no_hmac and not config.hmac_key:
            return
        ok = waha.signature_ok(config.hmac_key or "", body, request.headers.get("X-Webhook-Hmac"))
    else:
        ok = cloudapi.signature_ok(
            config.app_secret or "", body, request.headers.get("X-Hub-Signature-256")
        )
    if not ok:
        _reject(request, hook, "missing or wrong webhook signature")


def _reject(request: web.Request, hook: Hook, reason: str) -> None:
    events.record(
        state_of(request).db,
        hook.user_id,
        "unauthorized",
        hook_id=hook.id,
        reason=f"{reason}; nothing stored",
    )
    log.warning("webhook_signature_rejected", hook=hooks.short(hook.id), reason=reason)
    raise Unauthorized(reason)


async def _read_evolution(request: web.Request, hook: Hook, payload: dict[str, Any]) -> Reading:
    config = hook.config
    authorization = request.headers.get("Authorization")
    now_s = int(time.time())
    problem = evolution.auth_problem(
        payload, config.api_key or "", config.jwt_key, authorization, now_s
    )
    if problem is not None:
        _reject(request, hook, problem)
    return await spool.spool_inline(state_of(request), hook, evolution.read(payload))


@routes.post("/hooks/{hook_id}", name="webhook")
async def webhook(request: web.Request) -> web.Response:
    """Verify, read, queue; answers at once (the fetch runs in the background queue)."""
    hook = _hook(request)
    inline = hook.type == "evolution"
    body = await read_body(request, MAX_INLINE_WEBHOOK_BYTES if inline else MAX_WEBHOOK_BYTES)
    if not inline:
        _check_signature(request, hook, body)  # on the exact bytes the gateway signed
    try:
        payload: Any = await asyncio.to_thread(json.loads, body) if inline else json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidJson("webhook body is not JSON") from exc
    if not isinstance(payload, dict):
        raise InvalidJson("webhook body must be a JSON object")
    if hook.type == "waha":
        reading = waha.read(payload, hook.config.gateway_url or "")
    elif hook.type == "evolution":
        reading = await _read_evolution(request, hook, payload)
    else:
        reading = cloudapi.read(payload)
    admitted = intake.admit(state_of(request), hook, reading)
    if admitted.queued:
        request.app[QUEUE_KEY].kick()
    log.info("webhook_received", hook=hooks.short(hook.id), **admitted.as_dict())
    return web.json_response({"ok": True, **admitted.as_dict()})


@routes.get("/hooks/{hook_id}", name="webhook_verify")
async def webhook_verify(request: web.Request) -> web.Response:
    """Meta's subscription handshake: echo `hub.challenge` when `hub.verify_token` matches."""
    hook = _hook(request)
    if hook.type != "cloudapi":
        raise NotFound("this hook has no verification handshake (it takes POST only)")
    challenge = cloudapi.verify_challenge(dict(request.query), hook.config.verify_token or "")
    if challenge is None:
        raise Forbidden("hub.mode or hub.verify_token does not match")
    return web.Response(text=challenge, content_type="text/plain")


@routes.get("/v1/files/{file_id}/origin", name="file_origin")
async def file_origin(request: web.Request) -> web.Response:
    """Where an incoming file came from, and whether the sender later revoked the message."""
    user = auth(request)
    state = state_of(request)
    row = file_row(state, user["id"], request.match_info["file_id"])
    job = state.db.one("SELECT * FROM ingest_jobs WHERE file_id=?", row["id"])
    if job is None:
        raise NotFound("this file did not arrive through a webhook", file_id=row["id"])
    media = MediaJob.model_validate_json(job["job"])
    return web.json_response(
        {
            "file_id": row["id"],
            "hook_id": job["hook_id"],
            "provider": media.provider,
            "message_id": job["message_id"],
            "sender": media.sender.model_dump(),
            "caption": media.caption,
            "received_at": rfc3339(job["created_ns"]),
            "revoked": job["revoked_ns"] is not None,
            "revoked_at": rfc3339(job["revoked_ns"]) if job["revoked_ns"] else None,
        }
    )


def setup_ingest(app: web.Application, settings: IngestSettings | None = None) -> None:
    """Add the ingest, events and share-link routes and run the fetch queue with the app."""
    settings = settings or IngestSettings.from_env()
    app.add_routes(routes)
    app.add_routes(events.routes)
    links.setup_links(app, settings.public_url)

    # app[STATE_KEY] is set by create_app before it calls us.
    queue = IngestQueue(app[STATE_KEY], settings)
    app[QUEUE_KEY] = queue

    async def start(_app: web.Application) -> None:
        await queue.start()

    async def stop(_app: web.Application) -> None:
        await queue.stop()  # on_shutdown: before on_cleanup closes the database

    app.on_startup.append(start)
    app.on_shutdown.append(stop)
