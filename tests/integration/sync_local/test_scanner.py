"""Scanner on real temp directories: every skip reason, hashing only what changed, NFD and
invalid UTF-8 names, symlinks never followed, files vanishing or changing while scanned."""

from __future__ import annotations

import hashlib
import os
import socket
import stat
import unicodedata
from collections.abc import Callable
from pathlib import Path

import pytest

from syncd.errors import RootMissingError
from syncd.sync.ignore import IgnoreRules
from syncd.sync.model import BaseFile, BaseFolder, BaseTree, LocalTree, RelPath
from syncd.sync.scanner import (
    INVALID_UTF8,
    NESTED,
    SYMLINK,
    ScanResult,
    Skipped,
    disk_path,
    hash_file,
    merge_skipped,
    scan,
)

RULES = IgnoreRules()
AS_ROOT = os.geteuid() == 0


class CountingHasher:
    def __init__(self, before: Callable[[Path], None] | None = None) -> None:
        self.paths: list[Path] = []
        self.before = before

    def __call__(self, path: Path) -> tuple[str, int]:
        self.paths.append(path)
        if self.before is not None:
            self.before(path)
        return hash_file(path)


def write(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def base_from(result: ScanResult) -> BaseTree:
    """What the base would hold after syncing everything the scan saw."""
    files = {}
    for rel, f in result.tree.files.items():
        assert f.sha256 is not None
        files[rel] = BaseFile(
            rel, "id-" + str(rel), "fid", 1, f.sha256, f.size, f.mtime_ns, f.inode
        )
    folders = {n: BaseFolder(n, "fid-" + n, f.inode) for n, f in result.tree.folders.items()}
    return BaseTree(files=files, folders=folders)


def reasons(result: ScanResult) -> dict[str, str]:
    return {s.path: s.reason for s in result.skipped}


def test_regular_tree_is_snapshotted_with_hashes(tmp_path: Path) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)  # several 1 MiB chunks
    big = write(tmp_path / "Alice" / "video.mp4", data)
    write(tmp_path / "Bob" / "a.jpg", b"bob")
    (tmp_path / "Empty").mkdir()
    result = scan(tmp_path, BaseTree(), RULES)
    assert set(result.tree.folders) == {"Alice", "Bob", "Empty"}
    f = result.tree.files[RelPath("Alice", "video.mp4")]
    st = os.lstat(big)
    assert (f.size, f.mtime_ns, f.inode) == (st.st_size, st.st_mtime_ns, st.st_ino)
    assert f.sha256 == hashlib.sha256(data).hexdigest()
    assert result.skipped == [] and result.hashed == 2


def test_hash_file_streams_and_counts_bytes(tmp_path: Path) -> None:
    data = os.urandom(2 * 1024 * 1024 + 5)
    sha, size = hash_file(write(tmp_path / "f", data))
    assert (sha, size) == (hashlib.sha256(data).hexdigest(), len(data))


def test_hash_file_refuses_a_symlink(tmp_path: Path) -> None:
    (tmp_path / "link").symlink_to("/etc/passwd")
    with pytest.raises(OSError):
        hash_file(tmp_path / "link")


def test_each_skip_reason_is_reported(tmp_path: Path) -> None:
    write(tmp_path / "Alice" / "ok.jpg")
    (tmp_path / "Alice" / "passwd").symlink_to("/etc/passwd")
    (tmp_path / "Linked").symlink_to(tmp_path / "Alice")
    os.mkfifo(tmp_path / "Alice" / "pipe")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(tmp_path / "Alice" / "sock"))
    write(tmp_path / "Alice" / "Sub" / "deep.jpg")
    write(tmp_path / "loose.jpg")
    write(tmp_path / "Alice" / "bad\nname.jpg")
    try:
        hasher = CountingHasher()
        result = scan(tmp_path, BaseTree(), RULES, hasher=hasher)
    finally:
        sock.close()
    got = reasons(result)
    assert got["Alice/passwd"] == SYMLINK
    assert got["Linked"] == SYMLINK
    assert got["Alice/pipe"] == "special file (FIFO): not synced"
    assert got["Alice/sock"] == "special file (socket): not synced"
    assert got["Alice/Sub"] == NESTED
    assert got["loose.jpg"] == NESTED
    assert got["Alice/bad\nname.jpg"].startswith("name not allowed: contains NUL or a control")
    assert set(result.tree.files) == {RelPath("Alice", "ok.jpg")}
    assert set(result.tree.folders) == {"Alice"}
    assert hasher.paths == [tmp_path / "Alice" / "ok.jpg"], "nothing but the file was read"


def test_device_node_is_special(tmp_path: Path) -> None:
    (tmp_path / "A").mkdir()
    try:
        os.mknod(tmp_path / "A" / "null", stat.S_IFCHR | 0o600, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("no CAP_MKNOD here")
    result = scan(tmp_path, BaseTree(), RULES)
    assert reasons(result) == {"A/null": "special file (device): not synced"}
    assert not result.tree.files


def test_ignored_files_are_silent(tmp_path: Path) -> None:
    write(tmp_path / ".syncd-root", b"{}")
    write(tmp_path / "A" / ".syncd-tmp-123")
    write(tmp_path / "A" / "x.part")
    write(tmp_path / "A" / "notes.log")
    (tmp_path / ".Trash-1000" / "files").mkdir(parents=True)
    result = scan(tmp_path, BaseTree(), IgnoreRules(["*.log"]))
    assert result.skipped == []
    assert set(result.tree.folders) == {"A"} and not result.tree.files


def test_invalid_utf8_names_are_reported_not_synced(tmp_path: Path) -> None:
    root = os.fsencode(tmp_path)
    os.mkdir(root + b"/Alice")
    with open(root + b"/Alice/caf\xe9.jpg", "wb") as f:  # Latin-1 bytes
        f.write(b"x")
    os.mkdir(root + b"/Bad\xff")
    result = scan(tmp_path, BaseTree(), RULES)
    assert reasons(result) == {"Alice/caf\\xe9.jpg": INVALID_UTF8, "Bad\\xff": INVALID_UTF8}
    assert set(result.tree.folders) == {"Alice"} and not result.tree.files


def test_nfd_names_map_to_nfc_and_remember_the_disk_name(tmp_path: Path) -> None:
    folder_nfd = unicodedata.normalize("NFD", "José Álvarez")
    name_nfd = unicodedata.normalize("NFD", "café.jpg")
    write(tmp_path / folder_nfd / name_nfd, b"cafe")
    result = scan(tmp_path, BaseTree(), RULES)
    rel = RelPath("José Álvarez", "café.jpg")  # NFC literals
    assert rel in result.tree.files
    assert result.tree.files[rel].disk_name == name_nfd
    assert result.tree.folders["José Álvarez"].disk_name == folder_nfd
    assert disk_path(tmp_path, result.tree, rel).read_bytes() == b"cafe"


def test_nfc_nfd_clash_keeps_the_nfc_spelling(tmp_path: Path) -> None:
    write(tmp_path / "A" / unicodedata.normalize("NFD", "é.jpg"), b"nfd")
    write(tmp_path / "A" / "é.jpg", b"nfc")
    result = scan(tmp_path, BaseTree(), RULES)
    f = result.tree.files[RelPath("A", "é.jpg")]
    assert f.disk_name is None and f.size == 3
    assert len(result.skipped) == 1
    assert "after Unicode normalisation" in result.skipped[0].reason


def test_hashes_only_what_changed(tmp_path: Path) -> None:
    write(tmp_path / "A" / "same.jpg", b"same")
    edited = write(tmp_path / "A" / "edited.jpg", b"v1")
    write(tmp_path / "B" / "moved.jpg", b"moved")
    first = scan(tmp_path, BaseTree(), RULES)
    base = base_from(first)

    hasher = CountingHasher()
    assert scan(tmp_path, base, RULES, hasher=hasher).hashed == 0
    assert hasher.paths == []

    edited.write_bytes(b"v2 longer")
    os.rename(tmp_path / "B" / "moved.jpg", tmp_path / "A" / "renamed.jpg")  # same inode
    write(tmp_path / "A" / "new.jpg", b"new")
    for changed in (edited, tmp_path / "A" / "new.jpg"):  # written a while ago: not racy
        _backdate(changed)
    hasher = CountingHasher()
    result = scan(tmp_path, base, RULES, hasher=hasher)
    assert sorted(p.name for p in hasher.paths) == ["edited.jpg", "new.jpg"]
    assert (
        result.tree.files[RelPath("A", "edited.jpg")].sha256
        == hashlib.sha256(b"v2 longer").hexdigest()
    )
    renamed = result.tree.files[RelPath("A", "renamed.jpg")]
    assert renamed.sha256 == base.files[RelPath("B", "moved.jpg")].sha256  # copied, not read

    # A file changed but not synced yet is not re-read while it stays the same.
    hasher = CountingHasher()
    scan(tmp_path, base, RULES, previous=result.tree, hasher=hasher)
    assert hasher.paths == []


def _backdate(path: Path, seconds: int = 10) -> None:
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns - seconds * 1_000_000_000))


def test_racily_clean_rewrite_is_read_again(tmp_path: Path) -> None:
    """A same-size rewrite within the clock tick of the write its hash saw leaves size, mtime
    and inode unchanged (simulated here by restoring the mtime): a hash taken that soon is
    not trusted by the next scan, so the new bytes are read; one taken later is."""
    photo = write(tmp_path / "A" / "photo.jpg", b"version A")
    first = scan(tmp_path, BaseTree(), RULES)
    assert first.tree.files[RelPath("A", "photo.jpg")].racy
    mtime_ns = photo.stat().st_mtime_ns
    photo.write_bytes(b"version B")  # same size, same inode
    os.utime(photo, ns=(mtime_ns, mtime_ns))  # the same tick: the stat says nothing changed
    second = scan(tmp_path, BaseTree(), RULES, previous=first.tree)
    assert (
        second.tree.files[RelPath("A", "photo.jpg")].sha256
        == hashlib.sha256(b"version B").hexdigest()
    )
    _backdate(photo)
    third = scan(tmp_path, BaseTree(), RULES, previous=second.tree)
    settled = scan(tmp_path, BaseTree(), RULES, previous=third.tree, hasher=CountingHasher())
    assert not third.tree.files[RelPath("A", "photo.jpg")].racy and settled.hashed == 0


def test_only_rescans_named_folders(tmp_path: Path) -> None:
    write(tmp_path / "A" / "a1.jpg")
    write(tmp_path / "B" / "b1.jpg")
    write(tmp_path / "stray.jpg")
    first = scan(tmp_path, BaseTree(), RULES)
    write(tmp_path / "A" / "a2.jpg")
    write(tmp_path / "B" / "b2.jpg")
    write(tmp_path / "C" / "c1.jpg")
    (tmp_path / "B" / "b1.jpg").unlink()
    result = scan(tmp_path, BaseTree(), RULES, only={"A", "C", "Gone"}, previous=first.tree)
    assert set(result.tree.files) == {
        RelPath("A", "a1.jpg"),
        RelPath("A", "a2.jpg"),
        RelPath("B", "b1.jpg"),  # B not rescanned: copied from previous
        RelPath("C", "c1.jpg"),
    }
    assert set(result.tree.folders) == {"A", "B", "C"}
    assert result.scanned == {"A", "C", "Gone"}
    assert result.skipped == []  # stray.jpg is outside `only`
    assert merge_skipped(first.skipped, result) == [Skipped("stray.jpg", NESTED)]


def test_only_without_previous_is_a_full_scan(tmp_path: Path) -> None:
    write(tmp_path / "A" / "a.jpg")
    write(tmp_path / "B" / "b.jpg")
    result = scan(tmp_path, BaseTree(), RULES, only={"A"})
    assert set(result.tree.folders) == {"A", "B"} and result.scanned is None


def test_removed_folder_disappears_on_rescan(tmp_path: Path) -> None:
    write(tmp_path / "A" / "a.jpg")
    first = scan(tmp_path, BaseTree(), RULES)
    (tmp_path / "A" / "a.jpg").unlink()
    (tmp_path / "A").rmdir()
    result = scan(tmp_path, BaseTree(), RULES, only={"A"}, previous=first.tree)
    assert result.tree == LocalTree()


def test_file_vanishing_during_scan_is_absent(tmp_path: Path) -> None:
    write(tmp_path / "A" / "keep.jpg")
    write(tmp_path / "A" / "vanish.jpg")

    def remove_vanish(path: Path) -> None:
        if path.name == "vanish.jpg":
            path.unlink()

    result = scan(tmp_path, BaseTree(), RULES, hasher=CountingHasher(remove_vanish))
    assert set(result.tree.files) == {RelPath("A", "keep.jpg")}
    assert result.skipped == []


def test_file_changing_while_hashed_gets_no_hash(tmp_path: Path) -> None:
    target = write(tmp_path / "A" / "growing.mp4", b"0" * 1000)

    def append(path: Path) -> None:
        with open(path, "ab") as f:
            f.write(b"more")

    result = scan(tmp_path, BaseTree(), RULES, hasher=CountingHasher(append))
    f = result.tree.files[RelPath("A", "growing.mp4")]
    assert f.sha256 is None, "a hash of bytes that are no longer there must not be trusted"
    assert f.size == os.lstat(target).st_size == 1004


def test_unreadable_file_stays_in_tree_and_is_reported(tmp_path: Path) -> None:
    write(tmp_path / "A" / "secret.jpg")

    def deny(path: Path) -> tuple[str, int]:
        raise PermissionError(13, "Permission denied", str(path))

    result = scan(tmp_path, BaseTree(), RULES, hasher=deny)
    f = result.tree.files[RelPath("A", "secret.jpg")]
    assert f.sha256 is None  # present (absent would read as a delete), but not hashed
    assert reasons(result) == {"A/secret.jpg": "cannot read: permission denied (not uploaded)"}


@pytest.mark.skipif(AS_ROOT, reason="root reads files whatever their mode")
def test_unreadable_file_real_permissions(tmp_path: Path) -> None:
    path = write(tmp_path / "A" / "secret.jpg")
    path.chmod(0)
    result = scan(tmp_path, BaseTree(), RULES)
    assert "permission denied" in reasons(result)["A/secret.jpg"]


@pytest.mark.skipif(AS_ROOT, reason="root lists folders whatever their mode")
def test_unreadable_folder_keeps_known_files(tmp_path: Path) -> None:
    write(tmp_path / "A" / "a.jpg")
    first = scan(tmp_path, BaseTree(), RULES)
    (tmp_path / "A").chmod(0)
    try:
        result = scan(tmp_path, BaseTree(), RULES, previous=first.tree)
    finally:
        (tmp_path / "A").chmod(0o755)
    assert result.tree == first.tree
    assert reasons(result)["A"].startswith("cannot read folder")


def test_missing_root_raises(tmp_path: Path) -> None:
    with pytest.raises(RootMissingError, match="not reachable"):
        scan(tmp_path / "nope", BaseTree(), RULES)
    write(tmp_path / "file")
    with pytest.raises(RootMissingError, match="not a directory"):
        scan(tmp_path / "file", BaseTree(), RULES)
