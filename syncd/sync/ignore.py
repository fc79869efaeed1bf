"""Which paths under the sync root are never synced (DESIGN §2): fixed OS/editor droppings,
the daemon's own files, and the user's gitignore-syntax patterns from config."""

from __future__ import annotations

from collections.abc import Iterable

import pathspec

# DESIGN §2: editor and OS droppings, matched at any depth (gitignore semantics).
FIXED_PATTERNS: tuple[str, ...] = (
    "*.part",
    "*.crdownload",
    "*.tmp",
    "~$*",
    ".~lock.*#",
    "*.swp",
    ".DS_Store",
    "Thumbs.db",
    "desktop.ini",
)

# The daemon writes downloads to `.syncd-tmp-*` next to their target; they must never be
# uploaded, whatever folder they are in.
TEMP_PREFIX = ".syncd-tmp-"
MARKER_NAME = ".syncd-root"

# Root-level names that are not library folders. `.syncd*` is ours (marker, future files);
# `.Trash*` and `lost+found` appear when the root is the top of a mounted disk: the
# freedesktop Trash puts remote-origin deletes in `$topdir/.Trash-$uid`, and syncing that
# back as a folder would re-upload every deleted file.
ROOT_PATTERNS: tuple[str, ...] = ("/.syncd*", "/.Trash", "/.Trash-*", "/lost+found")


class IgnoreRules:
    """`is_ignored("Folder/name")` for files, `is_ignored("Folder", is_dir=True)` for folders.

    Paths are relative to the sync root, '/'-separated, without a leading slash."""

    def __init__(self, user_patterns: Iterable[str] = ()) -> None:
        self.user_patterns = [p for p in user_patterns if p.strip()]
        lines = [*FIXED_PATTERNS, *ROOT_PATTERNS, f"{TEMP_PREFIX}*", *self.user_patterns]
        self._spec = pathspec.GitIgnoreSpec.from_lines(lines)

    def is_ignored(self, rel: str, *, is_dir: bool = False) -> bool:
        rel = rel.strip("/")
        if not rel:
            return False  # the root itself
        # gitignore: a pattern ending in "/" only matches directories, spelled with a slash.
        candidate = rel + "/" if is_dir else rel
        return bool(self._spec.match_file(candidate))
