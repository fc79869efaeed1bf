"""Fake gateways on 127.0.0.1 that record what syncd sends: WAHA (`/api/send*`), the Graph API
(`/v21.0/{phone-number-id}/media` then `/messages`) and Evolution API
(`/message/sendMedia/{instance}`). `fail_next` makes the next answers fail with a status."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.support.loopback import serve


@dataclass
class Call:
    path: str
    headers: dict[str, str]
    json: Any = None
    form: dict[str, Any] = field(default_factory=dict)


@dataclass
class FakeSenders:
    calls: list[Call] = field(default_factory=list)
    fail_next: list[int] = field(default_factory=list)
    url: str = ""
    _runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application(client_max_size=256 << 20)
        app.router.add_post("/api/{route}", self._waha)
        app.router.add_post("/v21.0/{number}/media", self._graph_media)
        app.router.add_post("/v21.0/{number}/messages", self._graph_message)
        app.router.add_post("/message/sendMedia/{instance}", self._evolution)
        self._runner, self.url = await serve(app, "127.0.0.1")

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def _failure(self) -> web.Response | None:
        if self.fail_next:
            status = self.fail_next.pop(0)
            return web.json_response({"error": f"fake failure {status}"}, status=status)
        return None

    async def _record(self, request: web.Request) -> Call:
        call = Call(request.path, dict(request.headers))
        if request.content_type == "application/json":
            call.json = await request.json()
        else:
            form = await request.post()
            call.form = {
                k: (v.file.read() if isinstance(v, web.FileField) else v) for k, v in form.items()
            }
        self.calls.append(call)
        return call

    async def _waha(self, request: web.Request) -> web.Response:
        await self._record(request)
        return self._failure() or web.json_response({"id": "true_12025550123@c.us_3EB0SENT"})

    async def _graph_media(self, request: web.Request) -> web.Response:
        await self._record(request)
        return self._failure() or web.json_response({"id": "media-1"})

    async def _graph_message(self, request: web.Request) -> web.Response:
        await self._record(request)
        answer = {"messaging_product": "whatsapp", "messages": [{"id": "wamid.SENT"}]}
        return self._failure() or web.json_response(answer)

    async def _evolution(self, request: web.Request) -> web.Response:
        await self._record(request)
        return self._failure() or web.json_response({"key": {"id": "3EB0EVO"}}, status=201)
