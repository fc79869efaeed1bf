"""The demo's customers: the first five items, then a new item every few seconds (photos, a
voice note, documents; known and new contacts), each sent through the real WAHA webhook path
by the sample gateway, with one readable line per item on the demo terminal."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources

import aiohttp

from syncd.server.ingest.sample_gateway import SampleGateway


@dataclass(frozen=True)
class Item:
    phone: str
    name: str
    sample: str  # file in syncd/demo_media
    mime: str
    filename: str | None = None  # the name the sender gave (documents); None: the server names it
    caption: str = ""  # what the sender wrote with it: `syncd find` finds it

    @property
    def what(self) -> str:
        kind = self.mime.split("/")[0]
        return {"image": "a photo", "audio": "a voice note"}.get(kind, "a document")


ALICE = ("+4915112345678", "Alice Martin")
BRUNO = ("+5511912345678", "Bruno Costa")
CHLOE = ("+33612345678", "Chloé Dubois")
FIRST_ITEMS = [  # what the library holds after the first start
    Item(*ALICE, "customer-photo.jpg", "image/jpeg", caption="The blue sofa, is it in stock?"),
    Item(*ALICE, "voice-note.wav", "audio/wav"),
    Item(*BRUNO, "price-list.pdf", "application/pdf", "Price list.pdf", "Preços de dezembro"),
    Item(*BRUNO, "receipt.png", "image/png", caption="Recibo do pagamento"),
    Item(*CHLOE, "customer-photo.jpg", "image/jpeg"),
]
INCOMING = [  # then, one by one, for as long as the demo runs
    Item("+4917655501234", "Dana Weber", "customer-photo.jpg", "image/jpeg"),
    Item(*ALICE, "receipt.png", "image/png"),
    Item(*BRUNO, "voice-note.wav", "audio/wav"),
    Item(
        "+447700900123",
        "Emma Clarke",
        "price-list.pdf",
        "application/pdf",
        "Order form.pdf",
        "Signed order form for the café",
    ),
    Item(*CHLOE, "receipt.png", "image/png"),
    Item("+4917655501234", "Dana Weber", "voice-note.wav", "audio/wav"),
]


class Customers:
    """Sends items through `gateway` to the user's webhook at `hook_url`."""

    def __init__(self, gateway: SampleGateway, hook_url: str, hmac_key: str) -> None:
        self.gateway, self.hook_url, self.hmac_key = gateway, hook_url, hmac_key

    async def send(self, item: Item) -> None:
        media = resources.files("syncd") / "demo_media" / item.sample
        with resources.as_file(media) as path:
            status, answer = await self.gateway.deliver(
                self.hook_url,
                self.hmac_key,
                item.phone,
                item.name,
                path,
                item.mime,
                "DEMO" + secrets.token_hex(8).upper(),  # new each time: ids are de-duplicated
                filename=item.filename,
                caption=item.caption,
            )
        if status != 200:
            raise RuntimeError(f"the webhook answered {status}: {answer}")

    async def keep_sending(
        self, interval_s: float, say: Callable[[str], None], known: set[str]
    ) -> None:
        """Every `interval_s`, the next item of INCOMING (round and round)."""
        n = 0
        while True:
            await asyncio.sleep(interval_s)
            item = INCOMING[n % len(INCOMING)]
            n += 1
            new = "" if item.name in known else " (a new contact, a new folder)"
            known.add(item.name)
            say(f"incoming  {item.name} sent {item.what}: received into folder {item.name}{new}")
            try:
                await self.send(item)
            except (aiohttp.ClientError, OSError, RuntimeError) as exc:
                say(f"incoming  could not deliver it: {exc}")
