"""Desktop notifications through `notify-send` for things the user must act on (files waiting
for quota, held deletes, actions that keep failing), rate-limited per kind; a silent no-op
where notify-send is absent."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable, Sequence

from syncd.log import get_logger
from syncd.units import human_bytes, plural

Runner = Callable[[Sequence[str]], object]
Clock = Callable[[], float]

log = get_logger(__name__)


def _spawn(argv: Sequence[str]) -> object:
    # Fire and forget: a notification must never block the sync loop.
    return subprocess.Popen(
        list(argv),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


class DesktopNotifier:
    """At most one notification per kind every min_interval_s. The clock, the runner (spawns
    argv) and `which` (finds notify-send) are injectable for tests."""

    def __init__(
        self,
        min_interval_s: float = 300.0,
        *,
        enabled: bool = True,
        clock: Clock = time.monotonic,
        runner: Runner | None = None,
        which: Callable[[str], str | None] = shutil.which,
    ) -> None:
        self.min_interval_s = min_interval_s
        self._clock = clock
        self._runner = runner or _spawn
        self._executable = which("notify-send") if enabled else None
        self._last_sent: dict[str, float] = {}

    @property
    def available(self) -> bool:
        return self._executable is not None

    def notify(self, kind: str, title: str, body: str, urgency: str = "normal") -> bool:
        """Send unless a notification of this kind went out less than min_interval_s ago."""
        if self._executable is None:
            return False
        now = self._clock()
        last = self._last_sent.get(kind)
        if last is not None and now - last < self.min_interval_s:
            return False
        argv = [self._executable, "--app-name=syncd", f"--urgency={urgency}", title, body]
        try:
            self._runner(argv)
        except OSError as exc:
            log.warning("notification_failed", kind=kind, error=str(exc))
            return False
        self._last_sent[kind] = now
        return True

    def over_quota(self, path: str, needed_bytes: int, free_bytes: int) -> bool:
        return self.notify(
            "over_quota",
            "syncd: file waiting for space",
            f"{path} needs {human_bytes(needed_bytes)}, {human_bytes(free_bytes)} free. "
            "Free space in the library; it will upload then.",
        )

    def held_deletes(self, count: int, side: str = "remote") -> bool:
        what = (
            f"{plural(count, 'file')} deleted locally were not deleted on the server."
            if side == "remote"
            else f"{plural(count, 'file')} gone from the server were not moved to your Trash."
        )
        return self.notify(
            f"held_deletes_{side}",
            f"syncd: {plural(count, 'delete')} held",
            f"{what} Run `syncd approve` to delete them or `syncd restore` to keep them.",
            urgency="critical",
        )

    def attention(self, count: int, first_reason: str) -> bool:
        return self.notify(
            "attention",
            f"syncd: {count} {'item' if count == 1 else 'items'} not synced",
            f"{first_reason}. Run `syncd status` for the list.",
            urgency="critical",
        )
