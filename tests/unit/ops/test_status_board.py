"""The status board's snapshot is JSON-able, complete, and keeps only the last 20 errors."""

import json
from pathlib import Path

import pytest

from syncd.status_render import render_plain
from syncd.sync.sdnotify import Watchdog
from syncd.sync.status import MAX_ERRORS, StatusBoard
from syncd.units import human_bytes


def _busy_board() -> StatusBoard:
    board = StatusBoard(name="demo", mode="mirror")
    board.set_state("syncing")
    board.set_usage(150_000_000, 200_000_000)
    board.set_queue(uploads=2, downloads=0)
    board.transfer_started("Alice/clip.mp4", "up", 10_000_000)
    board.transfer_progress("Alice/clip.mp4", 2_500_000)
    board.set_waiting("Bob/big.mov", 12_400_000, 3_100_000)
    board.set_held_deletes(remote=["Carol/a.jpg", "Carol/b.jpg"], local=["Dan/c.pdf"])
    board.set_not_synced("Alice/sub", "nested folders are not part of the library")
    for i in range(MAX_ERRORS + 5):
        board.add_error(f"Alice/{i}.jpg", "name refused", at=1000.0 + i)
    return board


def test_snapshot_is_json_and_complete() -> None:
    snap = json.loads(json.dumps(_busy_board().snapshot()))
    assert snap["state"] == "syncing"
    assert snap["usage"] == {"used_bytes": 150_000_000, "limit_bytes": 200_000_000}
    assert snap["queue"] == {"uploads": 2, "downloads": 0}
    assert snap["transfers"][0]["bytes_done"] == 2_500_000
    assert snap["transfers"][0]["direction"] == "up"
    assert snap["waiting"] == [
        {"path": "Bob/big.mov", "needed_bytes": 12_400_000, "free_bytes": 3_100_000}
    ]
    assert snap["held_deletes"] == {
        "count": 3,
        "paths": ["Carol/a.jpg", "Carol/b.jpg", "Dan/c.pdf"],
        "side": "both",
        "remote": 2,
        "local": 1,
    }
    assert len(snap["errors"]) == MAX_ERRORS
    assert snap["errors"][0]["path"] == "Alice/5.jpg"  # the oldest five were dropped
    assert snap["not_synced"][0]["path"] == "Alice/sub"


def test_finished_transfer_and_cleared_waiting_disappear() -> None:
    board = _busy_board()
    board.transfer_finished("Alice/clip.mp4")
    board.clear_waiting("Bob/big.mov")
    snap = board.snapshot()
    assert snap["transfers"] == [] and snap["waiting"] == []


def test_unknown_state_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown state"):
        StatusBoard().set_state("sleeping")  # type: ignore[arg-type]


def test_plain_render_reads_well() -> None:
    text = render_plain(_busy_board().snapshot())
    assert "syncing" in text
    assert "usage: 143.1 MiB of 190.7 MiB (75%)" in text
    assert "up Alice/clip.mp4: 2.4 MiB of 9.5 MiB (25%)" in text
    assert "waiting: over quota: Bob/big.mov (needs 11.8 MiB, 3.0 MiB free)" in text
    assert "held deletes: 3 (2 on the server, 1 local to Trash;" in text
    assert "name refused" in text
    assert human_bytes(999) == "999 B"


def test_watchdog_interval_is_half_of_watchdog_usec() -> None:
    import os

    assert Watchdog.from_env({"WATCHDOG_USEC": "60000000"}).interval_s == 30.0
    mine = {"WATCHDOG_USEC": "10000000", "WATCHDOG_PID": str(os.getpid())}
    assert Watchdog.from_env(mine).interval_s == 5.0
    assert not Watchdog.from_env({"WATCHDOG_USEC": "10000000", "WATCHDOG_PID": "1"}).enabled
    assert not Watchdog.from_env({}).enabled
    assert not Watchdog.from_env({"WATCHDOG_USEC": "junk"}).enabled


def test_attention_state_reads_well_in_both_renderings() -> None:
    from io import StringIO

    from rich.console import Console

    from syncd.status_render import STATE_STYLE, render_rich
    from syncd.sync.report import attention_reason

    failed = [
        ("Alice/a.mp4", "No space left on device"),
        ("Alice/b.mp4", "No space left on device"),
        ("Bob/c.mp4", "forbidden: no"),
    ]
    reason = attention_reason(failed)
    assert reason == (
        "3 items keep failing: Alice/a.mp4: No space left on device; "
        "Alice/b.mp4: No space left on device; ..."
    )
    assert attention_reason(failed[:1]).startswith("1 item keeps failing: Alice/a.mp4")
    board = StatusBoard(root=Path("/media/backup"))
    board.set_state("attention", reason)
    board.set_stored_as([("Shop/a:b.jpg", "stored as 'a_b.jpg': the name holds ...")])
    snap = json.loads(json.dumps(board.snapshot()))
    assert snap["stored_as"] == [
        {"path": "Shop/a:b.jpg", "reason": "stored as 'a_b.jpg': the name holds ..."}
    ]
    text = render_plain(snap)
    assert "attention: 3 items keep failing" in text
    assert "renamed on this disk: Shop/a:b.jpg: stored as 'a_b.jpg'" in text
    out = StringIO()
    render_rich(snap, Console(file=out, force_terminal=True, width=120))
    assert STATE_STYLE["attention"] not in (STATE_STYLE["idle"], STATE_STYLE["error"])
    assert "\x1b[" in out.getvalue() and "renamed on this disk" in out.getvalue()
