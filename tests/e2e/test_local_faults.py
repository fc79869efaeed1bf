"""An unexpected fault inside a pass or the feed follower (here: the state database's disk is
full while files arrive) never kills the daemon: it says `error` with the reason, retries with
a back-off, and catches up by itself once there is room again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.e2e.campaign_tools import alive, fast_status, spawn, wait_converged
from tests.support.daemon import wait_until
from tests.support.mounts import fill_disk, mounted_tmpfs
from tests.support.server import Api


def _error_state(daemon: Any) -> dict[str, Any] | None:
    status = fast_status(daemon)
    return status if status and status.get("state") == "error" else None


def test_state_db_on_a_full_disk_is_an_error_not_a_crash(
    api: Api, root: Path, tmp_path: Path, make_daemon: Any
) -> None:
    state_disk = tmp_path / "state-disk"
    with mounted_tmpfs(state_disk, "20m"):
        folder = api.create_folder("Faults")
        api.upload(folder["id"], "first.jpg", b"first")
        daemon = make_daemon(settle_s=0.2, extra_sync=f'state_dir = "{state_disk}"')
        spawn(daemon)
        wait_converged(daemon, api, root, timeout_s=30)
        filler = fill_disk(state_disk)
        for i in range(3):
            api.upload(folder["id"], f"later-{i}.jpg", b"%d" % i)
        status = wait_until(lambda: _error_state(daemon), 30, 0.1, "state error")
        assert "unexpected error" in status["reason"], status
        assert "full" in status["reason"].lower(), status
        (root / "Faults" / "local.jpg").write_bytes(b"local")  # a pass uploads, then fails
        wait_until(lambda: _events(daemon, "pass_failed"), 30, 0.2, "a failed pass")
        assert alive(daemon) and _events(daemon, "feed_follow_failed")
        filler.unlink()
        final = wait_converged(daemon, api, root, timeout_s=90)
        later = [f"Faults/later-{i}.jpg" for i in range(3)]
        assert sorted(final) == ["Faults/first.jpg", *later, "Faults/local.jpg"]
        assert alive(daemon)


def _events(daemon: Any, name: str) -> list[dict[str, Any]]:
    return [e for e in daemon.log_events() if e.get("event") == name]
