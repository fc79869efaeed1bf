"""The remote mirror applies the change feed (never rolling back our own newer writes), swaps in
a staging copy in one step, records the paths a change touches (the dirty paths of the next
pass) and keeps its tree current change by change."""

from __future__ import annotations

import pytest

from syncd.protocol import Change, File, Folder
from syncd.sync.model import RelPath
from syncd.sync.remote import MirrorFile, MirrorFolder, RemoteMirror, compact


def _folder(fid: str, name: str, rev: int = 1) -> Folder:
    return Folder(
        id=fid, name=name, kind="custom", participant=None, file_count=0, bytes=0, rev=rev
    )


def _file(file_id: str, folder_id: str, name: str, rev: int = 1) -> File:
    return File(
        id=file_id,
        folder_id=folder_id,
        name=name,
        size=1,
        sha256="ab" * 32,
        mime="image/jpeg",
        kind="image",
        source="upload",
        created_at="x",
        modified_at="x",
        mtime_ns=1,
        rev=rev,
    )


def _mirror() -> RemoteMirror:
    mirror = RemoteMirror()
    mirror.folders = {"fa": MirrorFolder("fa", "A", 1), "fb": MirrorFolder("fb", "B", 1)}
    mirror.files = {"x": _compact_file("x", "fa", "x.jpg")}
    return mirror


def _compact_file(file_id: str, folder_id: str, name: str) -> MirrorFile:
    record = compact(_file(file_id, folder_id, name))
    assert isinstance(record, MirrorFile)
    return record


def _up(obj: Folder | File) -> Change:
    kind = "folder" if isinstance(obj, Folder) else "file"
    return Change(seq=9, type=kind, op="upsert", id=obj.id, object=obj)


X, Y = RelPath("A", "x.jpg"), RelPath("B", "y.jpg")


@pytest.mark.parametrize(
    ("change", "paths", "folders"),
    [
        (_up(_file("y", "fb", "y.jpg")), {Y}, set()),  # new file in B
        (_up(_file("x", "fb", "x.jpg", rev=2)), {X, RelPath("B", "x.jpg")}, set()),  # moved
        (Change(seq=9, type="file", op="delete", id="x"), {X}, set()),  # deleted from A
        (_up(_folder("fa", "A renamed", rev=2)), set(), {"A", "A renamed"}),  # all its paths
        (_up(_folder("fc", "C")), set(), {"C"}),  # new folder
        (Change(seq=9, type="folder", op="delete", id="fa"), set(), {"A"}),
        (_up(_folder("fa", "A", rev=2)), set(), set()),  # counters changed, not its paths
        (_up(_file("x", "fa", "x.jpg", rev=0)), set(), set()),  # older than held: ignored
    ],
)
def test_touched_paths(change: Change, paths: set[RelPath], folders: set[str]) -> None:
    mirror = _mirror()
    mirror.take_touched()
    tree = mirror.tree()  # kept current from here on
    mirror.apply(change)
    touched = mirror.take_touched()
    assert (touched.paths, touched.folders, touched.everything) == (paths, folders, False)
    assert mirror.tree() == mirror._build_tree(), "the kept tree equals a rebuilt one"
    assert tree != mirror.tree() or not (paths or folders), "a snapshot taken before stays"


def test_apply_then_tree_places_files_under_their_folder_names() -> None:
    mirror = _mirror()
    mirror.apply(_up(_file("x", "fb", "x.jpg", rev=2)))
    mirror.apply(Change(seq=10, type="folder", op="delete", id="fa"))
    tree = mirror.tree()
    assert set(tree.files) == {RelPath("B", "x.jpg")}
    assert set(tree.folders) == {"B"}


def test_an_older_upsert_never_rolls_back_a_newer_rev() -> None:
    """A page computed before our own write arrives after it: the newer rev stays."""
    mirror = _mirror()
    mirror.remember_file(_file("x", "fa", "x.jpg", rev=3))
    mirror.apply(_up(_file("x", "fa", "old.jpg", rev=2)))
    assert mirror.files["x"].rev == 3 and mirror.files["x"].name == "x.jpg"
    mirror.apply(_up(_file("x", "fa", "new.jpg", rev=4)))
    assert mirror.files["x"].name == "new.jpg"


def test_replace_with_takes_the_staging_copy_and_replays_our_writes() -> None:
    """Writes made while a re-read was under way survive the swap; the live mirror is never
    partial: it is the old complete one until replace_with, the new one after."""
    live = _mirror()
    live.cursor = 50
    live.start_journal()
    live.remember_file(_file("up", "fb", "uploaded.jpg"))  # our upload during the re-read
    live.forget_file("x")  # our remote delete during the re-read
    staging = RemoteMirror(cursor=60)
    staging.folders = dict(_mirror().folders)
    staging.files = {"x": _compact_file("x", "fa", "x.jpg"), "y": _compact_file("y", "fa", "y.jpg")}
    assert set(live.files) == {"up"}  # applied to the live mirror at once
    live.replace_with(staging)
    assert live.cursor == 60
    assert set(live.files) == {"up", "y"}
    live.remember_file(_file("z", "fa", "z.jpg"))  # journal ended with the swap
    assert live._journal is None


def test_stopped_journal_is_not_replayed() -> None:
    live = _mirror()
    live.start_journal()
    live.remember_file(_file("up", "fb", "uploaded.jpg"))
    live.stop_journal()  # the re-read failed: the live mirror keeps its own state
    live.replace_with(RemoteMirror(cursor=7))
    assert live.files == {}


def test_rows_restore_round_trip() -> None:
    """The state DB copy (records in column order) restores to the same compact records."""
    mirror = _mirror()
    rows = mirror.rows()
    folders = [r for kind, _id, r in rows if kind == "folder" and isinstance(r, MirrorFolder)]
    files = [r for kind, _id, r in rows if kind == "file" and isinstance(r, MirrorFile)]
    restored = RemoteMirror()
    restored.restore(7, "ep", folders, files)
    assert (restored.folders, restored.files) == (mirror.folders, mirror.files)
