"""A pass plans only its dirty paths with the same decision function as the full plan: the
dirty-set plan equals the full plan whenever the dirty set holds every path where the sides
differ (property, hypothesis; `dirty.differences` is that set, the dirty set of a full pass),
and plans nothing for a path left out of it."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from syncd.sync import model as m
from syncd.sync.dirty import differences
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

LINUX = m.RootTraits()
FAT = m.RootTraits(mtime_granularity_ns=2_000_000_000, stable_inodes=False)


def _plans(
    w: World, mode: str, dirty: set[m.RelPath], traits: m.RootTraits = LINUX
) -> tuple[m.Plan, m.Plan]:
    local, remote, base = w.scan(), w.remote_tree(), w.base_tree()
    kw = {"mode": mode, "hostname": HOST, "now": NOW, "traits": traits}
    return plan(local, remote, base, **kw), plan(local, remote, base, dirty=dirty, **kw)


@SETTINGS
@given(
    synced_worlds,
    changes,
    st.sampled_from(["mirror", "backup"]),
    st.sets(PATHS, max_size=4),
    st.sampled_from([LINUX, FAT]),
)
def test_dirty_plan_equals_full_plan_when_it_covers_every_difference(
    w: World,
    ops: tuple[list[Op], list[Op]],
    mode: str,
    extra: set[m.RelPath],
    traits: m.RootTraits,
) -> None:
    """`differences` (the dirty set of a full pass) covers every difference, on a Linux root
    and on one with coarse mtimes and unstable inodes (FAT)."""
    apply_ops(w, "local_", ops[0])
    apply_ops(w, "remote_", ops[1])
    dirty = differences(w.scan(), w.remote_tree(), w.base_tree(), traits) | extra
    full, partial = _plans(w, mode, dirty, traits)
    assert partial == full


def test_a_path_left_out_of_the_dirty_set_is_not_planned() -> None:
    a, b = m.RelPath("Alice", "a.jpg"), m.RelPath("Alice", "b.jpg")
    w = World.synced({a: "x", b: "y"})
    w.local_write(a, "new a")
    w.remote_write(b, "new b")
    full, partial = _plans(w, "mirror", {a})
    assert [type(x).__name__ for x in full.actions] == ["Upload", "Download"]
    assert [type(x).__name__ for x in partial.actions] == ["Upload"]


def test_differences_read_stat_as_far_as_the_root_tells() -> None:
    """A file whose mtime moved within the root's granularity and whose inode changed (a FAT
    remount) agrees with its base on FAT, not on a Linux root; a hash other than the base's
    never agrees."""
    a = m.RelPath("Alice", "a.jpg")
    w = World.synced({a: "x"})
    local, remote, base = w.scan(), w.remote_tree(), w.base_tree()
    lf = local.files[a]
    local.files[a] = replace(lf, mtime_ns=lf.mtime_ns + 1_000_000, inode=lf.inode + 7)
    assert differences(local, remote, base, FAT) == set()
    assert differences(local, remote, base, LINUX) == {a}
    local.files[a] = replace(lf, sha256="0" * 64)
    assert differences(local, remote, base, FAT) == {a}
