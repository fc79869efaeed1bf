"""Settle decisions: close-write, then size/mtime stable for settle_s (pure, fake times)."""

from syncd.sync.debounce import Batch
from syncd.sync.model import LocalFile, RelPath
from syncd.sync.settle import SettleTracker, Stat, is_settled

P = RelPath("Alice", "video.mp4")


def test_is_settled_pure() -> None:
    a = Stat(10, 1_000, 7)
    assert is_settled(a, a, 1.0, 1.0)
    assert not is_settled(a, a, 0.99, 1.0)
    assert not is_settled(a, Stat(11, 1_000, 7), 5.0, 1.0)  # grew
    assert not is_settled(a, Stat(10, 2_000, 7), 5.0, 1.0)  # rewritten, same size
    assert not is_settled(a, Stat(10, 1_000, 8), 5.0, 1.0)  # replaced by another inode


def test_stat_of_local_file() -> None:
    local = LocalFile(P, size=3, mtime_ns=4, inode=5)
    assert Stat.of(local) == Stat(3, 4, 5)


def test_unchanged_file_is_ready_after_settle_time() -> None:
    t = SettleTracker(settle_s=1.0)
    s = Stat(100, 1, 1)
    assert not t.ready(P, s, now=10.0)  # first sight
    assert t.pending() == 11.0
    assert not t.ready(P, s, now=10.5)
    assert t.ready(P, s, now=11.0)
    assert t.pending() is None  # answered: no deadline pends


def test_growing_file_restarts_the_clock() -> None:
    t = SettleTracker(settle_s=1.0)
    now, size = 0.0, 0
    for _ in range(10):  # 1 MB every 0.2 s
        size += 1_000_000
        assert not t.ready(P, Stat(size, int(now * 1e9), 1), now)
        now += 0.2
    final = Stat(size, int((now - 0.2) * 1e9), 1)
    assert not t.ready(P, final, now)
    assert t.ready(P, final, now + 1.0)


def test_open_writer_holds_until_close_write() -> None:
    t = SettleTracker(settle_s=1.0, writer_timeout_s=30.0)
    s = Stat(5, 5, 5)
    t.apply(Batch(written_paths=frozenset({P})), now=0.0)
    assert not t.ready(P, s, 0.0)
    assert not t.ready(P, s, 5.0), "writer still has it open"
    t.apply(Batch(closed_paths=frozenset({P})), now=5.0)
    assert t.ready(P, s, 5.0), "closed and stable for 5 s"


def test_open_writer_timeout_releases_a_file_kept_open() -> None:
    t = SettleTracker(settle_s=1.0, writer_timeout_s=30.0)
    s = Stat(5, 5, 5)
    t.note_written(P, 0.0)
    assert not t.ready(P, s, 0.0)
    assert t.pending() == 30.0
    assert not t.ready(P, s, 29.0)
    assert t.ready(P, s, 30.0)


def test_full_rescan_and_coarse_folders_drop_writer_flags() -> None:
    other = RelPath("Bob", "x.jpg")
    t = SettleTracker(settle_s=1.0)
    s = Stat(1, 1, 1)
    t.note_written(P, 0.0)
    t.note_written(other, 0.0)
    t.ready(P, s, 0.0)
    t.ready(other, s, 0.0)
    t.apply(Batch(coarse_folders=frozenset({"Alice"})), now=0.5)
    assert t.ready(P, s, 1.0)
    assert not t.ready(other, s, 1.0)
    t.apply(Batch(full_rescan=True), now=1.0)
    assert t.ready(other, s, 1.0)


def test_write_after_ready_needs_a_new_answer() -> None:
    t = SettleTracker(settle_s=1.0)
    s = Stat(1, 1, 1)
    t.ready(P, s, 0.0)
    assert t.ready(P, s, 1.0)
    t.note_written(P, 2.0)
    assert not t.ready(P, s, 2.0)
    assert P in t.waiting(2.0)
    t.forget(P)
    assert t.pending() is None and P not in t.waiting(2.0)


def test_zero_settle_time_is_ready_on_first_sight_unless_open() -> None:
    t = SettleTracker(settle_s=0.0)
    assert t.ready(P, Stat(1, 1, 1), 0.0)
    t.note_written(RelPath("A", "b"), 0.0)
    assert not t.ready(RelPath("A", "b"), Stat(1, 1, 1), 0.0)
