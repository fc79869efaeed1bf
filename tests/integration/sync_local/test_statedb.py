"""State DB on real SQLite files: migrations, round trips, transactions, folder re-keying."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from syncd.errors import LocalError
from syncd.sync.model import BaseFile, BaseFolder, RelPath
from syncd.sync.statedb import StateDB, default_state_path
from syncd.sync.statedb_schema import MIGRATIONS


def bf(folder: str, name: str, rev: int = 1, inode: int = 10) -> BaseFile:
    return BaseFile(
        RelPath(folder, name), f"file-{name}", f"folder-{folder}", rev, "ab" * 32, 5, 123, inode
    )


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "lib-1" / "state.db"


def test_migration_from_empty_creates_schema_in_wal(db_path: Path) -> None:
    db = StateDB.open(db_path)
    assert db.schema_version() == len(MIGRATIONS)
    db.close()
    conn = sqlite3.connect(db_path)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {
        "schema_version",
        "meta",
        "base_files",
        "base_folders",
        "items",
        "name_mappings",
    } <= tables
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()
    StateDB.open(db_path).close()  # reopening applies nothing and keeps the version


def test_newer_schema_is_refused(db_path: Path) -> None:
    StateDB.open(db_path).close()
    conn = sqlite3.connect(db_path)
    conn.execute("UPDATE schema_version SET version = 999")
    conn.commit()
    conn.close()
    with pytest.raises(LocalError, match="newer than this syncd"):
        StateDB.open(db_path)


def test_meta_round_trip_survives_reopen(db_path: Path) -> None:
    db = StateDB.open(db_path)
    assert db.cursor() == 0 and db.library_id() is None
    db.set_cursor(42)
    db.set_library_id("lib-1")
    db.close()
    db = StateDB.open(db_path)
    assert (db.cursor(), db.library_id()) == (42, "lib-1")
    db.close()


def test_base_round_trip(db_path: Path) -> None:
    db = StateDB.open(db_path)
    db.put_folder(BaseFolder("Alice", "folder-Alice", 7))
    db.put_file(bf("Alice", "a.jpg"))
    db.put_file(bf("Alice", "a.jpg", rev=2))  # replace
    db.put_file(bf("Alice", "b.jpg"))
    db.delete_file(RelPath("Alice", "b.jpg"))
    with db.transaction():  # a rename: both steps or neither
        db.delete_file(RelPath("Alice", "a.jpg"))
        db.put_file(bf("Alice", "c.jpg", rev=3))
    db.close()
    base = StateDB.open(db_path).load_base()
    assert base.folders == {"Alice": BaseFolder("Alice", "folder-Alice", 7)}
    assert base.files == {RelPath("Alice", "c.jpg"): bf("Alice", "c.jpg", rev=3)}


def test_load_base_returns_a_copy(db_path: Path) -> None:
    db = StateDB.open(db_path)
    snapshot = db.load_base()
    db.put_file(bf("A", "x"))
    assert snapshot.files == {}
    assert db.base_file(RelPath("A", "x")) == bf("A", "x")
    db.close()


def test_transaction_rolls_back_on_exception(db_path: Path) -> None:
    db = StateDB.open(db_path)
    db.put_file(bf("A", "kept"))
    with pytest.raises(RuntimeError), db.transaction():
        db.put_file(bf("A", "lost"))
        db.delete_file(RelPath("A", "kept"))
        db.set_cursor(99)
        raise RuntimeError("action failed")
    assert set(db.load_base().files) == {RelPath("A", "kept")}
    assert db.cursor() == 0
    db.close()
    assert set(StateDB.open(db_path).load_base().files) == {RelPath("A", "kept")}


def test_nested_transaction_rolls_back_only_inner(db_path: Path) -> None:
    db = StateDB.open(db_path)
    with db.transaction():
        db.put_file(bf("A", "outer"))
        with pytest.raises(ValueError), db.transaction():
            db.put_file(bf("A", "inner"))
            raise ValueError
    assert set(db.load_base().files) == {RelPath("A", "outer")}
    db.close()


def test_transaction_commits_atomically(db_path: Path) -> None:
    db = StateDB.open(db_path)
    with db.transaction():
        db.put_file(bf("A", "1"))
        db.put_file(bf("A", "2"))
        db.set_cursor(5)
        # A second connection sees nothing until commit.
        other = sqlite3.connect(db_path)
        assert other.execute("SELECT count(*) FROM base_files").fetchone()[0] == 0
        other.close()
    other = sqlite3.connect(db_path)
    assert other.execute("SELECT count(*) FROM base_files").fetchone()[0] == 2
    other.close()
    db.close()


def test_folder_rename_rekeys_its_files(db_path: Path) -> None:
    db = StateDB.open(db_path)
    db.put_folder(BaseFolder("Old", "folder-1", 7))
    db.put_folder(BaseFolder("Other", "folder-2", 8))
    db.put_file(bf("Old", "a.jpg"))
    db.put_file(bf("Old", "b.jpg"))
    db.put_file(bf("Other", "c.jpg"))
    db.load_base()  # warm the in-memory copy: it must follow the rename
    db.rename_folder("Old", BaseFolder("New", "folder-1", 7))
    for base in (db.load_base(), StateDB.open(db_path).load_base()):
        assert set(base.folders) == {"New", "Other"}
        assert set(base.files) == {
            RelPath("New", "a.jpg"),
            RelPath("New", "b.jpg"),
            RelPath("Other", "c.jpg"),
        }
        assert base.files[RelPath("New", "a.jpg")].file_id == "file-a.jpg"
    db.close()


def test_folder_rename_onto_existing_name_fails_and_changes_nothing(db_path: Path) -> None:
    db = StateDB.open(db_path)
    db.put_folder(BaseFolder("A", "f1", 1))
    db.put_folder(BaseFolder("B", "f2", 2))
    db.put_file(bf("A", "x"))
    db.put_file(bf("B", "x"))
    with pytest.raises(sqlite3.IntegrityError):
        db.rename_folder("A", BaseFolder("B", "f1", 1))
    base = db.load_base()
    assert set(base.folders) == {"A", "B"}
    assert set(base.files) == {RelPath("A", "x"), RelPath("B", "x")}
    db.close()


def test_delete_folder_keeps_file_entries(db_path: Path) -> None:
    db = StateDB.open(db_path)
    db.put_folder(BaseFolder("A", "f1", 1))
    db.put_file(bf("A", "x"))
    db.delete_folder("A")
    base = db.load_base()
    assert base.folders == {} and set(base.files) == {RelPath("A", "x")}
    db.close()


def test_items_and_mappings(db_path: Path) -> None:
    db = StateDB.open(db_path)
    db.set_item(RelPath("A", "big.mp4"), "waiting", "over quota", {"needed_bytes": 5})
    db.set_item("A/gone.jpg", "held", "big delete held")
    db.set_item("A/bad.jpg", "blocked", "invalid_name: contains a path separator")
    db.set_item("A/big.mp4", "waiting", "over quota", {"needed_bytes": 6})  # update
    assert [i.path for i in db.items()] == ["A/bad.jpg", "A/big.mp4", "A/gone.jpg"]
    (waiting,) = db.items("waiting")
    assert waiting.details == {"needed_bytes": 6} and waiting.reason == "over quota"
    db.clear_item("A/gone.jpg")
    assert db.items("held") == []
    with pytest.raises(ValueError):
        db.set_item("x", "bogus", "no")  # type: ignore[arg-type]
    db.put_mapping("A/a%2Fb.jpg", "A/a/b.jpg")
    assert db.mappings() == {"A/a%2Fb.jpg": "A/a/b.jpg"}
    db.delete_mapping("A/a%2Fb.jpg")
    assert db.mappings() == {}
    db.close()


def test_default_state_path_honours_xdg_and_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    assert default_state_path("lib-9") == tmp_path / "xdg" / "syncd" / "lib-9" / "state.db"
    assert default_state_path("lib-9", tmp_path / "mine") == tmp_path / "mine" / "state.db"


Remote = tuple[int, str | None, list[tuple[str, str, int]], list[tuple[object, ...]]]


def _remote(db: StateDB) -> Remote:
    cursor, epoch, folders, files = db.remote_rows()
    return cursor, epoch, sorted(folders), sorted(files)


def _file(i: str, rev: int = 1) -> tuple[str, str, str, int, str, int, int]:
    return (i, "fo1", f"{i}.jpg", 5, "ab" * 32, 123, rev)


def test_remote_copy_round_trip_applies_deltas_and_whole_reads(db_path: Path) -> None:
    """The remote mirror's copy: a whole read replaces everything, a delta upserts and
    deletes rows; cursor and epoch move in the same transaction; a reopen sees the same."""
    db = StateDB.open(db_path)
    assert _remote(db) == (0, None, [], [])
    db.save_remote(
        [
            ("folder", "fo1", ("fo1", "A", 1)),
            ("file", "fi1", _file("fi1")),
            ("file", "fi2", _file("fi2")),
        ],
        10,
        "ep_a",
        replace_all=True,
    )
    db.save_remote(
        [("file", "fi1", None), ("file", "fi3", _file("fi3")), ("file", "fi2", _file("fi2", 2))],
        12,
        "ep_a",
        replace_all=False,
    )
    db.close()
    db = StateDB.open(db_path)
    assert _remote(db) == (12, "ep_a", [("fo1", "A", 1)], [_file("fi2", 2), _file("fi3")])
    db.save_remote([("file", "fi9", _file("fi9"))], 3, "ep_b", replace_all=True)  # a re-read
    assert _remote(db) == (3, "ep_b", [], [_file("fi9")])
    db.close()


def test_v2_json_copy_is_kept_in_columns_by_the_v3_migration(db_path: Path) -> None:
    """A v2 copy (compact JSON rows, or the whole wire object older versions stored) becomes
    the same records in columns, with its cursor: the first start after the upgrade resumes
    from it instead of reading the whole library again."""
    conn = sqlite3.connect(db_path.parent.mkdir(parents=True) or db_path, isolation_level=None)
    conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    conn.execute("INSERT INTO schema_version (version) VALUES (2)")
    MIGRATIONS[0](conn)
    MIGRATIONS[1](conn)
    conn.execute("INSERT INTO meta (key, value) VALUES ('cursor', '77'), ('epoch', 'ep')")
    compact = '{"id": "fi1", "folder_id": "fo1", "name": "fi1.jpg", "size": 5, '
    compact += f'"sha256": "{"ab" * 32}", "mtime_ns": 123, "rev": 1}}'
    wire = compact.replace('"fi1', '"fi2').replace("}", ', "mime": "image/jpeg", "kind": "image"}')
    rows = [("folder", "fo1", '{"id": "fo1", "name": "A", "rev": 1, "file_count": 2}')]
    rows += [("file", "fi1", compact), ("file", "fi2", wire)]
    conn.executemany("INSERT INTO remote_objects (kind, id, data) VALUES (?, ?, ?)", rows)
    conn.close()
    db = StateDB.open(db_path)
    assert _remote(db) == (77, "ep", [("fo1", "A", 1)], [_file("fi1"), _file("fi2")])
    db.close()


def test_v1_cursor_is_dropped_by_the_v2_migration(db_path: Path) -> None:
    """A v1 daemon kept its mirror in memory: its cursor must not be resumed with an empty
    copy (every file would read as deleted on the server); the first start reads it all."""
    conn = sqlite3.connect(db_path.parent.mkdir(parents=True) or db_path, isolation_level=None)
    conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    conn.execute("INSERT INTO schema_version (version) VALUES (0)")
    MIGRATIONS[0](conn)
    conn.execute("UPDATE schema_version SET version = 1")
    conn.execute("INSERT INTO meta (key, value) VALUES ('cursor', '4242')")
    conn.close()
    db = StateDB.open(db_path)
    assert db.schema_version() == len(MIGRATIONS) and _remote(db) == (0, None, [], [])
    db.close()
