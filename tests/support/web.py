"""Helpers for the web page's browser tests: Debian's Chromium through Playwright (never a
downloaded browser), sign-in links from the real `syncd admin login-link`, sample media (real
JPEG/PNG/MP4 bytes), customers' messages through the real WAHA webhook path, and a page on
another loopback port that plays a cross-site attacker."""

from __future__ import annotations

import asyncio
import http.server
import io
import shutil
import subprocess
import threading
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from syncd.server.ingest.sample_gateway import SampleGateway
from tests.support.daemon import wait_until
from tests.support.server import Api, ServerProcess


def chromium_path() -> str | None:
    """Debian's chromium (apt-get install chromium), found on PATH."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def login_link(server: ServerProcess, name: str, *extra: str) -> str:
    return server.admin("login-link", name, *extra).strip().splitlines()[-1]


def image_bytes(
    fmt: str = "JPEG", size: tuple[int, int] = (640, 480), color: str = "teal"
) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, fmt)
    return out.getvalue()


def video_bytes(tmp: Path) -> bytes | None:
    """Two seconds of ffmpeg's test pattern as MP4; None without ffmpeg."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        return None
    target = tmp / "clip.mp4"
    subprocess.run(
        [
            *(ffmpeg, "-nostdin", "-v", "error", "-f", "lavfi"),
            *("-i", "testsrc=size=320x240:rate=10"),
            *("-t", "2", "-pix_fmt", "yuv420p", "-y", str(target)),
        ],
        check=True,
        timeout=60,
    )
    return target.read_bytes()


@dataclass(frozen=True)
class Message:
    phone: str
    sender: str
    path: Path
    mime: str
    caption: str = ""
    filename: str | None = None


def deliver(server: ServerProcess, api: Api, user: str, tmp: Path, messages: list[Message]) -> None:
    """Each message through the real webhook of a WAHA hook of `user`, in order; returns
    when the server has filed them all."""
    before = api.account()["counts"]["files"]

    async def run() -> None:
        gateway = SampleGateway(tmp)
        await gateway.start()
        try:
            hook = server.admin(
                *("add-hook", user, "--type", "waha", "--gateway-url", gateway.url),
                *("--api-key", gateway.api_key, "--hmac-key", "k3y"),
            )
            url = server.url + hook.strip().splitlines()[-1]
            for n, m in enumerate(messages):
                status, _ = await gateway.deliver(
                    *(url, "k3y", m.phone, m.sender, m.path, m.mime, f"MSG{n}X{id(m)}"),
                    filename=m.filename,
                    caption=m.caption,
                )
                assert status == 200
                target = before + n + 1
                for _ in range(300):  # the server fetches in the background, in order here
                    if api.account()["counts"]["files"] >= target:
                        break
                    await asyncio.sleep(0.05)
        finally:
            await gateway.stop()

    # its own thread: Playwright's sync API keeps an event loop running on this one
    failure: list[BaseException] = []
    thread = threading.Thread(target=lambda: _run_catching(run, failure))
    thread.start()
    thread.join(120)
    if failure:
        raise failure[0]
    wait_until(lambda: api.account()["counts"]["files"] >= before + len(messages), 10, what="filed")


Job = Callable[[], Coroutine[Any, Any, None]]


def _run_catching(coro: Job, failure: list[BaseException]) -> None:
    try:
        asyncio.run(coro())
    except BaseException as exc:
        failure.append(exc)


@contextmanager
def other_site(html: str) -> Iterator[str]:
    """Serve `html` at / of another loopback port (same site, another origin); yields its URL."""
    body = html.encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()
