"""Backup mode (download only, remote deletes keep local files) and conflict copy names."""

from __future__ import annotations

from syncd.protocol import MAX_NAME_BYTES, name_problem
from syncd.sync import model as m
from syncd.sync.planner_conflicts import conflict_name
from tests.unit.sync.helpers import HOST, NOW, kinds, plan_for, settle
from tests.unit.sync.simulator import World

P = m.RelPath
A = P("Alice", "a.jpg")


def world() -> World:
    return World.synced({A: "photo", P("Alice", "b.jpg"): "photo2"}, folders={"Bob"})


# ---- backup mode -----------------------------------------------------------------------------


def test_backup_leaves_local_only_changes_alone() -> None:
    w = world()
    w.local_write(A, "edited")
    w.local_write(P("Alice", "new.txt"), "new")
    w.local_delete(P("Alice", "b.jpg"))
    w.local_mkdir("Mine")
    w.local_write(P("Mine", "x.txt"), "x")
    w.local_rename_folder("Bob", "Robert")
    assert kinds(settle(w, "backup")) == []
    assert w.remote[A].content == "photo"


def test_backup_ignores_a_local_rename() -> None:
    w = world()
    w.local_move(A, P("Alice", "renamed.jpg"))
    assert kinds(settle(w, "backup")) == []


def test_backup_downloads_remote_changes_and_renames() -> None:
    w = world()
    w.remote_write(A, "new bytes")
    w.remote_write(P("Alice", "c.jpg"), "c")
    w.remote_move(P("Alice", "b.jpg"), P("Bob", "b.jpg"))
    w.remote_rename_folder("Alice", "Alice Martin")
    done = settle(w, "backup")
    assert kinds(done) == ["RenameLocalFolder", "Download", "RenameLocal", "Download"]
    assert w.local[P("Alice Martin", "a.jpg")].content == "new bytes"


def test_backup_keeps_local_files_the_remote_deleted() -> None:
    w = world()
    w.remote_delete(A)
    assert kinds(settle(w, "backup")) == ["ForgetBase"]
    assert w.local[A].content == "photo" and A not in w.base.files


def test_backup_keeps_a_local_folder_the_remote_deleted() -> None:
    w = world()
    w.remote_rmdir("Alice")
    assert kinds(settle(w, "backup")) == ["ForgetBase", "ForgetBase", "ForgetFolder"]
    assert {A, P("Alice", "b.jpg")} <= set(w.local) and "Alice" in w.local_folders


def test_backup_never_overwrites_a_local_edit() -> None:
    w = world()
    w.local_write(A, "mine")
    w.remote_write(A, "theirs")
    done = settle(w, "backup")
    assert kinds(done) == ["KeepBoth"]  # no upload of the copy in backup
    assert sorted(f.content for f in w.local.values()) == ["mine", "photo2", "theirs"]
    assert w.remote[A].content == "theirs" and len(w.remote) == 2


def test_backup_brings_back_a_deleted_folder_only_for_remote_changes() -> None:
    w = world()
    w.local_rmdir("Alice")
    assert kinds(settle(w, "backup")) == []
    w.remote_write(A, "changed remotely")
    assert kinds(settle(w, "backup")) == ["MakeLocalFolder", "Download"]
    assert set(w.local) == {A}


# ---- conflict names --------------------------------------------------------------------------


def test_conflict_name_format() -> None:
    got = conflict_name("report.pdf", hostname=HOST, now=NOW)
    assert got == "report (conflicted copy 2026-11-25 093005 office-pc).pdf"


def test_conflict_name_without_extension_and_with_two_suffixes() -> None:
    assert conflict_name("README", hostname="h", now=NOW) == (
        "README (conflicted copy 2026-11-25 093005 h)"
    )
    assert conflict_name("a.tar.gz", hostname="h", now=NOW) == (
        "a.tar (conflicted copy 2026-11-25 093005 h).gz"
    )
    assert conflict_name(".bashrc", hostname="h", now=NOW).startswith(".bashrc (conflicted")


def test_conflict_name_collision_counts_up_before_the_extension() -> None:
    first = conflict_name("a.jpg", hostname="h", now=NOW)
    second = "a (conflicted copy 2026-11-25 093005 h) 2.jpg"
    assert conflict_name("a.jpg", hostname="h", now=NOW, taken={first}) == second
    third = conflict_name("a.jpg", hostname="h", now=NOW, taken={first.upper(), second})
    assert third == "a (conflicted copy 2026-11-25 093005 h) 3.jpg"  # case-insensitive keys


def test_conflict_name_cuts_a_long_stem_to_the_name_limit() -> None:
    long_name = "é" * 200 + ".jpeg"  # 405 bytes
    got = conflict_name(long_name, hostname=HOST, now=NOW)
    assert len(got.encode()) <= MAX_NAME_BYTES and name_problem(got) is None
    assert got.endswith(" (conflicted copy 2026-11-25 093005 office-pc).jpeg")
    assert got.startswith("é" * 50)
    taken = conflict_name(long_name, hostname=HOST, now=NOW, taken={got})
    assert taken.endswith(") 2.jpeg") and len(taken.encode()) <= MAX_NAME_BYTES


def test_conflict_name_survives_odd_hosts_and_extensions() -> None:
    got = conflict_name("x." + "e" * 300, hostname="bad/host\n" + "h" * 100, now=NOW)
    assert name_problem(got) is None


def test_planner_avoids_a_conflict_name_taken_on_either_side() -> None:
    w = world()
    first = conflict_name("a.jpg", hostname=HOST, now=NOW)
    w.remote_write(P("Alice", first), "already there")
    w.local_write(A, "mine")
    w.remote_write(A, "theirs")
    (down, keep, up) = plan_for(w).actions  # "a (" sorts before "a."
    assert isinstance(keep, m.KeepBoth) and keep.conflict_name.endswith(") 2.jpg")
    assert isinstance(up, m.Upload) and up.local.path.name == keep.conflict_name
    assert isinstance(down, m.Download) and down.remote.path.name == first
