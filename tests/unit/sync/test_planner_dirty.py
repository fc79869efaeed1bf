"""A pass plans only its dirty paths with the same decision function as the full plan: the
dirty-set plan equals the full plan whenever the dirty set holds every path where the sides
differ (property, hypothesis), and plans nothing for a path left out of it."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from syncd.sync import model as m
from syncd.sync.planner import plan
from tests.unit.sync.helpers import HOST, NOW
from tests.unit.sync.simulator import World
from tests.unit.sync.test_planner_properties import (
    PATHS,
    SETTINGS,
    Op,
    apply_ops,
    changes,
    synced_worlds,
)


def differences(local: m.LocalTree, remote: m.RemoteTree, base: m.BaseTree) -> set[m.RelPath]:
    """Paths (as any side names them) where local, remote and base do not all agree."""
    out = set()
    for p in set(local.files) | set(remote.files) | set(base.files):
        lf, rf, b = local.files.get(p), remote.files.get(p), base.files.get(p)
        agreed = (
            lf is not None
            and rf is not None
            and b is not None
            and (lf.size, lf.mtime_ns, lf.inode) == (b.size, b.mtime_ns, b.inode)
            and lf.sha256 in (None, b.sha256)
            and (rf.file_id, rf.rev, rf.sha256) == (b.file_id, b.rev, b.sha256)
        )
        if not agreed:
            out.add(p)
    return out


def _plans(w: World, mode: str, dirty: set[m.RelPath]) -> tuple[m.Plan, m.Plan]:
    local, remote, base = w.scan(), w.remote_tree(), w.base_tree()
    kw = {"mode": mode, "hostname": HOST, "now": NOW}
    return plan(local, remote, base, **kw), plan(local, remote, base, dirty=dirty, **kw)


@SETTINGS
@given(
    synced_worlds,
    changes,
    st.sampled_from(["mirror", "backup"]),
    st.sets(PATHS, max_size=4),
)
def test_dirty_plan_equals_full_plan_when_it_covers_every_difference(
    w: World, ops: tuple[list[Op], list[Op]], mode: str, extra: set[m.RelPath]
) -> None:
    apply_ops(w, "local_", ops[0])
    apply_ops(w, "remote_", ops[1])
    dirty = differences(w.scan(), w.remote_tree(), w.base_tree()) | extra
    full, partial = _plans(w, mode, dirty)
    assert partial == full


def test_a_path_left_out_of_the_dirty_set_is_not_planned() -> None:
    a, b = m.RelPath("Alice", "a.jpg"), m.RelPath("Alice", "b.jpg")
    w = World.synced({a: "x", b: "y"})
    w.local_write(a, "new a")
    w.remote_write(b, "new b")
    full, partial = _plans(w, "mirror", {a})
    assert [type(x).__name__ for x in full.actions] == ["Upload", "Download"]
    assert [type(x).__name__ for x in partial.actions] == ["Upload"]
