"""Local (disk) spellings of remote names on roots that fold case, normalise Unicode or refuse
Windows characters (exFAT/FAT/NTFS drives): the safe spelling of a name, the clash copy when two
names are one on this disk, and the state DB's name mappings. Pure (tests/unit/test_purity.py)."""

from __future__ import annotations

import posixpath
import unicodedata
from collections.abc import Mapping

from syncd.protocol import MAX_NAME_BYTES
from syncd.sync.model import RootTraits

WINDOWS_REFUSED = frozenset('<>:"\\|?*')
WINDOWS_RESERVED = frozenset(
    {
        "CON",
        "PRN",
        "AUX",
        "NUL",
        *(f"COM{i}" for i in range(1, 10)),
        *(f"LPT{i}" for i in range(1, 10)),
    }
)
CASE_CLASH = "case clash"
NAME_CLASH = "name clash"

# remote folder name ('' for the root's own entries, i.e. folders) -> {disk name: remote name}
NameMap = dict[str, dict[str, str]]


def fold(name: str, traits: RootTraits) -> str:
    """The key under which this root sees two names as one. NFC always: the scanner reads every
    disk name as NFC, so two spellings of one NFC name are one name on any root."""
    nfc = unicodedata.normalize("NFC", name)
    return nfc.casefold() if traits.case_insensitive else nfc


def windows_problem(name: str) -> str | None:
    """Why an exFAT/FAT/NTFS disk (or Windows reading it) cannot hold `name`, or None."""
    if any(ch in WINDOWS_REFUSED or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in name):
        return 'holds a character this disk refuses (: * ? " < > | \\ or a control character)'
    if name.endswith((".", " ")):
        return "ends with a dot or a space"
    if name.split(".", 1)[0].rstrip(" ").upper() in WINDOWS_RESERVED:
        return "is a device name on Windows"
    return None


def safe_name(name: str) -> str:
    """`name` with every refused character, and each trailing dot or space, replaced by `_`,
    and a Windows device stem (`CON.txt`) suffixed by `_`."""
    out = "".join(
        "_" if ch in WINDOWS_REFUSED or ord(ch) < 0x20 or ord(ch) == 0x7F else ch for ch in name
    )
    kept = out.rstrip(". ")
    out = kept + "_" * (len(out) - len(kept))
    stem = out.split(".", 1)[0]
    if stem.rstrip(" ").upper() in WINDOWS_RESERVED:
        out = stem + "_" + out[len(stem) :]
    return out


def local_form(name: str, traits: RootTraits) -> str:
    """The spelling this root can hold (the name itself on most roots)."""
    return safe_name(name) if traits.windows_names and windows_problem(name) else name


def _utf8_prefix(text: str, max_bytes: int) -> str:
    return text.encode("utf-8")[: max(0, max_bytes)].decode("utf-8", errors="ignore")


def clash_name(name: str, tag: str, taken: Mapping[str, str], traits: RootTraits) -> str:
    """`stem (tag)[ N].ext`, free under this root's folding and at most 255 UTF-8 bytes."""
    stem, ext = posixpath.splitext(name)
    n = 1
    while True:
        suffix = f" ({tag}{f' {n}' if n > 1 else ''})"
        budget = MAX_NAME_BYTES - len((suffix + ext).encode("utf-8"))
        if budget < 1:  # absurd extension: fold it into the stem and cut that instead
            stem, ext = name, ""
            budget = MAX_NAME_BYTES - len(suffix.encode("utf-8"))
        candidate = _utf8_prefix(stem, budget) + suffix + ext
        if fold(candidate, traits) not in taken:
            return candidate
        n += 1


def disk_name_for(
    name: str, traits: RootTraits, taken: Mapping[str, str], wanted: Mapping[str, str]
) -> str:
    """The disk name a new remote file or folder `name` gets: its own name when this root can
    hold it and nothing holds it yet; else its safe spelling when that is free and no other
    remote name in the folder is that spelling; else a clash copy.

    taken: folded disk names present (files, folders, anything) -> their spelling;
    wanted: folded names the other remote entries of the folder hold as they are."""
    want = local_form(name, traits)
    key = fold(want, traits)
    if key not in taken and (want == name or key not in wanted):
        return want
    # "case clash": the name itself was fine, another spelling of it (case, Unicode form) holds
    # it on this disk; "name clash": its safe spelling is someone else's name.
    holder = taken.get(key, wanted.get(key, ""))
    tag = CASE_CLASH if want == name and holder != want else NAME_CLASH
    return clash_name(want, tag, {**wanted, **taken}, traits)


def stored_as_reason(remote_name: str, disk_name: str) -> str:
    """Why a remote name lives under another disk name (for `syncd status`)."""
    if disk_name == safe_name(remote_name):
        return f"stored as {disk_name!r}: the name {windows_problem(remote_name)}"
    tag = CASE_CLASH if f"({CASE_CLASH}" in disk_name else NAME_CLASH
    return f"stored as {disk_name!r}: {tag} with another name on this disk"


# ---- the state DB's name_mappings rows (flat "folder/disk" -> "folder/remote") ----------------


def parse_mappings(rows: Mapping[str, str]) -> NameMap:
    """Rows -> NameMap. A row without "/" maps a folder; else a file in the remote folder."""
    out: NameMap = {}
    for disk_key, remote_key in rows.items():
        folder, _, disk = disk_key.rpartition("/")
        out.setdefault(folder, {})[disk] = remote_key.rpartition("/")[2]
    return out


def mapping_row(folder: str, disk_name: str, remote_name: str) -> tuple[str, str]:
    """(disk key, remote key) of one mapping; folder '' maps a folder itself."""
    if not folder:
        return disk_name, remote_name
    return f"{folder}/{disk_name}", f"{folder}/{remote_name}"
