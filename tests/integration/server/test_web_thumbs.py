"""Thumbnails of the web page on a real `syncd serve`: a WebP of at most 320 px cached by
content digest (two files with the same bytes share one), the kind's icon for what cannot be
decoded (remembered), and nothing without a session."""

from __future__ import annotations

import hashlib
import io
import urllib.error
import urllib.request

import pytest
from PIL import Image

from tests.support.server import Api, ServerProcess
from tests.support.web import image_bytes, login_link


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def session_cookie(server: ServerProcess, name: str) -> str:
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        opener.open(login_link(server, name), timeout=10)
    except urllib.error.HTTPError as answer:  # the 303 to the library
        assert answer.code == 303
        return answer.headers["Set-Cookie"].split(";", 1)[0]
    raise AssertionError("no redirect")


def get(url: str, cookie: str | None) -> tuple[int, str, bytes]:
    request = urllib.request.Request(url, headers={"Cookie": cookie} if cookie else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return resp.status, resp.headers["Content-Type"], resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers["Content-Type"], err.read()


@pytest.fixture
def alice(server: ServerProcess) -> Api:
    return Api(server.url, server.add_user("alice", quota="100MiB"))


def test_thumbnail_is_a_small_webp_cached_once_per_content(
    server: ServerProcess, alice: Api
) -> None:
    folder = alice.create_folder("Photos")["id"]
    photo = image_bytes("JPEG", (2000, 1000))
    first = alice.upload(folder, "a.jpg", photo)["id"]
    second = alice.upload(folder, "copy of a.jpg", photo)["id"]
    cookie = session_cookie(server, "alice")
    for file_id in (first, second):
        status, kind, body = get(f"{server.url}/thumbs/{file_id}", cookie)
        assert (status, kind) == (200, "image/webp")
        with Image.open(io.BytesIO(body)) as thumb:
            assert thumb.size == (320, 160)
    sha = hashlib.sha256(photo).hexdigest()
    cached = list((server.data_dir / "thumbs").glob("*/*.webp"))
    assert cached == [server.data_dir / "thumbs" / sha[:2] / f"{sha}.webp"]


def test_undecodable_image_gets_the_icon_and_is_not_retried(
    server: ServerProcess, alice: Api
) -> None:
    folder = alice.create_folder("Broken")["id"]
    data = b"\xff\xd8 not really a jpeg"
    file_id = alice.upload(folder, "broken.jpg", data)["id"]
    cookie = session_cookie(server, "alice")
    for _ in range(2):
        status, kind, body = get(f"{server.url}/thumbs/{file_id}", cookie)
        assert (status, kind) == (200, "image/svg+xml") and body.startswith(b"<svg")
    sha = hashlib.sha256(data).hexdigest()
    assert (server.data_dir / "thumbs" / sha[:2] / f"{sha}.none").exists()
    assert server.log().count("thumbnail_failed") == 1


def test_thumbnail_needs_a_session_of_its_owner(server: ServerProcess, alice: Api) -> None:
    folder = alice.create_folder("Mine")["id"]
    file_id = alice.upload(folder, "a.png", image_bytes("PNG"))["id"]
    server.add_user("bob")
    assert get(f"{server.url}/thumbs/{file_id}", None)[0] == 401
    assert get(f"{server.url}/thumbs/{file_id}", session_cookie(server, "bob"))[0] == 404
    assert not (server.data_dir / "thumbs").exists() or not list(
        (server.data_dir / "thumbs").glob("*/*.webp")
    )


def test_a_document_gets_its_icon(server: ServerProcess, alice: Api) -> None:
    folder = alice.create_folder("Docs")["id"]
    file_id = alice.upload(folder, "terms.pdf", b"%PDF-1.4")["id"]
    status, kind, _ = get(f"{server.url}/thumbs/{file_id}", session_cookie(server, "alice"))
    assert (status, kind) == (200, "image/svg+xml")
