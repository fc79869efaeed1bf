"""The remote mirror applies the change feed, and says which local folders a change touches
(so a remote change rescans only those folders)."""

from __future__ import annotations

import pytest

from syncd.protocol import Change, File, Folder
from syncd.sync.model import RelPath
from syncd.sync.remote import RemoteMirror, touched_folders


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
    mirror.folders = {"fa": _folder("fa", "A"), "fb": _folder("fb", "B")}
    mirror.files = {"x": _file("x", "fa", "x.jpg")}
    return mirror


def _up(obj: Folder | File) -> Change:
    kind = "folder" if isinstance(obj, Folder) else "file"
    return Change(seq=9, type=kind, op="upsert", id=obj.id, object=obj)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (_up(_file("y", "fb", "y.jpg")), {"B"}),  # new file in B
        (_up(_file("x", "fb", "x.jpg", rev=2)), {"A", "B"}),  # moved A -> B
        (Change(seq=9, type="file", op="delete", id="x"), {"A"}),  # deleted from A
        (_up(_folder("fa", "A renamed", rev=2)), None),  # folder renamed: everything
        (_up(_folder("fc", "C")), None),  # new folder: everything
        (_up(_folder("fa", "A")), set()),  # repeated for ordering, unchanged
    ],
)
def test_touched_folders(change: Change, expected: set[str] | None) -> None:
    assert touched_folders(_mirror(), change) == expected


def test_apply_then_tree_places_files_under_their_folder_names() -> None:
    mirror = _mirror()
    mirror.apply(_up(_file("x", "fb", "x.jpg", rev=2)))
    mirror.apply(Change(seq=10, type="folder", op="delete", id="fa"))
    tree = mirror.tree()
    assert set(tree.files) == {RelPath("B", "x.jpg")}
    assert set(tree.folders) == {"B"}
