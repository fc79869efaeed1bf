"""Live daemon status: the in-memory StatusBoard the engine mutates, the Unix-socket JSON server
that answers `syncd status`/`pause`/`resume`, and the small blocking client the CLI uses."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from syncd import __version__
from syncd.activity import ActivityLog
from syncd.config import Settings, default_config_path
from syncd.errors import LocalError
from syncd.log import get_logger
from syncd.sync.status_client import answers, socket_path_for

# "connecting": started, no answer from the server yet (not "idle": nothing was synced).
# "attention": nothing more to do by itself, but some actions keep failing (see `errors`).
State = Literal[
    "connecting", "idle", "syncing", "paused", "offline", "stopped", "error", "attention"
]
STATES: tuple[str, ...] = (
    "connecting",
    "idle",
    "syncing",
    "paused",
    "offline",
    "stopped",
    "error",
    "attention",
)
COMMANDS = ("status", "pause", "resume", "approve", "restore")
MAX_ERRORS = 20
ACTIVITY_IN_STATUS = 10  # the newest events in a status snapshot; `activity` serves them all
MAX_REQUEST_BYTES = 64 * 1024

log = get_logger(__name__)

# ---------------------------------------------------------------- socket location


def socket_path_for_settings(settings: Settings) -> Path:
    """The daemon's socket: [status] socket if set, else derived from the config file path
    (the default config path when the settings came from defaults/env only)."""
    return settings.status.socket or socket_path_for(settings.config_path or default_config_path())


# ---------------------------------------------------------------- the board


@dataclass
class Transfer:
    path: str
    direction: str  # "up" | "down"
    bytes_total: int
    bytes_done: int = 0
    started_at: float = field(default_factory=time.time)


@dataclass(frozen=True)
class WaitingFile:
    path: str
    needed_bytes: int
    free_bytes: int


@dataclass(frozen=True)
class ErrorEntry:
    at: float
    path: str
    reason: str


class StatusBoard:
    """Everything `syncd status` shows. The engine mutates it; snapshot() is JSON-able.
    A lock makes it safe to update from the watcher thread as well as the event loop."""

    def __init__(
        self,
        *,
        name: str = "",
        config_path: Path | None = None,
        root: Path | None = None,
        mode: str = "mirror",
    ) -> None:
        self._lock = threading.Lock()
        self.info: dict[str, Any] = {
            "name": name,
            "config_path": str(config_path) if config_path else None,
            "root": str(root) if root else None,
            "mode": mode,
            "pid": os.getpid(),
            "version": __version__,
            "started_at": time.time(),
        }
        self.state: State = "connecting"
        self.reason = ""
        self.used_bytes: int | None = None
        self.limit_bytes: int | None = None
        self.queue: dict[str, int] = {}
        self.transfers: dict[str, Transfer] = {}
        self.waiting: dict[str, WaitingFile] = {}
        self.held_deletes: dict[str, list[str]] = {"remote": [], "local": []}
        self.not_synced: dict[str, str] = {}
        self.stored_as: dict[str, str] = {}  # remote path -> why it has another disk name
        self.errors: deque[ErrorEntry] = deque(maxlen=MAX_ERRORS)
        self.last_sync_at: float | None = None
        self.audit_missed = 0  # changes only the periodic audit found (each one is a bug)
        self.activity = ActivityLog()

    def set_state(self, state: State, reason: str = "") -> None:
        if state not in STATES:
            raise ValueError(f"unknown state {state!r}")
        with self._lock:
            old, self.state, self.reason = self.state, state, reason
        self.activity.state_changed(old, state, reason)

    def set_usage(self, used_bytes: int, limit_bytes: int | None) -> None:
        with self._lock:
            self.used_bytes, self.limit_bytes = used_bytes, limit_bytes

    def set_queue(self, **lengths: int) -> None:
        """e.g. set_queue(uploads=3, downloads=0, deletes=1, rescans=2)."""
        with self._lock:
            self.queue.update(lengths)

    def transfer_started(self, path: str, direction: str, total_bytes: int) -> None:
        """direction: "up" or "down" (matches syncd.sync.executor.Reporter)."""
        with self._lock:
            self.transfers[path] = Transfer(path, direction, total_bytes)

    def transfer_progress(self, path: str, done_bytes: int) -> None:
        with self._lock:
            if path in self.transfers:
                self.transfers[path].bytes_done = done_bytes

    def transfer_finished(self, path: str) -> None:
        with self._lock:
            self.transfers.pop(path, None)

    def set_waiting(self, path: str, needed_bytes: int, free_bytes: int) -> None:
        """A file kept local because it does not fit the quota (DESIGN §4 quota before push)."""
        with self._lock:
            self.waiting[path] = WaitingFile(path, needed_bytes, free_bytes)

    def clear_waiting(self, path: str | None = None) -> None:
        with self._lock:
            if path is None:
                self.waiting.clear()
            else:
                self.waiting.pop(path, None)

    def set_held_deletes(self, *, remote: list[str], local: list[str]) -> None:
        """Held deletes per side: files the server would lose (remote) or that would go to
        the local Trash (local)."""
        with self._lock:
            self.held_deletes = {"remote": list(remote), "local": list(local)}
        self.activity.held_now(len(remote), len(local))

    def set_not_synced(self, path: str, reason: str) -> None:
        with self._lock:
            self.not_synced[path] = reason

    def clear_not_synced(self, path: str | None = None) -> None:
        with self._lock:
            if path is None:
                self.not_synced.clear()
            else:
                self.not_synced.pop(path, None)

    def set_stored_as(self, entries: list[tuple[str, str]]) -> None:
        """Files and folders kept under another name on this disk (exFAT/FAT/NTFS roots)."""
        with self._lock:
            self.stored_as = dict(entries)

    def add_error(self, path: str, reason: str, at: float | None = None) -> None:
        with self._lock:
            self.errors.append(ErrorEntry(time.time() if at is None else at, path, reason))
        self.activity.record("failed", path, None, reason)

    def set_audit_missed(self, count: int) -> None:
        with self._lock:
            self.audit_missed = count

    def synced(self, at: float | None = None) -> None:
        with self._lock:
            self.last_sync_at = time.time() if at is None else at

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                **self.info,
                "state": self.state,
                "reason": self.reason,
                "usage": {"used_bytes": self.used_bytes, "limit_bytes": self.limit_bytes},
                "queue": dict(self.queue),
                "transfers": [asdict(t) for t in self.transfers.values()],
                "waiting": [asdict(w) for w in self.waiting.values()],
                "held_deletes": _held_snapshot(self.held_deletes),
                "not_synced": [{"path": p, "reason": r} for p, r in self.not_synced.items()],
                "stored_as": [{"path": p, "reason": r} for p, r in self.stored_as.items()],
                "errors": [asdict(e) for e in self.errors],
                "last_sync_at": self.last_sync_at,
                "audit_missed": self.audit_missed,
                "activity": self.activity.recent(ACTIVITY_IN_STATUS),
                "now": time.time(),
            }


def _held_snapshot(held: dict[str, list[str]]) -> dict[str, Any]:
    """count and paths (both sides), the side ("remote", "local", "both" or None) and the
    count per side."""
    sides = [side for side in ("remote", "local") if held[side]]
    return {
        "count": len(held["remote"]) + len(held["local"]),
        "paths": held["remote"] + held["local"],
        "side": None if not sides else sides[0] if len(sides) == 1 else "both",
        "remote": len(held["remote"]),
        "local": len(held["local"]),
    }


# ---------------------------------------------------------------- server

CommandHandler = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]


class StatusServer:
    """Line-delimited JSON over a 0600 Unix socket: {"cmd": ...} -> {"ok": bool, ...}.
    `status` is answered from the board; other commands go to the engine's on_command."""

    def __init__(
        self, board: StatusBoard, socket_path: Path, on_command: CommandHandler | None = None
    ) -> None:
        self.board = board
        self.socket_path = socket_path
        self.on_command = on_command
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        parent = self.socket_path.parent
        parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if parent.stat().st_uid != os.getuid():
            # e.g. /tmp/syncd-<uid> pre-created by someone else: never serve from there.
            raise LocalError(f"{parent} belongs to another user; refusing to open the socket")
        if self.socket_path.exists() or self.socket_path.is_symlink():
            if await asyncio.to_thread(answers, self.socket_path):
                raise LocalError(
                    f"another syncd daemon is already answering on {self.socket_path} "
                    "(same config file?)"
                )
            self.socket_path.unlink()  # stale: left by a daemon that was killed
        self._server = await asyncio.start_unix_server(
            self._serve_client, path=str(self.socket_path), limit=MAX_REQUEST_BYTES
        )
        os.chmod(self.socket_path, 0o600)
        log.info("status_socket_opened", path=str(self.socket_path))

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
            with contextlib.suppress(FileNotFoundError):
                self.socket_path.unlink()

    async def __aenter__(self) -> StatusServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def _serve_client(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            while line := await reader.readline():
                answer = await self.handle(line)
                writer.write(json.dumps(answer).encode() + b"\n")
                await writer.drain()
        except (ConnectionError, asyncio.LimitOverrunError, ValueError):
            pass  # client went away or sent an oversized line: nothing to answer
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def handle(self, line: bytes) -> dict[str, Any]:
        """Answer one request line (public so the engine can reuse it in tests)."""
        try:
            request = json.loads(line)
            cmd = request["cmd"]
        except (ValueError, TypeError, KeyError):
            return {"ok": False, "error": 'bad request: expected {"cmd": "..."}'}
        if cmd == "status":
            return {"ok": True, "status": self.board.snapshot()}
        if cmd == "activity":  # events after seq `after` (0: all still kept)
            after = request.get("after", 0)
            after = after if isinstance(after, int) and not isinstance(after, bool) else 0
            return {"ok": True, "events": self.board.activity.since(after)}
        if cmd not in COMMANDS:
            return {"ok": False, "error": f"unknown command {cmd!r}"}
        if self.on_command is None:
            return {"ok": False, "error": f"{cmd}: not supported by this daemon"}
        try:
            result = await self.on_command(cmd, request)
        except Exception as exc:  # the daemon must survive a failing command
            log.warning("status_command_failed", cmd=cmd, error=str(exc))
            return {"ok": False, "error": f"{cmd}: {exc}"}
        return {"ok": True, **result}
