"""Raw HTTP/1.1 over a plain socket, for tests that need what an HTTP client library hides:
half-sent headers, stalled bodies, `Expect: 100-continue`, malformed framing, interim
answers. `Conn(url)` connects to the host and port of a server URL."""

from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


@dataclass
class Answer:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def code(self) -> str | None:
        return str(self.json["error"]["code"]) if self.status >= 400 else None


class Conn:
    """One TCP connection to the server of `url`."""

    def __init__(self, url: str, timeout_s: float = 10.0) -> None:
        parts = urlsplit(url)
        assert parts.hostname and parts.port
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=timeout_s)
        self.buffer = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def request_head(self, method: str, path: str, headers: dict[str, str]) -> None:
        """Send a request line and headers (the body, if any, is up to the caller)."""
        lines = [
            f"{method} {path} HTTP/1.1",
            "Host: test",
            *(f"{k}: {v}" for k, v in headers.items()),
        ]
        self.send(("\r\n".join(lines) + "\r\n\r\n").encode())

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed by the server")
        self.buffer += chunk

    def read_answer(self) -> Answer:
        """The next answer (interim 1xx answers included), body read by Content-Length."""
        while b"\r\n\r\n" not in self.buffer:
            self._fill()
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        while len(self.buffer) < length:
            self._fill()
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return Answer(int(status_line.split()[1]), headers, body)

    def closed_within(self, seconds: float) -> bool:
        """True when the server closes (or resets) the connection within `seconds`;
        any bytes it sends meanwhile are kept in the buffer."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                self._fill()
            except TimeoutError:
                continue
            except OSError:  # ConnectionError included: closed or reset
                return True
        return False

    def close(self) -> None:
        self.sock.close()
