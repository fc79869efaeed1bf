"""Loopback TCP proxy the tests control, for fault injection between daemon and server:
refuse new connections, reset live ones, stall, throttle bytes per second, or cut each
connection after so many bytes towards the client."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import threading
from dataclasses import dataclass


@dataclass
class ProxyState:
    down: bool = False  # refuse (close at once) new connections
    stall: bool = False  # accept, but pass no bytes
    rate_bytes_per_s: int | None = None
    cut_down_after: int | None = None  # reset a connection once it sent this many bytes down


class FaultProxy:
    """Runs in its own thread with its own loop so a daemon subprocess can use it while the
    test code stays synchronous or runs its own loop."""

    def __init__(
        self, target_host: str, target_port: int, tls: ssl.SSLContext | None = None
    ) -> None:
        self.target = (target_host, target_port)
        self.tls = tls  # given: clients speak TLS to the proxy (the server behind is plain)
        self.state = ProxyState()
        self.port = 0
        self.connections_total = 0
        self._loop = asyncio.new_event_loop()
        self._writers: set[asyncio.StreamWriter] = set()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._server: asyncio.base_events.Server | None = None

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def start(self) -> FaultProxy:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("proxy did not start")
        return self

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=self.tls)
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections_total += 1
        if self.state.down:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, up_writer))
        await asyncio.gather(
            self._pipe(reader, up_writer),
            self._pipe(up_reader, writer, down=True),
            return_exceptions=True,
        )
        for w in (writer, up_writer):
            self._writers.discard(w)
            w.transport.abort()

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, down: bool = False
    ) -> None:
        sent = 0
        while True:
            while self.state.stall:
                await asyncio.sleep(0.05)
            rate = self.state.rate_bytes_per_s
            chunk = await reader.read(65536 if rate is None else max(1024, min(65536, rate // 20)))
            if not chunk:
                with contextlib.suppress(OSError, NotImplementedError):  # TLS: no half-close
                    writer.write_eof()
                return
            if self.state.rate_bytes_per_s:
                await asyncio.sleep(len(chunk) / self.state.rate_bytes_per_s)
            cut = self.state.cut_down_after if down else None
            if cut is not None and sent + len(chunk) >= cut:
                writer.write(chunk[: cut - sent])
                await writer.drain()
                writer.transport.abort()
                return
            sent += len(chunk)
            writer.write(chunk)
            await writer.drain()

    def _call(self, fn: object) -> None:
        done = threading.Event()

        def run() -> None:
            fn()  # type: ignore[operator]
            done.set()

        self._loop.call_soon_threadsafe(run)
        done.wait(5)

    def retarget(self, port: int) -> None:
        """New connections go to another port (the server restarted on a new free port)."""
        self.target = (self.target[0], port)

    def set_down(self, down: bool = True) -> None:
        """Down: refuse new connections and reset the live ones (server unreachable)."""
        self.state.down = down
        if down:
            self.reset_all()

    def reset_all(self) -> None:
        def reset() -> None:
            for w in list(self._writers):
                w.transport.abort()
            self._writers.clear()

        self._call(reset)

    def stop(self) -> None:
        async def shutdown() -> None:
            if self._server is not None:
                self._server.close()
            for w in list(self._writers):
                w.transport.abort()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._loop.stop()

        self._loop.call_soon_threadsafe(lambda: self._loop.create_task(shutdown()))
        self._thread.join(5)
        if not self._thread.is_alive():
            self._loop.close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()
