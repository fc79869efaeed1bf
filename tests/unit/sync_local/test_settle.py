"""The write/close memory the gate reads (pure, fake times): an open writer holds a file until
its close-write (or the writer timeout); a close or a move in marks it complete; lost events
forget what was known."""

from syncd.sync.debounce import Batch
from syncd.sync.model import RelPath
from syncd.sync.settle import SettleTracker

P = RelPath("Alice", "video.mp4")
Q = RelPath("Bob", "doc.pdf")


def _batch(**kw: object) -> Batch:
    return Batch(folders=frozenset({"Alice", "Bob"}), **kw)  # type: ignore[arg-type]


def test_write_holds_until_close_then_complete() -> None:
    t = SettleTracker(writer_timeout_s=30.0)
    t.apply(_batch(written_paths=frozenset({P})), now=10.0)
    assert t.open_writers(10.0) == {P} and t.closed() == frozenset()
    t.apply(_batch(closed_paths=frozenset({P})), now=11.0)
    assert t.open_writers(11.0) == frozenset() and t.closed() == {P}
    t.apply(_batch(written_paths=frozenset({P})), now=12.0)  # reopened: not complete again
    assert t.open_writers(12.0) == {P} and t.closed() == frozenset()


def test_open_writer_timeout_releases_a_file_kept_open() -> None:
    t = SettleTracker(writer_timeout_s=30.0)
    t.apply(_batch(written_paths=frozenset({P})), now=0.0)
    assert t.open_writers(29.9) == {P}
    assert t.open_writers(30.0) == frozenset() and t.closed() == frozenset()


def test_lost_events_forget_what_was_known() -> None:
    t = SettleTracker()
    t.apply(_batch(written_paths=frozenset({P}), closed_paths=frozenset({Q})), now=0.0)
    t.apply(_batch(coarse_folders=frozenset({"Alice"})), now=1.0)
    assert t.open_writers(1.0) == frozenset() and t.closed() == {Q}
    t.apply(_batch(full_rescan=True), now=2.0)
    assert t.closed() == frozenset()


def test_forget_after_upload() -> None:
    t = SettleTracker()
    t.apply(_batch(closed_paths=frozenset({P})), now=0.0)
    t.forget(P)
    assert t.closed() == frozenset()
