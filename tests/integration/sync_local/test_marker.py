"""Missing-root guard on real directories (DESIGN §5.1)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from syncd.errors import ConfigError, RootMissingError
from syncd.sync.marker import (
    check_root,
    check_state_outside_root,
    marker_path,
    read_marker,
    write_marker,
)


def test_write_then_read_marker(tmp_path: Path) -> None:
    written = write_marker(tmp_path, "lib-1", "shop")
    data = json.loads(marker_path(tmp_path).read_text())
    assert data == {"library_id": "lib-1", "user": "shop", "created_at": written.created_at}
    assert read_marker(tmp_path) == written
    assert os.listdir(tmp_path) == [".syncd-root"], "no temp file left behind"
    check_root(tmp_path, "lib-1", first_sync=False)


def test_missing_root_is_refused_even_on_first_sync(tmp_path: Path) -> None:
    for first in (True, False):
        with pytest.raises(RootMissingError, match="does not exist"):
            check_root(tmp_path / "unmounted", "lib-1", first_sync=first)
    (tmp_path / "file").write_text("x")
    with pytest.raises(RootMissingError, match="not a directory"):
        check_root(tmp_path / "file", "lib-1", first_sync=True)


def test_missing_marker_is_fine_only_on_first_sync(tmp_path: Path) -> None:
    check_root(tmp_path, "lib-1", first_sync=True)
    with pytest.raises(RootMissingError, match=r"no \.syncd-root marker"):
        check_root(tmp_path, "lib-1", first_sync=False)


def test_marker_of_another_library_is_refused(tmp_path: Path) -> None:
    write_marker(tmp_path, "lib-other", "someone")
    for first in (True, False):
        with pytest.raises(RootMissingError, match="belongs to library lib-other"):
            check_root(tmp_path, "lib-1", first_sync=first)


def test_damaged_marker_is_refused(tmp_path: Path) -> None:
    marker_path(tmp_path).write_text("{not json")
    with pytest.raises(RootMissingError, match="damaged"):
        check_root(tmp_path, "lib-1", first_sync=True)


def test_state_db_inside_root_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "root"
    with pytest.raises(ConfigError):
        check_state_outside_root(root / ".state" / "state.db", root)
    check_state_outside_root(tmp_path / "state" / "state.db", root)
