"""Where each remote name lives on disk during one pass: the spellings the scan found, the state
DB's name mappings, and the disk names chosen (and recorded) for new files and folders on roots
that fold case or refuse names (exFAT/FAT/NTFS). On a plain root every name is itself."""

from __future__ import annotations

import os
import stat
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from syncd.sync.localnames import (
    NameMap,
    disk_name_for,
    fold,
    local_form,
    mapping_row,
    stored_as_reason,
)
from syncd.sync.model import LocalTree, RelPath, RemoteTree, RootTraits
from syncd.sync.scanner import disk_path
from syncd.sync.statedb import StateDB


@dataclass
class DiskNames:
    root: Path
    db: StateDB
    traits: RootTraits = field(default_factory=RootTraits)
    tree: LocalTree = field(default_factory=LocalTree)
    remote: RemoteTree = field(default_factory=RemoteTree)
    mappings: NameMap = field(default_factory=dict)  # remote folder ('' = root) -> disk -> remote
    # Per folder path: folded disk name -> spelling, listed once per pass and kept current.
    _listed: dict[Path, dict[str, str]] = field(default_factory=dict)

    # ---- existing names -----------------------------------------------------------------

    def _mapped_disk(self, folder: str, name: str) -> str | None:
        return next((d for d, r in self.mappings.get(folder, {}).items() if r == name), None)

    def folder_disk(self, name: str) -> str:
        """Disk name of the (remote-named) folder: as scanned, as mapped, else itself."""
        local = self.tree.folders.get(name)
        if local is not None:
            return local.disk_name or name
        return self._mapped_disk("", name) or name

    def folder_path(self, name: str) -> Path:
        return self.root / self.folder_disk(name)

    def file_path(self, rel: RelPath) -> Path:
        """Where an existing file lives: as scanned, as mapped, else under its own name."""
        if rel in self.tree.files:
            return disk_path(self.root, self.tree, rel)
        disk = self._mapped_disk(rel.folder, rel.name) or rel.name
        return self.folder_path(rel.folder) / disk

    def stored_as(self) -> list[tuple[str, str]]:
        """(remote path, why it has another disk name) for every mapping, for `syncd status`."""
        out = []
        for folder, names in sorted(self.mappings.items()):
            for disk, remote in sorted(names.items()):
                path = f"{folder}/{remote}" if folder else remote
                out.append((path, stored_as_reason(remote, disk)))
        return out

    # ---- new names ----------------------------------------------------------------------

    def _taken(self, directory: Path) -> dict[str, str]:
        taken = self._listed.get(directory)
        if taken is None:
            try:
                names = os.listdir(directory)
            except FileNotFoundError:
                names = []
            taken = {fold(unicodedata.normalize("NFC", n), self.traits): n for n in names}
            self._listed[directory] = taken
        return taken

    def _wanted(self, folder: str | None, name: str) -> dict[str, str]:
        """Folded names other remote entries of the folder hold as they are (None: folders)."""
        if folder is None:
            names = list(self.remote.folders)
        else:
            names = [p.name for p in self.remote.files if p.folder == folder]
        return {
            fold(n, self.traits): n for n in names if n != name and local_form(n, self.traits) == n
        }

    def _record(self, folder: str, disk: str, name: str) -> None:
        if disk != name:
            self.db.put_mapping(*mapping_row(folder, disk, name))
            self.mappings.setdefault(folder, {})[disk] = name

    def adopt_folder(self, disk: str, name: str) -> None:
        """The local folder `disk` is the remote folder `name` on this disk (another case)."""
        self._record("", disk, name)

    def forget(self, folder: str, name: str) -> None:
        """The disk entry of this remote name is gone: its mapping maps nothing any more."""
        disk = self._mapped_disk(folder, name)
        if disk is not None:
            self.db.delete_mapping(mapping_row(folder, disk, name)[0])
            del self.mappings[folder][disk]

    def folder_renamed(self, old: str, new: str) -> None:
        """The state DB re-keyed the folder's file mappings (StateDB.rename_folder); so do we."""
        if old in self.mappings:
            self.mappings[new] = self.mappings.pop(old)

    def moved(self, source: Path, target: Path | None) -> None:
        """Keep the listed names current after our own rename (target) or delete (None)."""
        for path, present in ((source, False), (target, True)):
            if path is None or path.parent not in self._listed:
                continue
            key = fold(unicodedata.normalize("NFC", path.name), self.traits)
            if present:
                self._listed[path.parent][key] = path.name
            else:
                self._listed[path.parent].pop(key, None)

    def new_file_path(self, rel: RelPath, leaving: Path | None = None) -> Path:
        """Disk path for a file that does not exist locally yet (a download, a rename target,
        a conflict copy); `leaving`: the file being renamed there, whose name is free then.
        Records the mapping when the disk name differs, and reserves the name for this pass."""
        directory = self.folder_path(rel.folder)
        if self.traits.plain:
            return directory / rel.name
        taken = dict(self._taken(directory))
        if leaving is not None and leaving.parent == directory:
            taken.pop(fold(unicodedata.normalize("NFC", leaving.name), self.traits), None)
        disk = self._mapped_disk(rel.folder, rel.name)
        if disk is None or fold(disk, self.traits) in taken:
            disk = disk_name_for(rel.name, self.traits, taken, self._wanted(rel.folder, rel.name))
        self._record(rel.folder, disk, rel.name)
        self._listed[directory][fold(disk, self.traits)] = disk
        return directory / disk

    def new_folder_path(self, name: str, leaving: str | None = None) -> Path:
        """Disk path for a folder to make or rename to. An existing folder that is this name on
        this disk (another case) is adopted: both sides' files meet in it, as for a folder new
        on both sides."""
        if self.traits.plain:
            return self.root / name
        taken = dict(self._taken(self.root))
        if leaving is not None:
            taken.pop(fold(unicodedata.normalize("NFC", leaving), self.traits), None)
        want = local_form(name, self.traits)
        holder = taken.get(fold(want, self.traits))
        if holder is not None and _is_dir(self.root / holder) and holder != leaving:
            disk = holder
        else:
            disk = disk_name_for(name, self.traits, taken, self._wanted(None, name))
        self._record("", disk, name)
        self._listed[self.root][fold(disk, self.traits)] = disk
        return self.root / disk


def _is_dir(path: Path) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False
