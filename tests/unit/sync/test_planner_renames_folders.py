"""Renames (local by inode, remote by file id), folder create/rename/delete, and the
big-delete count. Every case is executed on the simulator and must converge."""

from __future__ import annotations

from syncd.sync import model as m
from syncd.sync.gate import remote_delete_count
from tests.unit.sync.helpers import kinds, plan_for, same_trees, settle
from tests.unit.sync.simulator import World

P = m.RelPath
A = P("Alice", "a.jpg")
B = P("Alice", "b.jpg")


def world() -> World:
    return World.synced(
        {A: "photo", B: "photo2", P("Bob", "c.pdf"): "doc"}, folders={"Bob", "Empty"}
    )


def _transfers(p: m.Plan) -> list[m.Action]:
    return [a for a in p.actions if isinstance(a, m.Upload | m.Download | m.KeepBoth)]


# ---- file renames ----------------------------------------------------------------------------


def test_local_rename_is_a_remote_rename() -> None:
    w = world()
    file_id = w.remote[A].file_id
    w.local_move(A, P("Alice", "renamed.jpg"))
    done = settle(w)
    (ren,) = done.actions
    assert isinstance(ren, m.RenameRemote)
    assert ren.folder_id == w.remote_folders["Alice"][0]
    assert w.remote[P("Alice", "renamed.jpg")].file_id == file_id
    assert same_trees(w)


def test_local_move_to_another_folder_is_a_remote_move() -> None:
    w = world()
    w.local_move(A, P("Bob", "a.jpg"))
    (ren,) = settle(w).actions
    assert isinstance(ren, m.RenameRemote)
    assert ren.folder_id == w.remote_folders["Bob"][0]
    assert same_trees(w)


def test_local_move_into_a_new_folder_makes_it_first() -> None:
    w = world()
    w.local_mkdir("Campaign")
    w.local_move(A, P("Campaign", "a.jpg"))
    done = settle(w)
    assert kinds(done) == ["MakeRemoteFolder", "RenameRemote"]
    ren = done.actions[1]
    assert isinstance(ren, m.RenameRemote) and ren.folder_id is None
    assert same_trees(w)


def test_remote_rename_and_move_are_local_renames() -> None:
    w = world()
    w.remote_move(A, P("Alice", "renamed.jpg"))
    w.remote_move(B, P("Bob", "b.jpg"))
    inode = w.local[B].inode
    done = settle(w)
    assert kinds(done) == ["RenameLocal", "RenameLocal"]
    assert w.local[P("Bob", "b.jpg")].inode == inode  # moved, not downloaded again
    assert same_trees(w)


def test_local_rename_plus_edit_uploads_the_new_bytes_and_deletes_the_old() -> None:
    w = world()
    w.local_move(A, P("Alice", "new.jpg"))
    w.local_write(P("Alice", "new.jpg"), "edited")
    assert kinds(settle(w)) == ["DeleteRemote", "Upload"]
    assert same_trees(w)


def test_remote_rename_plus_edit_downloads_the_new_bytes() -> None:
    w = world()
    w.remote_move(A, P("Alice", "new.jpg"))
    w.remote_write(P("Alice", "new.jpg"), "edited")
    assert kinds(settle(w)) == ["DeleteLocal", "Download"]
    assert same_trees(w)


def test_local_rename_with_remote_edit_falls_back_to_the_table() -> None:
    w = world()
    w.local_move(A, P("Alice", "new.jpg"))
    w.remote_write(A, "remote edit")
    assert kinds(settle(w)) == ["Download", "Upload"]  # both versions kept
    assert same_trees(w)


def test_remote_rename_with_local_edit_keeps_both_versions() -> None:
    w = world()
    w.remote_move(A, P("Alice", "new.jpg"))
    w.local_write(A, "local edit")
    assert kinds(settle(w)) == ["Upload", "Download"]
    assert {w.remote[A].content, w.remote[P("Alice", "new.jpg")].content} == {"local edit", "photo"}


def test_same_rename_on_both_sides_is_only_recorded() -> None:
    w = world()
    w.local_move(A, P("Alice", "x.jpg"))
    w.remote_move(A, P("Alice", "x.jpg"))
    assert sorted(kinds(settle(w))) == ["ForgetBase", "RecordBase"]


def test_different_renames_on_both_sides_follow_the_remote_without_transfer() -> None:
    w = world()
    w.local_move(A, P("Alice", "mine.jpg"))
    w.remote_move(A, P("Alice", "theirs.jpg"))
    done = settle(w)
    assert sorted(kinds(done)) == ["ForgetBase", "RenameLocal"]
    assert P("Alice", "theirs.jpg") in w.local and same_trees(w)


# ---- folders ---------------------------------------------------------------------------------


def test_new_local_folder_becomes_a_remote_folder_then_its_files_upload() -> None:
    w = world()
    w.local_mkdir("Campaign")
    w.local_write(P("Campaign", "promo.png"), "promo")
    done = settle(w)
    assert kinds(done) == ["MakeRemoteFolder", "Upload"]
    up = done.actions[1]
    assert isinstance(up, m.Upload) and up.folder_id is None and up.base_rev is None
    assert same_trees(w)


def test_new_remote_folder_is_made_locally() -> None:
    w = world()
    w.remote_mkdir("Carol")
    w.remote_write(P("Carol", "v.ogg"), "voice")
    assert kinds(settle(w)) == ["MakeLocalFolder", "Download"]
    assert same_trees(w)


def test_same_new_folder_on_both_sides_is_recorded() -> None:
    w = world()
    w.local_mkdir("Carol")
    w.remote_mkdir("Carol")
    assert kinds(settle(w)) == ["RecordFolder"]


def test_local_folder_rename_is_one_remote_rename_and_no_file_actions() -> None:
    w = world()
    w.local_rename_folder("Alice", "Alice Martin")
    done = settle(w)
    assert kinds(done) == ["RenameRemoteFolder"]
    assert same_trees(w)
    assert set(w.base.files) == set(w.local)


def test_remote_folder_rename_is_one_local_rename() -> None:
    w = world()
    w.remote_rename_folder("Alice", "Alice Martin")
    assert kinds(settle(w)) == ["RenameLocalFolder"]
    assert same_trees(w)


def test_folder_renamed_differently_on_both_sides_takes_the_local_name() -> None:
    w = world()
    w.local_rename_folder("Alice", "Mine")
    w.remote_rename_folder("Alice", "Theirs")
    w.remote_write(P("Theirs", "new.jpg"), "fresh")
    assert kinds(settle(w)) == ["RenameRemoteFolder", "Download"]
    assert "Mine" in w.remote_folders and same_trees(w)


def test_folder_renamed_plus_file_renamed_inside() -> None:
    w = world()
    w.local_rename_folder("Alice", "Alice Martin")
    w.local_move(P("Alice Martin", "a.jpg"), P("Alice Martin", "z.jpg"))
    assert kinds(settle(w)) == ["RenameRemoteFolder", "RenameRemote"]
    assert same_trees(w)


def test_folder_gone_remotely_trashes_unchanged_local_files_then_the_folder() -> None:
    w = world()
    w.remote_rmdir("Alice")
    assert kinds(settle(w)) == ["DeleteLocal", "DeleteLocal", "DeleteLocalFolder"]
    assert same_trees(w) and "Alice" not in w.base.folders


def test_folder_gone_remotely_with_a_local_edit_is_recreated_with_the_edit() -> None:
    w = world()
    w.remote_rmdir("Alice")
    w.local_write(A, "edited")
    assert kinds(settle(w)) == ["MakeRemoteFolder", "Upload", "DeleteLocal"]
    assert w.remote[A].content == "edited" and same_trees(w)


def test_folder_gone_locally_is_one_remote_folder_delete() -> None:
    w = world()
    w.local_rmdir("Alice")
    done = plan_for(w)
    assert kinds(done) == ["DeleteRemoteFolder"]
    assert _remote_deletes(done) == 2
    settle(w)
    assert same_trees(w) and not w.base.files.keys() & {A, B}


def test_folder_gone_locally_but_edited_remotely_downloads_the_edit_back() -> None:
    w = world()
    w.local_rmdir("Alice")
    w.remote_write(A, "edited")
    done = settle(w)
    assert kinds(done) == ["MakeLocalFolder", "Download", "DeleteRemote"]
    assert _remote_deletes(done) == 1
    assert w.local[A].content == "edited" and same_trees(w)


def test_files_moved_out_before_a_local_folder_delete_survive_it() -> None:
    w = world()
    w.local_move(A, P("Bob", "a.jpg"))
    w.local_rmdir("Alice")
    done = settle(w)
    assert kinds(done) == ["RenameRemote", "DeleteRemoteFolder"]
    assert _remote_deletes(done) == 1  # b.jpg only
    assert w.remote[P("Bob", "a.jpg")].content == "photo" and same_trees(w)


def test_folder_gone_on_both_sides_is_forgotten() -> None:
    w = world()
    w.local_rmdir("Alice")
    w.remote_rmdir("Alice")
    assert kinds(settle(w)) == ["ForgetBase", "ForgetBase", "ForgetFolder"]
    assert not w.base.files.keys() & {A, B}


def test_local_folder_rename_over_a_remote_folder_delete_keeps_the_files() -> None:
    w = world()
    w.local_rename_folder("Alice", "Alice Martin")
    w.remote_rmdir("Alice")
    done = settle(w)
    # The rename is a change that wins over the delete: the renamed folder is sent again.
    assert kinds(done) == [
        "MakeRemoteFolder",
        "ForgetBase",
        "ForgetBase",
        "Upload",
        "Upload",
        "ForgetFolder",
    ]
    assert w.remote[P("Alice Martin", "a.jpg")].content == "photo" and same_trees(w)


def test_remote_folder_rename_over_a_local_folder_delete_downloads_again() -> None:
    w = world()
    w.remote_rename_folder("Alice", "Alice Martin")
    w.local_rmdir("Alice")
    done = settle(w)
    assert kinds(done) == [
        "MakeLocalFolder",
        "ForgetBase",
        "ForgetBase",
        "Download",
        "Download",
        "ForgetFolder",
    ]
    assert w.local[P("Alice Martin", "a.jpg")].content == "photo" and same_trees(w)


def test_renamed_folder_and_new_folder_with_the_old_name() -> None:
    w = world()
    w.local_rename_folder("Alice", "Alice Martin")
    w.local_mkdir("Alice")
    w.local_write(P("Alice", "fresh.txt"), "fresh")
    done = settle(w)
    assert kinds(done) == ["RenameRemoteFolder", "MakeRemoteFolder", "Upload"]
    assert same_trees(w)


def test_empty_folder_delete_counts_no_files() -> None:
    w = world()
    w.local_rmdir("Empty")
    done = settle(w)
    assert kinds(done) == ["DeleteRemoteFolder"] and _remote_deletes(done) == 0


def test_plan_order_is_folders_first_files_by_path_then_folder_deletes() -> None:
    w = world()
    w.local_rmdir("Empty")
    w.remote_write(P("Bob", "z.txt"), "z")
    w.local_write(P("Alice", "a0.txt"), "a0")
    w.local_mkdir("New")
    done = plan_for(w)
    assert kinds(done) == ["MakeRemoteFolder", "Upload", "Download", "DeleteRemoteFolder"]
    assert plan_for(w) == done  # deterministic


def _remote_deletes(planned: m.Plan) -> int:
    return sum(remote_delete_count(a) for a in planned.actions)
