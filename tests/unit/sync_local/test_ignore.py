"""Ignore rules of DESIGN §2, table-driven: fixed droppings, our own files, root-only names and
user gitignore patterns."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from syncd.sync.ignore import BUILT_IN, BUILT_IN_REGEX, IgnoreRules, _one_regex, compile_spec

RULES = IgnoreRules(["*.log", "drafts/", "/Private", "!keep.log"])

CASES = [
    # (path, is_dir, ignored, why)
    ("Alice/IMG-1.jpg", False, False, "an ordinary media file"),
    ("Alice/video.mp4.part", False, True, "partial download"),
    ("Alice/file.crdownload", False, True, "Chrome partial download"),
    ("Alice/x.tmp", False, True, "temp file"),
    ("Alice/~$report.docx", False, True, "Office owner file"),
    ("Alice/.~lock.sheet.ods#", False, True, "LibreOffice lock"),
    ("Alice/.notes.txt.swp", False, True, "vim swap"),
    ("Alice/.DS_Store", False, True, "macOS droppings"),
    ("Alice/Thumbs.db", False, True, "Windows thumbnails"),
    ("Alice/desktop.ini", False, True, "Windows folder settings"),
    ("Alice/.syncd-tmp-abc123", False, True, "our download temp file"),
    (".syncd-tmp-marker-x", False, True, "our marker temp file at root"),
    (".syncd-root", False, True, "the marker"),
    (".syncd-anything", False, True, "root-level .syncd* is ours"),
    ("Alice/.syncd-root", False, False, ".syncd* is reserved only at root level"),
    (".Trash-1000", True, True, "freedesktop trash at a mount top"),
    (".Trash", True, True, "shared trash at a mount top"),
    ("lost+found", True, True, "fsck directory at a mount top"),
    ("Alice/.Trash-1000", True, False, "only at root level"),
    ("Alice/chat.log", False, True, "user pattern *.log"),
    ("Alice/keep.log", False, False, "user negation !keep.log"),
    ("drafts", True, True, "user dir pattern drafts/ matches a folder"),
    ("Alice/drafts", False, False, "drafts/ does not match a file"),
    ("Private", True, True, "anchored user pattern at root"),
    ("Alice/Private", False, False, "anchored pattern does not match deeper"),
    ("", True, False, "the root itself is never ignored"),
    ("Campaign assets/price list.pdf", False, False, "spaces are ordinary"),
]


@pytest.mark.parametrize(("path", "is_dir", "ignored", "why"), CASES)
def test_ignore_table(path: str, is_dir: bool, ignored: bool, why: str) -> None:
    assert RULES.is_ignored(path, is_dir=is_dir) is ignored, why


def test_blank_user_patterns_are_dropped() -> None:
    rules = IgnoreRules(["", "   "])
    assert rules.user_patterns == []
    assert not rules.is_ignored("Alice/photo.jpg")


PLAIN = IgnoreRules(["*.log", "drafts/", "/Private", "build/**/*.o", "a?c"])  # no negation


@pytest.mark.parametrize(("path", "is_dir", "ignored", "why"), CASES)
def test_fast_path_agrees_with_pathspec_on_the_table(
    path: str, is_dir: bool, ignored: bool, why: str
) -> None:
    """Without negations one combined regex answers; it must agree with pathspec."""
    assert PLAIN._any is not None and RULES._any is None  # RULES has `!keep.log`
    assert PLAIN._spec is not None
    candidate = path.strip("/") + ("/" if is_dir else "")
    if path.strip("/"):
        assert PLAIN.is_ignored(path, is_dir=is_dir) == bool(PLAIN._spec.match_file(candidate))


def test_built_in_regex_is_pathspecs_translation() -> None:
    """Without user patterns the rules use BUILT_IN_REGEX and never import pathspec: it
    must stay what pathspec makes of the built-in patterns."""
    translated = _one_regex(compile_spec(list(BUILT_IN)))
    assert translated is not None and translated.pattern == BUILT_IN_REGEX
    bare = IgnoreRules()
    for path, is_dir, ignored, why in CASES:
        if "user" not in why:
            assert bare.is_ignored(path, is_dir=is_dir) is ignored, why


_SEGMENT = st.text(alphabet="abc.log~$#-_/ POrivatedfsbuild*", min_size=1, max_size=12)


@given(path=_SEGMENT, is_dir=st.booleans())
def test_fast_path_agrees_with_pathspec(path: str, is_dir: bool) -> None:
    assert PLAIN._spec is not None
    candidate = path.strip("/") + ("/" if is_dir else "")
    if path.strip("/"):
        assert PLAIN.is_ignored(path, is_dir=is_dir) == bool(PLAIN._spec.match_file(candidate))
