"""Activity events, their wording, IEC units and plurals, and the held-deletes summary of
`syncd status` (a held delete of 60 files shows 10 paths and "and 50 more")."""

from syncd.activity import ActivityLog, action_event, describe
from syncd.status_render import render_plain
from syncd.sync import model as m
from syncd.sync.status import StatusBoard
from syncd.units import human_bytes, plural


def test_iec_units_and_plurals() -> None:
    assert human_bytes(None) == "?"
    assert human_bytes(1023) == "1023 B"
    assert human_bytes(200 << 20) == "200.0 MiB"  # the demo's quota, no longer "209.7 MB"
    assert human_bytes(5 << 30) == "5.0 GiB"  # --quota 5GiB, no longer "5.4 GB"
    assert plural(1, "file") == "1 file"
    assert plural(0, "file") == "0 files"
    assert plural(2, "file waiting", "files waiting") == "2 files waiting"


def _remote(name: str, size: int = 2048) -> m.RemoteFile:
    return m.RemoteFile(m.RelPath("Alice Martin", name), "f1", "d1", size, "0" * 64, 0, 1)


def test_actions_become_events_and_bookkeeping_does_not() -> None:
    download = m.Download(remote=_remote("IMG.jpg"), replaces=None)
    assert action_event(download) == ("downloaded", "Alice Martin/IMG.jpg", 2048, "")
    assert action_event(m.ForgetBase(path=m.RelPath("A", "b"))) is None
    log = ActivityLog(max_events=3)
    for _ in range(5):
        log.action_done(download)
    events = log.since(0)
    assert [e["seq"] for e in events] == [3, 4, 5]  # a ring: the oldest fell out
    assert log.since(4) == events[-1:]
    assert describe(events[0], clock=False) == "downloaded  Alice Martin/IMG.jpg (2.0 KiB)"


def test_waiting_and_held_are_said_once_until_they_change() -> None:
    log = ActivityLog()
    log.waiting_now([("Bob/big.mov", 12 << 20, 3 << 20)])
    log.waiting_now([("Bob/big.mov", 12 << 20, 3 << 20)])  # the next pass: same file
    log.held_now(60, 0)
    log.held_now(60, 0)
    lines = [describe(e, clock=False) for e in log.since(0)]
    assert lines == [
        "waiting for quota  Bob/big.mov (12.0 MiB): needs 12.0 MiB, 3.0 MiB free",
        "held  60 deletes: 60 on the server: run `syncd approve` or `syncd restore`",
    ]


def test_state_trouble_and_recovery_are_events_pass_churn_is_not() -> None:
    board = StatusBoard()
    assert board.snapshot()["state"] == "connecting"  # not "idle" before any answer
    for state in ("offline", "syncing", "idle", "syncing", "idle"):
        board.set_state(state, "refused" if state == "offline" else "")  # type: ignore[arg-type]
    kinds = [(e["path"], e["detail"]) for e in board.activity.since(0)]
    assert kinds == [("offline", "refused"), ("connected", "")]


def test_held_deletes_are_summarised() -> None:
    board = StatusBoard()
    board.set_held_deletes(remote=[f"Alice/{i:02d}.jpg" for i in range(60)], local=[])
    board.set_queue(held=1)  # one folder delete action holds 60 files
    text = render_plain(board.snapshot())
    assert "queue: 60 held deletes" in text and "queue: 1 held" not in text
    assert "    Alice/09.jpg" in text and "Alice/10.jpg" not in text
    assert "    and 50 more (all: syncd status --json)" in text
