"""Hypothesis properties of the planner, run against the in-memory simulator: a synced state
plans nothing; any mix of changes on both sides converges in one executed plan (in any file
action order); content that exists on only one side is never lost; a local rename is never a
transfer; backup mode never writes to the server."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syncd.sync import model as m
from tests.unit.sync.helpers import kinds, plan_for, same_trees
from tests.unit.sync.simulator import World, sha

FOLDERS = ["Alice", "Bob", "Carol", "Dan"]
NAMES = ["a.jpg", "b.jpg", "c", "d.tar.gz"]
CONTENTS = ["x", "y", "z", "w"]  # few, so identical bytes on both sides happen often
PATHS = st.builds(m.RelPath, st.sampled_from(FOLDERS), st.sampled_from(NAMES))
SETTINGS = settings(
    max_examples=int(os.environ.get("PLANNER_EXAMPLES", "300")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

synced_worlds = st.builds(
    World.synced,
    st.dictionaries(PATHS, st.sampled_from(CONTENTS), max_size=8),
    st.sets(st.sampled_from(FOLDERS)),
)

LOCAL_OPS = ["write", "touch", "delete", "move", "mkdir", "rmdir", "rename_folder"]
REMOTE_OPS = ["write", "delete", "move", "mkdir", "rmdir", "rename_folder"]


Op = tuple[str, m.RelPath, m.RelPath, str]


def _op(side: list[str]) -> st.SearchStrategy[Op]:
    return st.tuples(st.sampled_from(side), PATHS, PATHS, st.sampled_from(CONTENTS))


def apply_ops(w: World, prefix: str, ops: list[Op]) -> None:
    for op, src, dst, content in ops:
        if op == "write":
            getattr(w, prefix + "write")(src, content)
        elif op in ("touch", "delete"):
            getattr(w, prefix + op)(src)
        elif op == "move":
            getattr(w, prefix + "move")(src, dst)
        elif op in ("mkdir", "rmdir"):
            getattr(w, prefix + op)(src.folder)
        else:
            getattr(w, prefix + "rename_folder")(src.folder, dst.folder)


changes = st.tuples(st.lists(_op(LOCAL_OPS), max_size=6), st.lists(_op(REMOTE_OPS), max_size=6))


def unsynced_contents(w: World) -> set[str]:
    """Bytes a side holds that are not what base says was agreed for that file (found by
    path, or by identity: inode locally, file id remotely, so renamed files count as synced)."""
    by_path = {p: b.sha256 for p, b in w.base.files.items()}
    by_inode = {b.inode: b.sha256 for b in w.base.files.values()}
    by_id = {b.file_id: b.sha256 for b in w.base.files.values()}
    out = set()
    for p, f in w.local.items():
        if sha(f.content) not in (by_path.get(p), by_inode.get(f.inode)):
            out.add(sha(f.content))
    for p, r in w.remote.items():
        if sha(r.content) not in (by_path.get(p), by_id.get(r.file_id)):
            out.add(sha(r.content))
    return out


@SETTINGS
@given(synced_worlds, st.sampled_from(["mirror", "backup"]))
def test_synced_state_plans_nothing(w: World, mode: str) -> None:
    assert kinds(plan_for(w, mode)) == []


@SETTINGS
@given(synced_worlds, changes, st.sampled_from(["mirror", "backup"]), st.booleans())
def test_one_executed_plan_converges_and_loses_nothing(
    w: World, ops: tuple[list[Op], list[Op]], mode: str, reverse: bool
) -> None:
    apply_ops(w, "local_", ops[0])
    apply_ops(w, "remote_", ops[1])
    must_survive = unsynced_contents(w)
    first = plan_for(w, mode)
    w.execute(first, reverse_files=reverse)  # the simulator asserts every executor re-check
    again = plan_for(w, mode)
    assert not again, f"after {kinds(first)} still {again.actions}"
    assert must_survive <= w.contents()
    if mode == "mirror":
        assert same_trees(w)


FORBIDDEN_IN_BACKUP = {
    "Upload",
    "DeleteRemote",
    "RenameRemote",
    "MakeRemoteFolder",
    "RenameRemoteFolder",
    "DeleteRemoteFolder",
    "DeleteLocal",
    "DeleteLocalFolder",
}


@SETTINGS
@given(synced_worlds, changes)
def test_backup_never_writes_to_the_server_nor_deletes_locally(
    w: World, ops: tuple[list[Op], list[Op]]
) -> None:
    apply_ops(w, "local_", ops[0])
    apply_ops(w, "remote_", ops[1])
    remote_before = {p: r.content for p, r in w.remote.items()}
    local_before = set(w.local)
    planned = plan_for(w, "backup")
    assert not FORBIDDEN_IN_BACKUP & set(kinds(planned))
    w.execute(planned)
    assert {p: r.content for p, r in w.remote.items()} == remote_before
    # Local files stay, at most moved aside (conflict copy) or renamed like the server did.
    assert len(w.local) >= len(local_before)


@SETTINGS
@given(
    st.sampled_from(["local_", "remote_"]),
    st.dictionaries(PATHS, st.just(""), min_size=1, max_size=8),
    st.lists(st.tuples(PATHS, PATHS), min_size=1, max_size=4),
    st.lists(st.tuples(st.sampled_from(FOLDERS), st.sampled_from(FOLDERS)), max_size=2),
    st.lists(st.tuples(PATHS, st.sampled_from(CONTENTS)), max_size=3),
)
def test_renames_never_transfer_content(
    side: str,
    files: dict[m.RelPath, str],
    moves: list[tuple[m.RelPath, m.RelPath]],
    folder_renames: list[tuple[str, str]],
    remote_writes: list[tuple[m.RelPath, str]],
) -> None:
    """Renames and moves of files and folders, on either side, with unrelated new files on
    the server: the renamed bytes are never uploaded nor downloaded."""
    w = World.synced({p: f"unique {p}" for p in files})
    for old, new in folder_renames:
        getattr(w, side + "rename_folder")(old, new + " renamed")
    moved = set()
    for src, dst in moves:
        # Chains (a -> b while b -> c) are not detected as renames: the target of a rename
        # must be a path base does not know. They are re-sent, never lost (other property).
        if src in w.base.files and dst not in w.base.files and getattr(w, side + "move")(src, dst):
            moved.add(sha((w.local if side == "local_" else w.remote)[dst].content))
    for path, content in remote_writes:  # unrelated new files on the server
        if path not in w.remote and path not in w.base.files and path not in w.local:
            w.remote_write(path, content)
    planned = plan_for(w)
    for a in planned.actions:
        if isinstance(a, m.Upload):
            assert a.local.sha256 not in moved, a
        if isinstance(a, m.Download):
            assert a.remote.sha256 not in moved, a
    w.execute(planned)
    assert not plan_for(w) and same_trees(w)
