"""Pure helpers of the client commands: durations, the plain usage bar, folder lookup."""

from __future__ import annotations

import click
import pytest

from syncd import client_render
from syncd.client_commands import find_folder, parse_duration_s
from syncd.client_render import plain_bar, trash_plain
from syncd.protocol import Folder


def test_parse_duration() -> None:
    assert parse_duration_s("90") == 90
    assert parse_duration_s("90s") == 90
    assert parse_duration_s("30m") == 1800
    assert parse_duration_s("12h") == 43_200
    assert parse_duration_s("7d") == 604_800
    assert parse_duration_s("2w") == 1_209_600
    for bad in ("soon", "7 days", "-1d", ""):
        with pytest.raises(click.BadParameter):
            parse_duration_s(bad)


def test_plain_bar() -> None:
    assert plain_bar(0, 100, width=10) == "[..........]"
    assert plain_bar(50, 100, width=10) == "[#####.....]"
    assert plain_bar(250, 100, width=10) == "[##########]"  # over quota: full, never longer
    assert plain_bar(5, 0, width=4) == "[####]"  # no limit


def _folder(fid: str, name: str) -> Folder:
    return Folder(id=fid, name=name, kind="custom", participant=None, file_count=0, bytes=0, rev=1)


def test_find_folder_by_name_key_then_id() -> None:
    folders = [_folder("fo_1", "José Álvarez"), _folder("fo_2", "Campaign")]
    assert find_folder(folders, "JOSE\u0301 ÁLVAREZ") is folders[0]  # NFD + case-folded
    assert find_folder(folders, "fo_2") is folders[1]
    assert find_folder(folders, "nobody") is None


def test_trash_plain() -> None:
    assert trash_plain([]) == "the server trash is empty"
    item = {
        "deleted_at": "2026-11-24T09:12:44.123456Z",
        "expires_at": "2026-12-01T09:12:44.123456Z",
        "size": 1500,
        "folder_name": "Alice",
        "name": "a.jpg",
    }
    lines = trash_plain([item]).splitlines()
    assert lines[0].split() == ["DELETED", "SIZE", "FILE", "EXPIRES"]
    assert lines[1].split() == [
        "2026-11-24T09:12:44Z",
        "1.5",
        "KiB",
        "Alice/a.jpg",
        "2026-12-01T09:12:44Z",
    ]


def test_files_plain_shows_a_caption_column_only_when_a_file_has_one() -> None:
    plain = {"name": "a.jpg", "size": 10, "modified_at": "2026-12-02T10:00:00.000Z"}
    assert "CAPTION" not in client_render.files_plain([plain])
    long_caption = "Voilà la liste\ndes prix " + "x" * 80
    lines = client_render.files_plain([plain, {**plain, "caption": long_caption}]).splitlines()
    assert lines[0].split() == ["NAME", "SIZE", "MODIFIED", "CAPTION"]
    assert lines[2].rstrip().endswith("…") and "Voilà la liste des prix" in lines[2]
