"""Debouncer with a fake clock: quiet period, max wait, per-folder cap, global overflow,
write/close bookkeeping and root loss. No event loop, no disk."""

from syncd.sync.debounce import Batch, Debouncer, EventKind
from syncd.sync.model import RelPath


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def make(**kw: float) -> tuple[Debouncer, FakeClock]:
    clock = FakeClock()
    return Debouncer(clock=clock, **kw), clock  # type: ignore[arg-type]


def test_nothing_pending_means_no_batch() -> None:
    deb, _ = make()
    assert deb.due_at() is None
    assert deb.take() is None
    assert deb.flush() is None


def test_quiet_period_delays_until_events_stop() -> None:
    deb, clock = make(quiet_s=0.2, max_wait_s=2.0)
    deb.add("Alice", "a.jpg", EventKind.WRITE)
    clock.advance(0.15)
    deb.add("Alice", "a.jpg", EventKind.WRITE)
    clock.advance(0.15)  # 0.3 after the first, only 0.15 after the last
    assert deb.take() is None
    assert deb.due_at() == clock.now + 0.05
    clock.advance(0.05)
    batch = deb.take()
    assert batch is not None and batch.folders == {"Alice"}
    assert deb.take() is None  # consumed


def test_max_wait_caps_a_never_quiet_stream() -> None:
    deb, clock = make(quiet_s=0.2, max_wait_s=2.0)
    batches = []
    for _ in range(30):  # an event every 0.1 s for 3 s: never quiet
        deb.add("Bob", "growing.mp4", EventKind.WRITE)
        clock.advance(0.1)
        if (batch := deb.take()) is not None:
            batches.append((clock.now, batch))
    assert batches, "max wait must force a batch out of a continuous stream"
    first_at, first = batches[0]
    assert first_at - 100.0 <= 2.0 + 0.1
    assert first.written_paths == {RelPath("Bob", "growing.mp4")}


def test_last_event_kind_wins_and_other_does_not_erase_it() -> None:
    deb, _ = make()
    deb.add("A", "done.jpg", EventKind.WRITE)
    deb.add("A", "done.jpg", EventKind.CLOSE)
    deb.add("A", "done.jpg", EventKind.OTHER)  # e.g. attribute change after close
    deb.add("A", "open.jpg", EventKind.CLOSE)
    deb.add("A", "open.jpg", EventKind.WRITE)
    deb.add("A", "gone.jpg", EventKind.OTHER)
    deb.add("B")  # folder-level event
    batch = deb.flush()
    assert batch is not None
    assert batch.folders == {"A", "B"}
    assert batch.closed_paths == {RelPath("A", "done.jpg")}
    assert batch.written_paths == {RelPath("A", "open.jpg")}
    assert not batch.full_rescan and not batch.coarse_folders


def test_folder_cap_turns_folder_coarse_and_keeps_others_detailed() -> None:
    deb, _ = make(folder_cap=10, global_cap=1000)
    for i in range(11):
        deb.add("Busy", f"f{i}.jpg", EventKind.CLOSE)
    deb.add("Busy", "late.jpg", EventKind.CLOSE)  # after the cap: no detail kept
    deb.add("Calm", "one.jpg", EventKind.CLOSE)
    batch = deb.flush()
    assert batch is not None
    assert batch.folders == {"Busy", "Calm"}
    assert batch.coarse_folders == {"Busy"}
    assert batch.closed_paths == {RelPath("Calm", "one.jpg")}
    assert not batch.full_rescan


def test_global_cap_overflows_into_full_rescan() -> None:
    deb, _ = make(folder_cap=100, global_cap=50)
    for folder in range(6):
        for i in range(10):
            deb.add(f"F{folder}", f"{i}.jpg", EventKind.WRITE)
    batch = deb.flush()
    assert batch is not None
    assert batch.full_rescan
    assert not batch.written_paths and not batch.closed_paths


def test_explicit_overflow_is_full_rescan_after_quiet() -> None:
    deb, clock = make(quiet_s=0.2)
    deb.overflow()
    assert deb.take() is None
    clock.advance(0.2)
    batch = deb.take()
    assert batch is not None and batch.full_rescan and not batch.root_gone


def test_root_gone_is_due_at_once() -> None:
    deb, _ = make(quiet_s=0.2)
    deb.add("A", "x.jpg", EventKind.WRITE)
    deb.root_gone()
    batch = deb.take()
    assert batch is not None
    assert batch.root_gone and batch.full_rescan


def test_merge_keeps_newest_kind_per_path() -> None:
    p, q = RelPath("A", "p"), RelPath("A", "q")
    old = Batch(folders=frozenset({"A"}), written_paths=frozenset({p}), closed_paths=frozenset({q}))
    new = Batch(folders=frozenset({"B"}), closed_paths=frozenset({p}), written_paths=frozenset({q}))
    merged = old.merge(new)
    assert merged.folders == {"A", "B"}
    assert merged.closed_paths == {p}
    assert merged.written_paths == {q}
    assert old.merge(Batch(full_rescan=True, root_gone=True)).root_gone
