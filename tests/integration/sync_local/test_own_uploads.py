"""Uploads noted before they are sent (state DB v4) and adopted as the base when the mirror
shows the server holds exactly that version: the note goes with any base write of its path."""

from __future__ import annotations

from pathlib import Path

import pytest

from syncd.protocol import File, Folder
from syncd.sync.model import BaseFile, RelPath
from syncd.sync.own import adopt_own_uploads
from syncd.sync.remote import RemoteMirror
from syncd.sync.statedb import SentUpload, StateDB

CLIP = RelPath("Alice", "clip.mp4")
OLD, NEW = "aa" * 32, "bb" * 32


def server_file(sha256: str, rev: int) -> File:
    return File(
        id="fi_clip", folder_id="fo_alice", name="clip.mp4", size=9, sha256=sha256,
        mime="video/mp4", kind="video", source="upload", created_at="2026-12-02T00:00:00Z",
        modified_at="2026-12-02T00:00:00Z", mtime_ns=1, rev=rev,
    )  # fmt: skip


def mirror_holding(sha256: str, rev: int) -> RemoteMirror:
    mirror = RemoteMirror()
    mirror.remember_folder(
        Folder(id="fo_alice", name="Alice", kind="custom", participant=None, file_count=1,
               bytes=9, rev=1)
    )  # fmt: skip
    mirror.remember_file(server_file(sha256, rev))
    return mirror


@pytest.fixture
def db(tmp_path: Path) -> StateDB:
    db = StateDB.open(tmp_path / "state.db")
    db.put_file(BaseFile(CLIP, "fi_clip", "fo_alice", 1, OLD, 9, 100, 7))
    return db


def test_the_servers_copy_of_a_noted_upload_becomes_the_base(db: StateDB) -> None:
    db.note_upload(SentUpload(CLIP, NEW, mtime_ns=200, inode=8))
    assert adopt_own_uploads(db, mirror_holding(NEW, rev=2)) == [CLIP]
    base = db.base_file(CLIP)
    assert base is not None and (base.sha256, base.rev, base.mtime_ns, base.inode) == (
        NEW, 2, 200, 8,
    )  # fmt: skip
    assert db.uploads_sent() == []  # adopted once


@pytest.mark.parametrize(
    ("held_sha", "held_rev", "why"),
    [(OLD, 1, "the server never stored it"), ("cc" * 32, 3, "another version came since")],
)
def test_a_noted_upload_the_server_does_not_hold_changes_nothing(
    db: StateDB, held_sha: str, held_rev: int, why: str
) -> None:
    db.note_upload(SentUpload(CLIP, NEW, mtime_ns=200, inode=8))
    assert adopt_own_uploads(db, mirror_holding(held_sha, held_rev)) == [], why
    base = db.base_file(CLIP)
    assert base is not None and base.sha256 == OLD
    assert [s.path for s in db.uploads_sent()] == [CLIP]  # kept: the answer may come later


def test_any_base_write_of_the_path_drops_its_note(db: StateDB, tmp_path: Path) -> None:
    db.note_upload(SentUpload(CLIP, NEW, mtime_ns=200, inode=8))
    db.put_file(BaseFile(CLIP, "fi_clip", "fo_alice", 5, "dd" * 32, 9, 300, 9))
    assert db.uploads_sent() == []
    db.note_upload(SentUpload(CLIP, NEW, mtime_ns=200, inode=8))
    db.delete_file(CLIP)
    assert db.uploads_sent() == []
    db.note_upload(SentUpload(CLIP, NEW, mtime_ns=200, inode=8))
    db.close()
    reopened = StateDB.open(tmp_path / "state.db")  # the note survives a restart
    assert [s.sha256 for s in reopened.uploads_sent()] == [NEW]
