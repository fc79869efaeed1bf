"""Regenerate the README's screenshots of the web page (`make screenshot`): a scratch
`syncd serve`, the demo's customers sending their first items through the real webhook path,
a sign-in link, then Debian's Chromium (Playwright, never a downloaded browser) photographs
the library home and a folder. Writes docs/screenshots/library.png and folder.png."""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

from syncd.demo_incoming import FIRST_ITEMS, INCOMING, Customers
from syncd.server.ingest.sample_gateway import SampleGateway

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "docs" / "screenshots"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-dev-shm-usage"]  # as root; small /dev/shm


def syncd(data: Path, *args: str) -> str:
    argv = [sys.executable, "-m", "syncd", "admin", *args, "--data", str(data)]
    done = subprocess.run(argv, capture_output=True, text=True, check=True)
    return done.stdout.strip().splitlines()[-1]


def start_server(data: Path) -> tuple[subprocess.Popen[bytes], str]:
    argv = [sys.executable, "-m", "syncd", "serve", "--data", str(data), "--port", "0"]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(300):
        try:
            return proc, str(json.loads((data / "server.json").read_text())["url"])
        except (OSError, ValueError):
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the server did not start")


async def send_items(data: Path, url: str) -> None:
    gateway = SampleGateway(data)
    await gateway.start()
    try:
        hook = syncd(
            data,
            *("add-hook", "demo", "--type", "waha", "--gateway-url", gateway.url),
            *("--api-key", gateway.api_key, "--hmac-key", "screenshot"),
        )
        customers = Customers(gateway, url + hook, "screenshot")
        for item in [*FIRST_ITEMS, *INCOMING[:4]]:
            await customers.send(item)
            await asyncio.sleep(0.3)  # filed one by one: "newest activity" has an order
        await asyncio.sleep(2)
    finally:
        await gateway.stop()


def photograph(link: str, url: str, width: int) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("needs Debian's chromium: apt-get install chromium")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": width, "height": 900})
        page.goto(link)
        page.wait_for_url(url + "/")
        page.screenshot(path=OUT / "library.png", full_page=True)
        page.get_by_role("link", name="Alice Martin").click()
        for _ in range(100):  # thumbnails are made on first view
            if page.evaluate("[...document.images].every(i => i.complete)"):
                break
            page.wait_for_timeout(100)
        page.screenshot(path=OUT / "folder.png", full_page=True)
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--width", type=int, default=1100)
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        data = Path(scratch) / "server"
        data.mkdir()
        proc, url = start_server(data)
        try:
            syncd(data, "add-user", "demo", "--quota", "200MiB")
            asyncio.run(send_items(data, url))
            photograph(syncd(data, "login-link", "demo"), url, args.width)
        finally:
            proc.terminate()
            proc.wait(15)
    print(f"wrote {OUT / 'library.png'} and {OUT / 'folder.png'}")


if __name__ == "__main__":
    main()
