"""Recent daemon events (downloaded, uploaded, moved to Trash, waiting for quota, held, failed,
offline...) in a bounded ring buffer with sequence numbers, and their one-line wording. Shared
by the status socket, `syncd activity`, `syncd status --watch` and the demo terminal."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any

from syncd.sync import model as m
from syncd.units import human_bytes, plural

MAX_EVENTS = 200
TROUBLE = ("offline", "error", "stopped")


@dataclass(frozen=True)
class Event:
    seq: int
    at: float
    kind: str  # downloaded uploaded trashed deleted renamed conflict folder waiting held ...
    path: str
    size: int | None = None
    detail: str = ""


def _file_event(action: m.Action) -> tuple[str, str, int | None, str] | None:
    if isinstance(action, m.Download):
        return "downloaded", str(action.remote.path), action.remote.size, ""
    if isinstance(action, m.Upload):
        return "uploaded", str(action.local.path), action.local.size, ""
    if isinstance(action, m.DeleteLocal):
        return "trashed", str(action.local.path), None, "deleted on the server"
    if isinstance(action, m.DeleteRemote):
        return "deleted", str(action.base.path), None, "deleted here"
    if isinstance(action, m.RenameLocal | m.RenameRemote):
        return "renamed", str(action.local.path), None, ""
    if isinstance(action, m.KeepBoth):
        return "conflict", str(action.local.path), None, f"kept yours as {action.conflict_name}"
    return None


def _folder_event(action: m.Action) -> tuple[str, str, int | None, str] | None:
    if isinstance(action, m.MakeLocalFolder):
        return "folder", action.remote.name, None, "new folder from the server"
    if isinstance(action, m.MakeRemoteFolder):
        return "folder", action.local.name, None, "new folder sent to the server"
    if isinstance(action, m.DeleteLocalFolder):
        return "trashed", action.name, None, "folder deleted on the server"
    if isinstance(action, m.DeleteRemoteFolder):
        return "deleted", action.base.name, None, "folder deleted here"
    if isinstance(action, m.RenameLocalFolder | m.RenameRemoteFolder):
        return "renamed", action.base.name, None, "folder renamed"
    return None


def action_event(action: m.Action) -> tuple[str, str, int | None, str] | None:
    """(kind, path, size, detail) of an executed action worth telling a person about; None
    for bookkeeping (RecordBase, ForgetBase, RecordFolder, ForgetFolder)."""
    return _file_event(action) or _folder_event(action)


class ActivityLog:
    """Thread-safe ring buffer. Sequence numbers only grow, so a follower asks for what came
    after the last one it saw and never misses or repeats an event still in the buffer."""

    def __init__(self, max_events: int = MAX_EVENTS) -> None:
        self._lock = threading.Lock()
        self._events: deque[Event] = deque(maxlen=max_events)
        self._seq = 0
        self._waiting: set[str] = set()
        self._held: tuple[int, int] = (0, 0)

    def record(self, kind: str, path: str, size: int | None = None, detail: str = "") -> Event:
        with self._lock:
            self._seq += 1
            event = Event(self._seq, time.time(), kind, path, size, detail)
            self._events.append(event)
            return event

    def action_done(self, action: m.Action) -> None:
        described = action_event(action)
        if described is not None:
            self.record(*described)

    def waiting_now(self, waiting: list[tuple[str, int, int]]) -> None:
        """The files a pass kept back for quota: (path, needed, free). Only newcomers are
        events; the same file waiting pass after pass is said once."""
        with self._lock:
            new = [w for w in waiting if w[0] not in self._waiting]
            self._waiting = {w[0] for w in waiting}
        for path, needed, free in new:
            detail = f"needs {human_bytes(needed)}, {human_bytes(free)} free"
            self.record("waiting", path, needed, detail)

    def held_now(self, remote: int, local: int) -> None:
        """The held big delete (counts per side); an event when it appears or changes."""
        with self._lock:
            changed, self._held = (remote, local) != self._held, (remote, local)
        if changed and remote + local:
            sides = [f"{remote} on the server"] * bool(remote) + [f"{local} here"] * bool(local)
            detail = ", ".join(sides) + ": run `syncd approve` or `syncd restore`"
            self.record("held", plural(remote + local, "delete"), None, detail)

    def state_changed(self, old: str, new: str, reason: str) -> None:
        """Trouble and recovery are events; the idle/syncing churn of every pass is not."""
        if new == old or {old, new} == {"idle", "syncing"}:
            return
        if new in TROUBLE or new == "paused":
            self.record("state", new, None, reason)
        elif old in TROUBLE or old in ("connecting", "paused"):
            self.record("state", "connected" if old != "paused" else "resumed", None, "")

    def since(self, after_seq: int = 0) -> list[dict[str, Any]]:
        with self._lock:
            return [asdict(e) for e in self._events if e.seq > after_seq]

    def recent(self, count: int) -> list[dict[str, Any]]:
        with self._lock:
            return [asdict(e) for e in list(self._events)[-count:]] if count else []


VERB = {
    "downloaded": "downloaded",
    "uploaded": "uploaded",
    "trashed": "moved to Trash",
    "deleted": "deleted on the server",
    "renamed": "renamed",
    "conflict": "conflict",
    "folder": "folder",
    "waiting": "waiting for quota",
    "held": "held",
    "failed": "not synced",
    "state": "daemon",
}


def describe(event: dict[str, Any], *, clock: bool = True) -> str:
    """One line a person reads: `14:03:07  downloaded  Alice Martin/IMG.jpg (43.1 KiB)`."""
    size = f" ({human_bytes(event['size'])})" if event.get("size") is not None else ""
    detail = f": {event['detail']}" if event.get("detail") else ""
    verb = VERB.get(event["kind"], event["kind"])
    text = f"{verb}  {event['path']}{size}{detail}"
    if not clock:
        return text
    return time.strftime("%H:%M:%S", time.localtime(event["at"])) + "  " + text
