"""Disk names on exFAT/FAT/NTFS-like roots (syncd/sync/localnames.py) and the stat comparison
such roots need (RootTraits.same_stat), with the planner that uses it."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syncd.protocol import MAX_NAME_BYTES, name_key, name_problem
from syncd.sync import model as m
from syncd.sync.localnames import (
    clash_name,
    disk_name_for,
    fold,
    local_form,
    mapping_row,
    parse_mappings,
    safe_name,
    stored_as_reason,
    windows_problem,
)
from tests.unit.sync.helpers import HOST, NOW

EXFAT = m.RootTraits(
    case_insensitive=True,
    windows_names=True,
    stable_inodes=False,
    mtime_granularity_ns=1_000_000_000,
    placement="recheck",
)
EXT4 = m.RootTraits()


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("Photo.JPG", "Photo.JPG"),
        ("Invoice: March?.pdf", "Invoice_ March_.pdf"),
        ('a*b"c<d>e|f\\g.txt', "a_b_c_d_e_f_g.txt"),
        ("notes.", "notes_"),
        ("trailing .. ", "trailing____"),
        ("tab\there.txt", "tab_here.txt"),
        ("CON.txt", "CON_.txt"),
        ("lpt1", "lpt1_"),
        ("CONSOLE.txt", "CONSOLE.txt"),
        ("émoji 🎉.jpg", "émoji 🎉.jpg"),
        (".bashrc", ".bashrc"),
    ],
)
def test_safe_name(name: str, safe: str) -> None:
    assert safe_name(name) == safe
    assert (windows_problem(name) is None) == (name == safe)
    assert windows_problem(safe) is None


@pytest.mark.parametrize(
    ("name", "taken", "wanted", "traits", "expected"),
    [
        # a plain name that is free keeps itself, on any root
        ("Photo.JPG", {}, {}, EXFAT, "Photo.JPG"),
        # another spelling of it is on the disk already: one name on a case-insensitive root
        ("report.PDF", {"report.pdf": "Report.pdf"}, {}, EXFAT, "report (case clash).PDF"),
        ("report.PDF", {"report.pdf": "Report.pdf"}, {}, EXT4, "report.PDF"),
        # refused characters: the safe spelling
        ("a:b.jpg", {}, {}, EXFAT, "a_b.jpg"),
        ("a:b.jpg", {}, {}, EXT4, "a:b.jpg"),
        # the safe spelling is another remote file's own name (present or still to come)
        ("a:b.jpg", {"a_b.jpg": "a_b.jpg"}, {}, EXFAT, "a_b (name clash).jpg"),
        ("a:b.jpg", {}, {"a_b.jpg": "a_b.jpg"}, EXFAT, "a_b (name clash).jpg"),
        ("a:b.jpg", {}, {"a_b.jpg": "A_B.jpg"}, EXFAT, "a_b (name clash).jpg"),
        # the clash copy itself is taken: numbered
        (
            "a:b.jpg",
            {"a_b.jpg": "a_b.jpg", "a_b (name clash).jpg": "a_b (name clash).jpg"},
            {},
            EXFAT,
            "a_b (name clash 2).jpg",
        ),
    ],
)
def test_disk_name_for(
    name: str, taken: dict[str, str], wanted: dict[str, str], traits: m.RootTraits, expected: str
) -> None:
    assert disk_name_for(name, traits, taken, wanted) == expected


def test_clash_name_stays_within_255_bytes() -> None:
    long = "é" * 125 + ".jpg"
    copy = clash_name(long, "case clash", {}, EXFAT)
    assert copy.endswith(" (case clash).jpg") and len(copy.encode()) <= MAX_NAME_BYTES
    absurd = "x." + "y" * 250
    assert len(clash_name(absurd, "name clash", {}, EXFAT).encode()) <= MAX_NAME_BYTES


def test_fold() -> None:
    nfd = unicodedata.normalize("NFD", "Café.jpg")
    assert fold(nfd, EXT4) == "Café.jpg" != fold("CAFÉ.JPG", EXT4)
    assert fold(nfd, EXFAT) == fold("CAFÉ.JPG", EXFAT)


def test_mapping_rows_round_trip() -> None:
    rows = dict(
        [
            mapping_row("Shop", "a_b.jpg", "a:b.jpg"),
            mapping_row("Shop", "report (case clash).PDF", "report.PDF"),
            mapping_row("", "Bob_ plumber", "Bob: plumber"),
            mapping_row("Bob: plumber", "x_.txt", "x?.txt"),
        ]
    )
    assert rows["Shop/a_b.jpg"] == "Shop/a:b.jpg"
    assert parse_mappings(rows) == {
        "Shop": {"a_b.jpg": "a:b.jpg", "report (case clash).PDF": "report.PDF"},
        "": {"Bob_ plumber": "Bob: plumber"},
        "Bob: plumber": {"x_.txt": "x?.txt"},
    }


def test_stored_as_reason() -> None:
    assert "refuses" in stored_as_reason("a:b.jpg", "a_b.jpg")
    assert "dot or a space" in stored_as_reason("notes.", "notes_")
    assert "case clash" in stored_as_reason("report.PDF", "report (case clash).PDF")
    assert "name clash" in stored_as_reason("a:b.jpg", "a_b (name clash).jpg")


# ---- properties ------------------------------------------------------------------------------

NAME_CHARS = st.characters(
    blacklist_categories=("Cs",), blacklist_characters="/\x00"
) | st.sampled_from(list(':*?"<>|\\. aAbBßé'))
server_names = (
    st.text(NAME_CHARS, min_size=1, max_size=40)
    .map(lambda n: unicodedata.normalize("NFC", n))
    .filter(lambda n: name_problem(n) is None)
)


@given(server_names)
def test_local_form_is_always_safe_and_short(name: str) -> None:
    disk = local_form(name, EXFAT)
    assert windows_problem(disk) is None
    assert len(disk.encode()) <= MAX_NAME_BYTES + 1  # a device stem gains one "_"
    assert local_form(name, EXT4) == name


@settings(max_examples=300)
@given(st.lists(server_names, max_size=12), st.lists(server_names, max_size=4))
def test_every_remote_name_gets_its_own_disk_name(names: list[str], local: list[str]) -> None:
    """Names the server holds in one folder (unique by name_key) next to local files it has
    not got: each gets a disk name no other entry has on this disk, so no file hides another,
    and names the disk can hold that nothing else holds keep themselves."""
    unique = list({name_key(n): n for n in names}.values())
    taken = {fold(n, EXFAT): n for n in local}
    wanted = {fold(n, EXFAT): n for n in unique if local_form(n, EXFAT) == n}
    for name in unique:
        others = {k: v for k, v in wanted.items() if v != name}
        disk = disk_name_for(name, EXFAT, taken, others)
        assert fold(disk, EXFAT) not in taken
        assert windows_problem(disk) is None
        if local_form(name, EXFAT) == name and fold(name, EXFAT) not in taken:
            assert disk == name
        taken[fold(disk, EXFAT)] = disk


# ---- stat comparison on coarse roots ---------------------------------------------------------


@pytest.mark.parametrize(
    ("traits", "a", "b", "same"),
    [
        (EXT4, (5, 1_000, 7), (5, 1_000, 7), True),
        (EXT4, (5, 1_000, 7), (5, 1_001, 7), False),
        (EXT4, (5, 1_000, 7), (5, 1_000, 8), False),
        (EXFAT, (5, 2_000_000_000, 7), (5, 2_400_000_000, 9), True),  # cached vs stored
        (EXFAT, (5, 2_000_000_000, 7), (5, 3_000_000_000, 7), False),
        (EXFAT, (5, 2_000_000_000, 7), (6, 2_000_000_000, 7), False),
    ],
)
def test_same_stat(
    traits: m.RootTraits, a: tuple[int, int, int], b: tuple[int, int, int], same: bool
) -> None:
    assert traits.same_stat(a, b) is same


def test_planner_sees_no_change_in_a_remount_or_a_rounded_mtime() -> None:
    """An unhashed local file whose inode changed (a remount of a FAT-family drive) and whose
    mtime moved within the granularity is unchanged there; on ext4 the same stat is a change."""
    from syncd.sync.planner import plan

    path = m.RelPath("Alice", "a.jpg")
    sha = "ab" * 32
    base = m.BaseFile(path, "f1", "d1", 1, sha, 5, 2_000_000_000, 7)
    remote = m.RemoteFile(path, "f1", "d1", 5, sha, 1, 1)
    local = m.LocalFile(path, 5, 2_300_000_000, 99, None)
    trees = (
        m.LocalTree({path: local}, {"Alice": m.LocalFolder("Alice", 3)}),
        m.RemoteTree({path: remote}, {"Alice": m.RemoteFolder("Alice", "d1", 1)}),
        m.BaseTree({path: base}, {"Alice": m.BaseFolder("Alice", "d1", 3)}),
    )
    assert not plan(*trees, hostname=HOST, now=NOW, traits=EXFAT)
    assert [type(a).__name__ for a in plan(*trees, hostname=HOST, now=NOW).actions] == ["Upload"]
