"""The decision table of DESIGN §4, one case per row, each executed on the simulator to check
that the plan converges (mirror mode)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from syncd.sync import model as m
from tests.unit.sync.helpers import kinds, plan_for, same_trees, settle
from tests.unit.sync.simulator import World

A = m.RelPath("Alice", "a.jpg")


def world() -> World:
    return World.synced({A: "v1", m.RelPath("Alice", "other.pdf"): "keep"})


def _local_edit(w: World) -> None:
    w.local_write(A, "local-v2")


def _remote_edit(w: World) -> None:
    w.remote_write(A, "remote-v2")


ROWS: list[tuple[str, list[Callable[[World], object]], list[str]]] = [
    ("same/same", [], []),
    ("changed/same", [_local_edit], ["Upload"]),
    ("new/absent", [lambda w: w.local_write(m.RelPath("Alice", "n.txt"), "n")], ["Upload"]),
    ("deleted/same", [lambda w: w.local_delete(A)], ["DeleteRemote"]),
    ("same/changed", [_remote_edit], ["Download"]),
    ("absent/new", [lambda w: w.remote_write(m.RelPath("Alice", "n.txt"), "n")], ["Download"]),
    ("same/deleted", [lambda w: w.remote_delete(A)], ["DeleteLocal"]),
    (
        "changed/changed identical",
        [lambda w: w.local_write(A, "v2"), lambda w: w.remote_write(A, "v2")],
        ["RecordBase"],
    ),
    ("changed/changed different", [_local_edit, _remote_edit], ["KeepBoth", "Upload"]),
    (
        "new/new identical",
        [
            lambda w: w.local_write(m.RelPath("Alice", "n.txt"), "n"),
            lambda w: w.remote_write(m.RelPath("Alice", "n.txt"), "n"),
        ],
        ["RecordBase"],
    ),
    (
        "new/new different",
        [
            lambda w: w.local_write(m.RelPath("Alice", "n.txt"), "mine"),
            lambda w: w.remote_write(m.RelPath("Alice", "n.txt"), "theirs"),
        ],
        ["KeepBoth", "Upload"],
    ),
    ("deleted/changed", [lambda w: w.local_delete(A), _remote_edit], ["Download"]),
    ("changed/deleted", [_local_edit, lambda w: w.remote_delete(A)], ["Upload"]),
    (
        "deleted/deleted",
        [lambda w: w.local_delete(A), lambda w: w.remote_delete(A)],
        ["ForgetBase"],
    ),
    ("touched only (same bytes)", [lambda w: w.local_touch(A)], ["RecordBase"]),
]


@pytest.mark.parametrize(("row", "steps", "expected"), ROWS, ids=[r[0] for r in ROWS])
def test_decision_table_row(
    row: str, steps: list[Callable[[World], object]], expected: list[str]
) -> None:
    w = world()
    for step in steps:
        step(w)
    done = settle(w)
    assert kinds(done) == expected
    assert same_trees(w)


def test_upload_of_a_changed_file_replaces_only_the_base_rev() -> None:
    w = world()
    base_rev = w.base.files[A].rev
    _local_edit(w)
    (up,) = plan_for(w).actions
    assert isinstance(up, m.Upload)
    assert up.base_rev == base_rev
    assert up.folder_id == w.remote_folders["Alice"][0]


def test_new_file_and_local_edit_over_a_remote_delete_are_create_only() -> None:
    w = world()
    _local_edit(w)
    w.remote_delete(A)
    w.local_write(m.RelPath("Alice", "n.txt"), "n")
    ups = plan_for(w).actions
    assert [type(a) for a in ups] == [m.Upload, m.Upload]
    assert all(isinstance(a, m.Upload) and a.base_rev is None for a in ups)


def test_download_names_the_local_file_it_replaces() -> None:
    w = world()
    _remote_edit(w)
    (down,) = plan_for(w).actions
    assert isinstance(down, m.Download)
    assert down.replaces is not None and down.replaces.path == A


def test_keep_both_moves_local_to_a_conflict_copy_and_uploads_it() -> None:
    w = world()
    _local_edit(w)
    _remote_edit(w)
    settle(w)
    copy = m.RelPath("Alice", "a (conflicted copy 2026-11-25 093005 office-pc).jpg")
    assert w.local[A].content == w.remote[A].content == "remote-v2"
    assert w.local[copy].content == w.remote[copy].content == "local-v2"


def test_unhashed_local_file_with_other_stat_counts_as_changed() -> None:
    w = world()
    tree = w.scan()
    local = tree.files[A]
    moved = m.LocalFile(A, local.size, local.mtime_ns + 1, local.inode, sha256=None)
    changed = m.LocalTree({**tree.files, A: moved}, tree.folders)
    from syncd.sync.planner import plan
    from tests.unit.sync.helpers import HOST, NOW

    out = plan(changed, w.remote_tree(), w.base_tree(), hostname=HOST, now=NOW)
    assert kinds(out) == ["Upload"]


def test_remote_rev_bump_with_same_bytes_is_recorded_not_downloaded() -> None:
    w = world()
    w.remote[A].rev = w.tick()
    assert kinds(settle(w)) == ["RecordBase"]


def test_delete_local_only_for_unchanged_and_delete_remote_only_for_unchanged() -> None:
    w = world()
    _local_edit(w)
    w.remote_delete(A)
    assert "DeleteLocal" not in kinds(plan_for(w))
    w = world()
    w.local_delete(A)
    _remote_edit(w)
    assert "DeleteRemote" not in kinds(plan_for(w))


def test_unknown_mode_is_refused() -> None:
    w = world()
    with pytest.raises(ValueError, match="mode"):
        plan_for(w, mode="two-way")
