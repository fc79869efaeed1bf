"""The web page in a real browser: Debian's Chromium driven by Playwright against a real
`syncd serve` on 127.0.0.1. Sign-in links, the library home (participants, usage meter),
thumbnails, upload, live updates, delete/undo/trash/restore, search, and the security rules
(cross-site requests refused, another user's pages and thumbnails not reachable)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.daemon import wait_until
from tests.support.server import Api, ApiFailure, ServerProcess
from tests.support.web import (
    Message,
    chromium_path,
    deliver,
    image_bytes,
    login_link,
    other_site,
    video_bytes,
)

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect
CHROMIUM = chromium_path()
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="needs Debian's chromium (apt-get install chromium)"
)
LIVE_S = 10_000  # ms: "within a few seconds"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-dev-shm-usage"]  # root in CI; small /dev/shm


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright_api.sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()


@pytest.fixture
def alice(server: ServerProcess) -> Api:
    return Api(server.url, server.add_user("alice", quota="10MiB"))


def sign_in(page: Any, server: ServerProcess, name: str = "alice") -> None:
    page.goto(login_link(server, name))
    expect(page).to_have_url(server.url + "/")


def test_sign_in_link_signs_in_once_with_a_strict_httponly_cookie(
    browser: Any, page: Any, server: ServerProcess, alice: Api
) -> None:
    """The link from `syncd admin login-link` opens the library and sets an HttpOnly,
    SameSite=Strict session cookie; the same link opened again (another browser) is refused;
    without a session the library sends the browser to the sign-in form."""
    link = login_link(server, "alice")
    assert "/login/ln_" in link and alice.token not in link
    page.goto(link)
    expect(page).to_have_url(server.url + "/")
    expect(page.get_by_role("heading", name="Library of alice")).to_be_visible()
    (cookie,) = page.context.cookies()
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and not cookie["secure"]
    log = server.log()
    assert "login_link_used" in log
    assert cookie["value"] not in log and link.rsplit("/", 1)[1] not in log  # never logged
    assert alice.token not in page.url
    other = browser.new_context()
    again = other.new_page()
    again.goto(link)
    expect(again.get_by_role("alert")).to_contain_text("used already or has expired")
    again.goto(server.url + "/")
    expect(again).to_have_url(server.url + "/login")
    other.close()


def test_sign_in_link_clicked_on_another_site_still_opens_the_library(
    page: Any, server: ServerProcess, alice: Api
) -> None:
    """A link clicked on another origin's page (a web mail) gets a page that moves on by
    itself, so the Strict cookie is sent on the way to the library."""
    link = login_link(server, "alice")
    with other_site(f'<!doctype html><a href="{link}">Sign in to syncd</a>') as mail:
        page.goto(mail)
        page.get_by_role("link", name="Sign in to syncd").click()
        expect(page).to_have_url(server.url + "/")
    expect(page.get_by_role("heading", name="Library of alice")).to_be_visible()


def test_token_form_signs_in_and_sign_out_ends_the_session(
    page: Any, server: ServerProcess, alice: Api
) -> None:
    """The sign-in form takes the API token in its POST body (never the URL); a wrong token
    is refused; Sign out ends the session (the library sends back to sign-in)."""
    page.goto(server.url + "/login")
    page.get_by_label("Token").fill("sk_wrong")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("not valid")
    page.get_by_label("Token").fill(alice.token)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(server.url + "/")
    assert alice.token not in page.url
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(server.url + "/login")
    page.goto(server.url + "/")
    expect(page).to_have_url(server.url + "/login")


def test_rotate_token_ends_web_sessions(page: Any, server: ServerProcess, alice: Api) -> None:
    """`syncd admin rotate-token` signs every browser of the user out at once."""
    sign_in(page, server)
    server.rotate_token("alice")
    page.goto(server.url + "/")
    expect(page).to_have_url(server.url + "/login")


def test_home_lists_participants_newest_first_with_usage_meter(
    page: Any, server: ServerProcess, alice: Api, tmp_path: Path
) -> None:
    """Participant folders arrive through the real webhook; each is a link named by its
    display name with phone, file count and newest item, newest activity first; the usage
    meter carries used/limit in bytes and the text in IEC units, with bytes per kind."""
    photo, pdf = tmp_path / "photo.jpg", tmp_path / "list.pdf"
    photo.write_bytes(image_bytes())
    pdf.write_bytes(b"%PDF-1.4\n" + b"x" * 3000)
    deliver(
        server,
        alice,
        "alice",
        tmp_path,
        [
            Message("+4915112345678", "Alice Martin", photo, "image/jpeg", "The blue sofa"),
            Message("+5511912345678", "Bruno Costa", pdf, "application/pdf", "", "Prices.pdf"),
        ],
    )
    sign_in(page, server)
    links = page.locator("a.folder-link")
    expect(links).to_have_text(["Bruno Costa", "Alice Martin"])  # newest activity first
    bruno = page.locator(".folder-card", has=page.get_by_role("link", name="Bruno Costa"))
    expect(bruno).to_contain_text("+5511912345678")
    expect(bruno).to_contain_text("1 file")
    expect(bruno).to_contain_text("Prices.pdf")
    account = alice.account()
    meter = page.get_by_role("meter", name="Storage used")
    expect(meter).to_have_attribute("aria-valuenow", str(account["quota"]["used_bytes"]))
    expect(meter).to_have_attribute("aria-valuemax", str(10 * 1024 * 1024))
    expect(page.locator(".usage-text")).to_contain_text("of 10.0 MiB used")
    image_bytes_text = page.locator(".kind-image .kind-bytes")
    expect(image_bytes_text).to_have_text(re.compile(r"^\d+\.\d KiB$"))


def _thumb_loaded(page: Any, name: str) -> bool:
    return bool(
        page.get_by_role("img", name=name).evaluate("i => i.complete && i.naturalWidth > 0")
    )


def test_folder_grid_shows_thumbnails_players_and_item_buttons(
    page: Any, server: ServerProcess, alice: Api, tmp_path: Path
) -> None:
    """Images get server-made WebP thumbnails that render (naturalWidth > 0); a video gets
    a player with a poster frame (ffmpeg); a voice note an audio player; a document its
    icon and name; every item has Download, Copy link and Delete."""
    folder = alice.create_folder("Campaign")["id"]
    alice.upload(folder, "sofa.jpg", image_bytes("JPEG", (1200, 900)))
    alice.upload(folder, "receipt.png", image_bytes("PNG", (300, 500), "orange"))
    alice.upload(folder, "note.opus", b"OggS" + b"\0" * 2000)
    alice.upload(folder, "terms.pdf", b"%PDF-1.4\n" + b"y" * 100)
    video = video_bytes(tmp_path)
    if video is not None:
        alice.upload(folder, "clip.mp4", video)
    sign_in(page, server)
    page.get_by_role("link", name="Campaign").click()
    expect(page.get_by_role("heading", name="Campaign")).to_be_visible()
    for name in ("sofa.jpg", "receipt.png"):
        wait_until(lambda name=name: _thumb_loaded(page, name), 20, what=f"{name} thumbnail")
    src = page.get_by_role("img", name="sofa.jpg").get_attribute("src")
    answer = page.request.get(server.url + src)
    assert answer.headers["content-type"] == "image/webp"
    expect(page.locator(".item-audio audio")).to_have_count(1)
    expect(page.locator(".item-document")).to_contain_text("terms.pdf")
    count = 5 if video is not None else 4
    for label in ("Download", "Copy link", "Delete"):
        expect(page.get_by_role("button", name=label, exact=True)).to_have_count(count)
    if video is not None:
        poster = page.locator(".item-video video").get_attribute("poster")
        answer = page.request.get(server.url + poster)
        assert answer.ok and answer.headers["content-type"] == "image/webp"


def test_upload_through_the_file_input_reaches_the_api(
    page: Any, server: ServerProcess, alice: Api
) -> None:
    """Files chosen in the input named Upload (several at once) are stored through the API
    and show in the grid."""
    folder = alice.create_folder("Uploads")["id"]
    sign_in(page, server)
    page.goto(f"{server.url}/folders/{folder}")
    photo = image_bytes("JPEG", (200, 200), "navy")
    page.get_by_label("Upload", exact=True).set_input_files(
        [
            {"name": "from-browser.jpg", "mimeType": "image/jpeg", "buffer": photo},
            {"name": "notes.txt", "mimeType": "text/plain", "buffer": b"hello"},
        ]
    )
    expect(page.locator("#uploads")).to_contain_text("uploaded")
    expect(page.locator(".item", has_text="from-browser.jpg")).to_be_visible()
    expect(page.locator(".item", has_text="notes.txt")).to_be_visible()
    stored = {f["name"]: f for f in alice.files(folder)}
    assert set(stored) == {"from-browser.jpg", "notes.txt"}
    assert alice.download(stored["from-browser.jpg"]["id"]) == photo


DROP = """([name, text]) => {
  const transfer = new DataTransfer();
  transfer.items.add(new File([text], name, {type: "text/plain"}));
  const zone = document.getElementById("dropzone");
  for (const type of ["dragover", "drop"]) {
    const init = {dataTransfer: transfer, bubbles: true, cancelable: true};
    zone.dispatchEvent(new DragEvent(type, init));
  }
}"""


def test_files_dropped_on_the_folder_are_uploaded_with_progress(
    page: Any, server: ServerProcess, alice: Api
) -> None:
    """Drag and drop onto the folder uploads the file; its row shows a progress bar that
    ends full, and the item joins the grid."""
    folder = alice.create_folder("Dropped")["id"]
    sign_in(page, server)
    page.goto(f"{server.url}/folders/{folder}")
    page.evaluate(DROP, ["dropped.txt", "dropped on the page"])
    row = page.locator("#uploads li", has_text="dropped.txt")
    expect(row).to_contain_text("uploaded")
    bar = row.get_by_role("progressbar", name="Uploading dropped.txt")
    assert bar.evaluate("b => b.value === b.max")
    expect(page.locator(".item", has_text="dropped.txt")).to_be_visible()
    (stored,) = alice.files(folder)
    assert alice.download(stored["id"]) == b"dropped on the page"


def test_upload_over_quota_is_refused_before_sending(
    page: Any, server: ServerProcess, alice: Api
) -> None:
    """A file that does not fit is refused in the page with the numbers, and never sent."""
    folder = alice.create_folder("Big")["id"]
    sign_in(page, server)
    page.goto(f"{server.url}/folders/{folder}")
    page.get_by_label("Upload", exact=True).set_input_files(
        [{"name": "huge.bin", "mimeType": "application/octet-stream", "buffer": b"z" * (11 << 20)}]
    )
    expect(page.locator("#uploads")).to_contain_text("11.0 MiB does not fit: 10.0 MiB free of")
    assert alice.counters().get("uploads", 0) == 0 and alice.files(folder) == []


def test_item_uploaded_through_the_api_appears_on_the_open_page(
    page: Any, server: ServerProcess, alice: Api
) -> None:
    """Live: a file stored by another device shows up on an open folder page and the home
    page without a reload (the page follows the change feed)."""
    folder = alice.create_folder("Live")["id"]
    sign_in(page, server)
    page.goto(f"{server.url}/folders/{folder}")
    expect(page.locator(".item")).to_have_count(0)
    alice.upload(folder, "arrived.png", image_bytes("PNG", (100, 100), "red"))
    expect(page.locator(".item", has_text="arrived.png")).to_be_visible(timeout=LIVE_S)
    page.goto(server.url + "/")
    expect(page.get_by_role("link", name="Live")).to_be_visible()
    alice.create_folder("Newcomer")
    expect(page.get_by_role("link", name="Newcomer")).to_be_visible(timeout=LIVE_S)


def test_delete_goes_to_trash_undo_and_restore_bring_it_back(
    page: Any, server: ServerProcess, alice: Api
) -> None:
    """Delete moves a file to the server trash (Undo brings it back at once); the Trash
    page lists it and Restore puts it back in its folder."""
    folder = alice.create_folder("Shop")["id"]
    alice.upload(folder, "keep.jpg", image_bytes())
    alice.upload(folder, "drop.jpg", image_bytes("JPEG", (50, 50)))
    sign_in(page, server)
    page.goto(f"{server.url}/folders/{folder}")
    item = page.locator(".item", has_text="drop.jpg")
    item.get_by_role("button", name="Delete").click()
    expect(item).to_have_count(0)
    assert [f["name"] for f in alice.files(folder)] == ["keep.jpg"]
    page.get_by_role("status").get_by_role("button", name="Undo").click()
    expect(page.locator(".item", has_text="drop.jpg")).to_be_visible()
    assert sorted(f["name"] for f in alice.files(folder)) == ["drop.jpg", "keep.jpg"]
    page.locator(".item", has_text="drop.jpg").get_by_role("button", name="Delete").click()
    expect(page.locator(".item", has_text="drop.jpg")).to_have_count(0)
    page.get_by_role("link", name="Trash").click()
    entry = page.locator(".trash-item", has_text="drop.jpg")
    expect(entry).to_contain_text("from Shop")
    entry.get_by_role("button", name="Restore").click()
    expect(entry).to_have_count(0)
    assert sorted(f["name"] for f in alice.files(folder)) == ["drop.jpg", "keep.jpg"]


def test_delete_folder_asks_first_then_moves_its_files_to_trash(
    page: Any, server: ServerProcess, alice: Api
) -> None:
    """Delete folder asks for confirmation (cancel keeps it), then deletes it and its files
    (they are in the trash)."""
    folder = alice.create_folder("Old stuff")["id"]
    alice.upload(folder, "a.txt", b"a")
    sign_in(page, server)
    page.goto(f"{server.url}/folders/{folder}")
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.get_by_role("button", name="Delete folder").click()
    expect(page).to_have_url(f"{server.url}/folders/{folder}")
    assert any(f["id"] == folder for f in alice.folders())
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete folder").click()
    expect(page).to_have_url(server.url + "/")
    assert not any(f["id"] == folder for f in alice.folders())
    assert [t["name"] for t in alice.json("GET", "/v1/trash")["items"]] == ["a.txt"]


def test_copy_link_gives_a_working_share_url(page: Any, server: ServerProcess, alice: Api) -> None:
    """Copy link makes a signed share link (as `syncd link`) and puts it on the clipboard."""
    folder = alice.create_folder("Share")["id"]
    alice.upload(folder, "offer.pdf", b"%PDF-offer")
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
    sign_in(page, server)
    page.goto(f"{server.url}/folders/{folder}")
    page.get_by_role("button", name="Copy link").click()
    expect(page.get_by_role("status")).to_contain_text("Link copied")
    url = page.evaluate("navigator.clipboard.readText()")
    assert url.startswith(server.url + "/s/")
    assert page.context.request.get(url).body() == b"%PDF-offer"


def test_search_box_finds_participants_by_phone_and_files_by_caption(
    page: Any, server: ServerProcess, alice: Api, tmp_path: Path
) -> None:
    """The searchbox uses the server's search: a phone fragment finds the participant, a
    caption word finds the file."""
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(image_bytes())
    deliver(
        server,
        alice,
        "alice",
        tmp_path,
        [Message("+5511912345678", "Bruno Costa", photo, "image/jpeg", "Recibo do pagamento")],
    )
    sign_in(page, server)
    box = page.get_by_role("searchbox")
    box.fill("91234")
    box.press("Enter")
    expect(page.get_by_role("list", name="Search results")).to_contain_text("Bruno Costa")
    page.get_by_role("searchbox").fill("recibo")
    page.get_by_role("searchbox").press("Enter")
    results = page.get_by_role("list", name="Search results")
    expect(results.locator(".result-file")).to_contain_text("Recibo do pagamento")


CROSS_SITE_PAGE = """<!doctype html><title>elsewhere</title><body><script>
async function attack(target, fileId) {
  const out = [];
  for (const [method, path] of [["DELETE", "/v1/files/" + fileId], ["POST", "/logout"]]) {
    try {
      const r = await fetch(target + path, {method, credentials: "include", mode: "no-cors"});
      out.push(r.type);
    } catch (e) { out.push(String(e)); }
  }
  return out;
}
</script></body>"""


def test_cross_site_requests_with_the_session_cookie_are_refused(
    page: Any, server: ServerProcess, alice: Api
) -> None:
    """A page of another origin on the same machine (same site: the browser sends the
    SameSite cookie) cannot delete or sign out; a request with the cookie and a foreign
    Origin, or without the CSRF token, is answered 403 and changes nothing."""
    folder = alice.create_folder("Target")["id"]
    file_id = alice.upload(folder, "precious.jpg", image_bytes())["id"]
    sign_in(page, server)
    with other_site(CROSS_SITE_PAGE) as attacker:
        page.goto(attacker)
        page.evaluate("([t, f]) => attack(t, f)", [server.url, file_id])
    assert [f["id"] for f in alice.files(folder)] == [file_id]
    request = page.context.request
    csrf = _csrf(page, server)
    url = f"{server.url}/v1/files/{file_id}"
    answer = request.delete(url, headers={"Origin": "http://evil.example", "X-CSRF-Token": csrf})
    assert answer.status == 403 and answer.json()["error"]["reason"] == "cross_site"
    answer = request.delete(url, headers={"Origin": server.url})
    assert answer.status == 403 and answer.json()["error"]["reason"] == "csrf"
    assert [f["id"] for f in alice.files(folder)] == [file_id]
    page.goto(server.url + "/")
    expect(page.get_by_role("heading", name="Library of alice")).to_be_visible()  # signed in


def _csrf(page: Any, server: ServerProcess) -> str:
    page.goto(server.url + "/")
    return str(page.locator('meta[name="csrf-token"]').get_attribute("content"))


def test_another_users_folder_thumbnail_and_content_are_not_reachable(
    page: Any, server: ServerProcess, alice: Api
) -> None:
    """Signed in as bob, alice's folder page, thumbnail and file content are "not found"
    (tenant isolation as in the API); bob's library shows none of alice's folders."""
    folder = alice.create_folder("Private")["id"]
    file_id = alice.upload(folder, "secret.jpg", image_bytes())["id"]
    server.add_user("bob", quota="10MiB")
    sign_in(page, server, "bob")
    expect(page.get_by_role("link", name="Private")).to_have_count(0)
    answer = page.goto(f"{server.url}/folders/{folder}")
    assert answer.status == 404
    for path in (f"/thumbs/{file_id}", f"/v1/files/{file_id}/content", f"/v1/files/{file_id}"):
        assert page.request.get(server.url + path).status == 404, path
    with pytest.raises(ApiFailure):
        Api(server.url, "sk_nobody").files(folder)


def test_library_is_usable_on_a_phone_sized_screen_with_the_keyboard(
    browser: Any, server: ServerProcess, alice: Api
) -> None:
    """At 390x844 nothing is wider than the screen; Tab reaches the search box and the
    folder link, Enter opens it."""
    alice.create_folder("Phone view")
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    sign_in(page, server)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    for _ in range(12):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent") == "Phone view":
            break
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Phone view")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    context.close()
