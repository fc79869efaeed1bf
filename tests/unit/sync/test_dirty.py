"""Pending (unconfirmed) local deletes and the dirty paths of a pass, pure: a missing base path
is held until no new delete came for the quiet period and a second look finds nothing; deletes
seen over several scans are confirmed together; a path that comes back or moved is not held."""

from __future__ import annotations

from syncd.sync import model as m
from syncd.sync.dirty import PendingDeletes, action_paths, local_changes, rename_partners

S = 1_000_000_000
A = [m.RelPath("A", f"{i}.jpg") for i in range(4)]


def _base(paths: list[m.RelPath]) -> m.BaseTree:
    files = {p: m.BaseFile(p, f"id{i}", "fa", 1, "h", 1, 5, 100 + i) for i, p in enumerate(paths)}
    return m.BaseTree(files, {"A": m.BaseFolder("A", "fa", 9), "B": m.BaseFolder("B", "fb", 8)})


def _tree(base: m.BaseTree, present: list[m.RelPath]) -> m.LocalTree:
    files = {p: m.LocalFile(p, 1, 5, base.files[p].inode) for p in present}
    return m.LocalTree(files, {"A": m.LocalFolder("A", 9), "B": m.LocalFolder("B", 8)})


def _hold(
    pending: PendingDeletes, base: m.BaseTree, tree: m.LocalTree, now_s: float, absent: set
) -> set[m.RelPath]:
    held = pending.hold(
        base.files.keys() - tree.files.keys(),
        (tree, None, None),
        base,
        now_ns=int(now_s * S),
        confirm_ns=S,
        exists=lambda p: p not in absent,
        stable_inodes=True,
    )
    return held.dirty


def test_deletes_seen_over_several_scans_are_confirmed_together() -> None:
    base, pending = _base(A), PendingDeletes()
    tree = _tree(base, A[2:])
    assert _hold(pending, base, tree, 10.0, set(A[:2])) == set()
    assert set(tree.files) == set(A), "held: the planner still sees them"
    tree = _tree(base, [])
    assert _hold(pending, base, tree, 10.8, set(A)) == set()  # two more: the clock restarts
    assert _hold(pending, base, _tree(base, []), 11.5, set(A)) == set()
    assert _hold(pending, base, _tree(base, []), 11.9, set(A)) == set(A)
    assert pending.due_at(S) is None


def test_a_path_that_comes_back_is_never_confirmed() -> None:
    base, pending = _base(A[:1]), PendingDeletes()
    assert _hold(pending, base, _tree(base, []), 10.0, set()) == set()
    assert _hold(pending, base, _tree(base, A[:1]), 10.5, set()) == set()
    assert pending.due_at(S) is None
    # missing from a scan, but there at the second look (the scan raced a save): held again
    assert _hold(pending, base, _tree(base, []), 20.0, set()) == set()
    tree = _tree(base, [])
    assert _hold(pending, base, tree, 21.5, set()) == set()
    assert A[0] in tree.files


def test_a_move_is_not_held() -> None:
    base = _base(A[:1])
    tree = _tree(base, [])
    tree.files[m.RelPath("B", "x.jpg")] = m.LocalFile(m.RelPath("B", "x.jpg"), 1, 5, 100)
    assert _hold(PendingDeletes(), base, tree, 10.0, {A[0]}) == {A[0], m.RelPath("B", "x.jpg")}


def test_local_changes_and_rename_partners() -> None:
    base = _base(A[:2])
    before = _tree(base, A[:2])
    moved = m.RelPath("B", "moved.jpg")
    after = _tree(base, A[:1])
    after.files[moved] = m.LocalFile(moved, 1, 5, base.files[A[1]].inode)
    paths, folders = local_changes(before, after, ["B"])  # only B was rescanned
    assert (paths, folders) == ({moved}, set())
    remote = m.RemoteTree()
    assert rename_partners(paths, after, remote, base) == {A[1]}


def test_action_paths_cover_both_ends_and_the_conflict_copy() -> None:
    base = _base(A[:1]).files[A[0]]
    local = m.LocalFile(m.RelPath("B", "n.jpg"), 1, 5, 100)
    assert action_paths(m.RenameRemote(base, local, "fb")) == {A[0], local.path}
    remote = m.RemoteFile(A[0], "id0", "fa", 1, "h2", 5, 2)
    keep = m.KeepBoth(m.LocalFile(A[0], 1, 6, 100), remote, "c.jpg")
    assert action_paths(keep) == {A[0], m.RelPath("A", "c.jpg")}


def test_a_new_file_that_reuses_a_deleted_files_inode_is_not_a_move() -> None:
    base = _base(A[:1])
    tree = _tree(base, [])
    new = m.RelPath("A", "new.jpg")  # ext4 hands the freed inode number to the next file
    tree.files[new] = m.LocalFile(new, 3, 77, 100, "other")
    assert _hold(PendingDeletes(), base, tree, 10.0, {A[0]}) == set()
    assert A[0] in tree.files, "still a pending delete"
