"""Which thread writes a batch read's temp file: a folder being written stays on its thread (no
two threads creating files in one folder), any other folder goes to the least busy thread."""

from __future__ import annotations

from syncd.sync.batchread import _TempWriters


def test_a_folder_being_written_stays_on_its_thread() -> None:
    writers = _TempWriters(2)
    first = writers.take("Alice", 10)
    assert writers.take("Bob", 1) != first  # the other thread has nothing queued
    assert writers.take("Alice", 1_000_000) == first  # still writing Alice: same thread
    assert writers.take("Alice", 1) == first


def test_a_folder_no_longer_written_goes_to_the_least_busy_thread() -> None:
    writers = _TempWriters(2)
    alice = writers.take("Alice", 10)
    bob = writers.take("Bob", 5_000)
    writers.done("Alice", 10)  # Alice's thread idle again; Bob's has 5,000 bytes queued
    assert writers.take("Carol", 1) == alice
    writers.done("Carol", 1)
    assert writers.take("Alice", 1) == alice != bob
    writers.done("Alice", 1)
    writers.done("Bob", 5_000)
    assert writers._folders == {}  # nothing queued, nothing remembered
    assert writers._queued_bytes == [0, 0]
