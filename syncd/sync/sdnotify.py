"""systemd sd_notify protocol in pure stdlib: READY/STATUS/WATCHDOG/STOPPING datagrams to
$NOTIFY_SOCKET, and the watchdog ping interval derived from $WATCHDOG_USEC."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass


def _address(raw: str) -> str | bytes:
    # "@name" is a Linux abstract socket: the kernel wants a leading NUL byte instead.
    if raw.startswith("@"):
        return b"\0" + raw[1:].encode()
    return raw


def notify(message: str, env: Mapping[str, str] | None = None) -> bool:
    """Send one sd_notify datagram; False when not under systemd or the send failed.

    Never raises: a daemon must keep running when the service manager cannot be told."""
    raw = (env if env is not None else os.environ).get("NOTIFY_SOCKET", "")
    if not raw.startswith(("/", "@")):
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(_address(raw))
            sock.sendall(message.encode("utf-8"))
    except OSError:
        return False
    return True


def ready(status_text: str | None = None) -> bool:
    """Tell systemd start-up finished (Type=notify)."""
    text = "READY=1" if status_text is None else f"READY=1\nSTATUS={_one_line(status_text)}"
    return notify(text)


def status(text: str) -> bool:
    """One-line status shown by `systemctl --user status syncd`."""
    return notify(f"STATUS={_one_line(text)}")


def watchdog() -> bool:
    """Keep-alive ping; systemd restarts the unit if these stop for WatchdogSec."""
    return notify("WATCHDOG=1")


def stopping() -> bool:
    return notify("STOPPING=1")


def _one_line(text: str) -> str:
    return " ".join(text.split())


@dataclass(frozen=True)
class Watchdog:
    """Ping schedule from the service manager: every half of WATCHDOG_USEC, as sd_watchdog_enabled
    recommends. `interval_s` is None when no watchdog is requested for this process."""

    interval_s: float | None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Watchdog:
        env = env if env is not None else os.environ
        try:
            usec = int(env.get("WATCHDOG_USEC", ""))
        except ValueError:
            return cls(None)
        pid = env.get("WATCHDOG_PID")
        # WATCHDOG_PID names the process the watchdog is meant for; a child must not ping.
        if usec <= 0 or (pid is not None and pid.strip() != str(os.getpid())):
            return cls(None)
        return cls(usec / 1_000_000 / 2)

    @property
    def enabled(self) -> bool:
        return self.interval_s is not None

    def ping(self) -> bool:
        return watchdog() if self.enabled else False

    async def run(self) -> None:
        """Ping forever from the event loop (cancel the task to stop). Because it runs on the
        loop, a stuck loop stops the pings and systemd restarts the daemon."""
        if self.interval_s is None:
            return
        while True:
            self.ping()
            await asyncio.sleep(self.interval_s)
