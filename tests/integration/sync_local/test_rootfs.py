"""The root probe and no-clobber placement on this machine's own file system (the exFAT side
is tests/e2e/test_exfat.py), and the scanner reading mapped names back and trusting coarse
stats only outside the racy window."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from syncd.errors import StaleError
from syncd.sync.ignore import IgnoreRules
from syncd.sync.localnames import parse_mappings
from syncd.sync.model import BaseFile, BaseTree, RelPath, RootTraits
from syncd.sync.rootfs import mount_type, place_new, probe_root, rename_noreplace
from syncd.sync.scanner import hash_file, scan


def test_probe_of_a_linux_file_system(tmp_path: Path) -> None:
    traits = probe_root(tmp_path)
    assert not traits.case_insensitive and not traits.windows_names and traits.stable_inodes
    assert traits.placement in ("link", "noreplace") and traits.max_file_bytes is None
    assert traits.mtime_granularity_ns <= 1_000  # ext4, xfs, btrfs, tmpfs, overlayfs: ns/us
    assert traits.fs_type == mount_type(tmp_path) != ""
    assert list(tmp_path.iterdir()) == [], "the probe leaves nothing behind"


@pytest.mark.parametrize("placement", ["link", "noreplace", "recheck"])
def test_place_new_never_clobbers(tmp_path: Path, placement: str) -> None:
    if placement == "noreplace":
        try:
            rename_noreplace(tmp_path / "missing", tmp_path / "other")
        except FileNotFoundError:
            pass
        except OSError as exc:
            pytest.skip(f"renameat2 not usable here: {exc}")
    temp, target = tmp_path / ".syncd-tmp-f1.part", tmp_path / "photo.jpg"
    temp.write_bytes(b"download")
    target.write_bytes(b"the user's file")
    with pytest.raises(StaleError):
        place_new(temp, target, placement)  # type: ignore[arg-type]
    assert target.read_bytes() == b"the user's file" and temp.exists()
    target.unlink()
    place_new(temp, target, placement)  # type: ignore[arg-type]
    assert target.read_bytes() == b"download" and not temp.exists()


def test_scanner_reads_mapped_names_back_and_drops_stale_mappings(tmp_path: Path) -> None:
    (tmp_path / "Bob_ plumber").mkdir()
    (tmp_path / "Bob_ plumber" / "a_b.jpg").write_bytes(b"colon")
    (tmp_path / "Bob_ plumber" / "new.txt").write_bytes(b"a new local file keeps its name")
    mappings = parse_mappings(
        {
            "Bob_ plumber": "Bob: plumber",
            "Bob: plumber/a_b.jpg": "Bob: plumber/a:b.jpg",
            "Bob: plumber/gone_.txt": "Bob: plumber/gone?.txt",
        }
    )
    result = scan(tmp_path, BaseTree(), IgnoreRules(), mappings=mappings)
    files = result.tree.files
    assert set(files) == {RelPath("Bob: plumber", "a:b.jpg"), RelPath("Bob: plumber", "new.txt")}
    assert files[RelPath("Bob: plumber", "a:b.jpg")].disk_name == "a_b.jpg"
    assert result.tree.folders["Bob: plumber"].disk_name == "Bob_ plumber"
    assert result.stale_mappings == [("Bob: plumber", "gone_.txt")]


def test_coarse_mtimes_rehash_only_inside_the_racy_window(tmp_path: Path) -> None:
    """On a 2 s root a same-size rewrite within one step keeps its stat: a file modified less
    than two steps ago is read again; an older one is trusted (no endless re-hashing)."""
    fat = RootTraits(mtime_granularity_ns=2_000_000_000, stable_inodes=False)
    path = tmp_path / "A" / "f.txt"
    path.parent.mkdir()
    path.write_bytes(b"12345")
    st = os.lstat(path)
    rel = RelPath("A", "f.txt")
    base = BaseTree({rel: BaseFile(rel, "f", "d", 1, "0" * 64, 5, st.st_mtime_ns, st.st_ino + 1)})
    hashed: list[Path] = []

    def hasher(p: Path) -> tuple[str, int]:
        hashed.append(p)
        return hash_file(p)

    scan(tmp_path, base, IgnoreRules(), hasher=hasher, traits=fat)
    assert hashed == [path], "modified just now: read again"
    old_ns = time.time_ns() - 10 * 1_000_000_000
    os.utime(path, ns=(old_ns, old_ns))
    base.files[rel] = BaseFile(rel, "f", "d", 1, "0" * 64, 5, old_ns, st.st_ino + 1)
    hashed.clear()
    result = scan(tmp_path, base, IgnoreRules(), hasher=hasher, traits=fat)
    assert hashed == [] and result.tree.files[rel].sha256 == "0" * 64


def test_file_over_the_roots_limit_is_refused_before_any_transfer(tmp_path: Path) -> None:
    """FAT32 holds files up to 4 GiB: a bigger download is refused at once with a clear reason
    (the engine reports it as a failure: status `attention`, `sync --once` exit 1), before a
    byte is fetched. No FAT32 mount is possible in CI containers, so the limit is set here."""
    import asyncio

    from syncd.errors import RootLimitError
    from syncd.sync.client import ApiClient
    from syncd.sync.disknames import DiskNames
    from syncd.sync.executor import Executor
    from syncd.sync.model import Download, RemoteFile
    from syncd.sync.remote import RemoteMirror
    from syncd.sync.statedb import StateDB
    from syncd.sync.status import StatusBoard

    fat32 = RootTraits(max_file_bytes=4 * 1024**3 - 1, fs_type="vfat", windows_names=True)
    db = StateDB.open(tmp_path / "state" / "state.db")
    root = tmp_path / "root"
    root.mkdir()

    async def run() -> None:
        client = ApiClient("http://127.0.0.1:9", "token")  # never contacted
        executor = Executor(root, client, db, RemoteMirror(), StatusBoard())
        executor.names = DiskNames(root, db, fat32)
        big = RemoteFile(RelPath("Alice", "film.mkv"), "f1", "d1", 5 * 1024**3, "0" * 64, 1, 1)
        try:
            with pytest.raises(RootLimitError, match=r"too big for this disk \(vfat .* 4 GiB\)"):
                await executor.run(Download(big, None))
        finally:
            await client.close()

    asyncio.run(run())
    db.close()
    assert list(root.iterdir()) == []
