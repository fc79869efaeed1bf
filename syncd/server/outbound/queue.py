"""The send queue: sends persisted in `sent` (queued -> sending -> sent | failed), one at a time
per server, retried with backoff when the gateway is down or busy; a restart resumes them.
Every outcome stays readable in `GET /v1/sent`: nothing is dropped silently."""

from __future__ import annotations

import asyncio
import contextlib
import os
from dataclasses import dataclass

import aiohttp

from syncd.errors import ApiError, Unavailable
from syncd.log import get_logger
from syncd.server.db import now_ns
from syncd.server.ingest import hooks
from syncd.server.meta import Row
from syncd.server.outbound.gateways import Outgoing, SendFailed, send
from syncd.server.state import ServerState

log = get_logger(__name__)
MAX_IDLE_WAIT_S = 30.0
MAX_SEND_BYTES = 100 << 20  # WhatsApp's own limit for documents
DB_RETRY_S = 2.0  # the database is busy or unreachable: the queue looks again after this
# A send being made holds its row this long (next_ns = claim + lease): on a shared database a
# send whose instance was killed is made again by another once it ran out (at least once).
SEND_LEASE_NS = 600 * 1_000_000_000


@dataclass(frozen=True)
class SendSettings:
    """Tests shorten the delays with SYNCD_SEND_RETRY_DELAYS_S="0.05,0.1"."""

    retry_delays_s: tuple[float, ...] = (2.0, 10.0, 30.0, 120.0, 600.0)
    timeout_s: float = 120.0

    @classmethod
    def from_env(cls) -> SendSettings:
        delays = os.environ.get("SYNCD_SEND_RETRY_DELAYS_S")
        if not delays:
            return cls()
        return cls(retry_delays_s=tuple(float(d) for d in delays.split(",") if d.strip()))


class SendQueue:
    def __init__(self, state: ServerState, settings: SendSettings) -> None:
        self.state, self.settings = state, settings
        self._wake = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if not self.state.db.shared:  # a send cut by a stop is sent again (at least once)
            with self.state.db.tx() as conn:
                conn.execute(
                    "UPDATE sent SET state='queued', next_ns=? WHERE state='sending'", (now_ns(),)
                )
        self._runner = asyncio.create_task(self._run(), name="send-queue")

    async def stop(self) -> None:
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner

    def kick(self) -> None:
        self._wake.set()

    async def _run(self) -> None:
        timeout = aiohttp.ClientTimeout(total=self.settings.timeout_s, sock_connect=10)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while True:
                try:
                    row = self._claim_next()
                    if row is not None:
                        await self._attempt(session, row)
                        continue
                    idle_s = self._idle_s()
                except Unavailable:  # the database is back in a moment: keep the queue alive
                    log.warning("send_queue_paused", retry_s=DB_RETRY_S)
                    idle_s = DB_RETRY_S
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), idle_s)

    def _claim_next(self) -> Row | None:
        """The next due send (or one whose claim ran out: its instance was killed), claimed by
        compare-and-set on the row as read, so of several instances one sends it."""
        now = now_ns()
        row = self.state.db.one(
            "SELECT * FROM sent WHERE state IN ('queued', 'sending') AND next_ns<=?"
            " ORDER BY next_ns LIMIT 1",
            now,
        )
        if row is None:
            return None
        with self.state.db.tx() as conn:
            won = conn.execute(
                "UPDATE sent SET state='sending', next_ns=?, updated_ns=? WHERE id=? AND state=?"
                " AND next_ns=?",
                (now + SEND_LEASE_NS, now, row["id"], row["state"], row["next_ns"]),
            ).rowcount
        return row if won == 1 else None

    def _idle_s(self) -> float:
        row = self.state.db.one(
            "SELECT MIN(next_ns) AS n FROM sent WHERE state IN ('queued', 'sending')"
        )
        if row is None or row["n"] is None:
            return MAX_IDLE_WAIT_S
        return min(MAX_IDLE_WAIT_S, max(0.01, (int(row["n"]) - now_ns()) / 1e9))

    async def _attempt(self, session: aiohttp.ClientSession, row: Row) -> None:
        try:
            out, hook = await self._outgoing(row)
            message_id = await send(session, hook, out)
        except SendFailed as exc:
            self._failed(row, exc)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug must not stop the queue: record it, retry
            log.exception("send_crashed", send_id=row["id"])
            self._failed(row, SendFailed(f"internal error: {type(exc).__name__}", retry=True))
        else:
            self._update(row, "sent", gateway_message_id=message_id, error=None)
            log.info("send_finished", send_id=row["id"], hook=hooks.short(row["hook_id"]))

    async def _outgoing(self, row: Row) -> tuple[Outgoing, hooks.Hook]:
        hook = hooks.get_hook(self.state.db, row["hook_id"])
        if hook is None:
            raise SendFailed("the hook was removed", retry=False)
        file = self.state.db.one(
            "SELECT * FROM files WHERE id=? AND user_id=?", row["file_id"], row["user_id"]
        )
        if file is None:
            raise SendFailed("the file was deleted before it was sent", retry=False)
        if file["size"] > MAX_SEND_BYTES:
            raise SendFailed("the file is larger than WhatsApp's 100 MiB", retry=False)
        try:
            async with self.state.blobs.read(file["sha256"], 0, file["size"]) as chunks:
                data = b"".join([chunk async for chunk in chunks])
        except ApiError as exc:  # the blob store is unreachable: later
            raise SendFailed(f"the file cannot be read now: {exc}", retry=exc.retryable) from exc
        except OSError as exc:
            raise SendFailed(f"the file's content cannot be read: {exc}", retry=False) from exc
        out = Outgoing(
            row["to_phone"], file["name"], file["mime"], file["kind"], row["caption"], data
        )
        return out, hook

    def _failed(self, row: Row, exc: SendFailed) -> None:
        attempts = int(row["attempts"]) + 1
        delays = self.settings.retry_delays_s
        if exc.retry and attempts <= len(delays):
            next_ns = now_ns() + int(delays[attempts - 1] * 1e9)
            self._update(row, "queued", error=exc.reason, next_ns=next_ns, status=exc.status)
            log.info("send_retrying", send_id=row["id"], attempts=attempts, reason=exc.reason)
            return
        self._update(row, "failed", error=exc.reason, status=exc.status)
        log.warning("send_failed", send_id=row["id"], attempts=attempts, reason=exc.reason)

    def _update(self, row: Row, state: str, **fields: object) -> None:
        counted = state != "sending"
        with self.state.db.tx() as conn:
            conn.execute(
                "UPDATE sent SET state=?, attempts=attempts+?, updated_ns=?,"
                " next_ns=COALESCE(?, next_ns),"
                " error=CASE WHEN ?='sent' THEN NULL ELSE COALESCE(?, error) END,"
                " gateway_status=COALESCE(?, gateway_status),"
                " gateway_message_id=COALESCE(?, gateway_message_id) WHERE id=?",
                (
                    state,
                    1 if counted else 0,
                    now_ns(),
                    fields.get("next_ns"),
                    state,
                    fields.get("error"),
                    fields.get("status"),
                    fields.get("gateway_message_id"),
                    row["id"],
                ),
            )
