"""Scans and plans one pass (docs/architecture.md "Incremental passes"): the folders to look at
again, the dirty paths, pending deletes and move partners, then the dirty-set plan, or the full
plan (start, overflow, re-read, audit) and the audit's comparison of the two."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from syncd.log import get_logger
from syncd.sync import model as m
from syncd.sync.dirty import (
    PendingDeletes,
    action_folders,
    action_paths,
    differences,
    moved_to,
    pass_scope,
    twins,
)
from syncd.sync.ignore import IgnoreRules
from syncd.sync.localnames import NameMap, mapping_row, parse_mappings
from syncd.sync.memory import collection_paused
from syncd.sync.planner import plan
from syncd.sync.remote import RemoteMirror
from syncd.sync.scanner import Hasher, ScanResult, disk_path, hash_file, scan
from syncd.sync.statedb import StateDB

if TYPE_CHECKING:
    from syncd.sync.engine import EngineOptions

log = get_logger("syncd.passes")
NS_PER_S = 1_000_000_000


@dataclass
class Planned:
    plan: m.Plan
    scan: ScanResult
    remote: m.RemoteTree
    mappings: NameMap
    folders: set[str] | None  # folders this pass looked at (None: all)


class PassPlanner:
    """What one pass plans, and what it remembers for the next: the last scan, pending
    deletes, follow-up paths (every path the last plan acted on) and folders to rescan."""

    def __init__(
        self, options: EngineOptions, db: StateDB, mirror: RemoteMirror, rules: IgnoreRules
    ) -> None:
        self.options, self.db, self.mirror, self.rules = options, db, mirror, rules
        self.local: m.LocalTree | None = None
        self.deletes = PendingDeletes()
        self.follow_ups: set[m.RelPath] = set()
        self.rescan_next: set[str] = set()
        self.next_check_ns: int | None = None  # a pending delete's confirmation is due
        self.audit_missed = 0
        self.hasher: Hasher = hash_file

    def plan(
        self,
        only: set[str] | None,
        *,
        traits: m.RootTraits,
        hostname: str,
        audit: set[str] | None = None,
        dry_run: bool = False,
    ) -> Planned:
        """Rescan `only` (None: every folder) and plan the dirty paths; everything when `only`
        is None or the remote view was re-read. `audit`: the folders hinted before this full
        pass; an action the full plan has and their dirty set lacks is a missed change."""
        with collection_paused():
            return self._plan_pass(only, traits, hostname, audit, dry_run)

    def _plan_pass(
        self,
        only: set[str] | None,
        traits: m.RootTraits,
        hostname: str,
        audit: set[str] | None,
        dry_run: bool,
    ) -> Planned:
        """The pass `plan` describes, with collection paused."""
        base = self.db.load_base()
        mappings = parse_mappings(self.db.mappings())
        previous = self.local
        confirm_ns = 0 if dry_run else self._confirm_ns()
        now_ns = time.time_ns()
        scanned = None
        if only is not None and previous is not None:
            scanned = only | self.rescan_next | self.deletes.due(now_ns, confirm_ns)
        result = self._scan(base, mappings, scanned, traits)
        for folder, disk in result.stale_mappings:
            self.db.delete_mapping(mapping_row(folder, disk, "")[0])
            mappings[folder].pop(disk, None)
        tree, remote = result.tree, self.mirror.tree()
        touched = self.mirror.take_touched()
        # an audit's scan is full: its dirty set is what an incremental pass would have had
        hinted = scanned if scanned is not None else (audit or set()) | self.rescan_next
        scope = pass_scope(
            previous, tree, remote, base, hinted, (touched.paths, touched.folders), self.follow_ups
        )
        full = scanned is None or touched.everything
        news = tree.files if scanned is None else scope.paths
        twin_paths = twins(news, tree, base)
        # A pending delete's entry is one we put back (its folder not rescanned since): a new
        # file holds its inode after a reuse of the freed number too, so it is a move only
        # when the new file also has its content (else it stays pending, behind the gate).
        pending = [q for q in twin_paths if q in self.deletes.since]
        seen_twice = [q for q in twin_paths if q not in self.deletes.since]
        if pending:
            new_files = [tree.files[p] for p in news if p in tree.files and p not in base.files]
            inodes = {f.inode: f.path for f in new_files}
            seen_twice += [q for q in pending if moved_to(base.files[q], inodes, tree) is not None]
        exact = traits.case_insensitive or traits.normalising
        moved = self._moved_away(seen_twice, tree, exact)
        held = self.deletes.hold(
            base.files.keys() - tree.files.keys() if scanned is None else scope.paths | moved,
            (tree, previous, scanned),
            base,
            now_ns=now_ns,
            confirm_ns=confirm_ns,
            exists=lambda p: _exists(self.options.root, previous or tree, p, exact),
            stable_inodes=traits.stable_inodes,
        )
        self.rescan_next, self.next_check_ns = held.rescan, held.next_ns
        dirty = scope.paths | moved | held.dirty
        self.local = tree
        log.debug(
            "pass_planned",
            full=full,
            scanned=len(tree.files),
            dirty=len(dirty),
            hashed=result.hashed,
        )
        if full and audit is None:
            # The full plan restricted to where the sides differ is the full plan
            # (tests/unit/sync/test_planner_dirty.py), at a cost of one comparison per file.
            dirty |= differences(tree, remote, base, traits)
            full = False
        planned = self._plan(tree, remote, base, traits, hostname, None if full else dirty)
        if audit is not None and not touched.everything and previous is not None:
            self._audit(planned, self._plan(tree, remote, base, traits, hostname, dirty))
        folders = None if scanned is None else {p.folder for p in dirty} | scanned
        return Planned(planned, result, remote, mappings, folders)

    def _confirm_ns(self) -> int:
        """How long a local delete stays pending: settle_s, and at least the watcher's longest
        delay, so the other end of a move (hinted in the same batch) is seen first."""
        o = self.options
        return int(max(o.settle_s, o.quiet_s + o.max_wait_s) * NS_PER_S)

    def after(self, planned: m.Plan, executed: list[m.Action]) -> None:
        """Every path the plan acted on is dirty for the next pass (retries, waits, re-plans);
        the folders an executed action changed are rescanned by it."""
        self.follow_ups = {p for a in planned.actions for p in action_paths(a)}
        self.rescan_next |= {f for a in executed for f in action_folders(a)}

    def _scan(
        self, base: m.BaseTree, mappings: NameMap, only: set[str] | None, traits: m.RootTraits
    ) -> ScanResult:
        return scan(
            self.options.root,
            base,
            self.rules,
            only=only,
            previous=self.local,
            hasher=self.hasher,
            traits=traits,
            mappings=mappings,
        )

    def _plan(
        self,
        local: m.LocalTree,
        remote: m.RemoteTree,
        base: m.BaseTree,
        traits: m.RootTraits,
        hostname: str,
        dirty: set[m.RelPath] | None,
    ) -> m.Plan:
        return plan(
            local,
            remote,
            base,
            mode=self.options.mode,
            hostname=hostname,
            now=datetime.now(UTC),
            traits=traits,
            dirty=dirty,
        )

    def _moved_away(
        self, candidates: list[m.RelPath], tree: m.LocalTree, exact: bool
    ) -> set[m.RelPath]:
        """Base paths a scan saw next to a new file with their inode: still there with that
        inode is a hard link; otherwise the file moved while the scan ran (or out of a folder
        not rescanned), so its old place is dropped and the move is planned as a rename."""
        gone = set()
        for p in candidates:
            path = disk_path(self.options.root, tree, p)
            try:
                same = os.lstat(path).st_ino == tree.files[p].inode and _named(path, exact)
            except OSError:
                same = False
            if not same:
                del tree.files[p]
                gone.add(p)
        return gone

    def _audit(self, full: m.Plan, partial: m.Plan) -> None:
        """The full plan may only differ from the dirty-set plan by changes whose events are
        still on their way (local entries changed within the debounce window)."""
        missed = [a for a in full.actions if a not in partial.actions and not self._recent(a)]
        for action in missed:
            paths = sorted(str(p) for p in action_paths(action))
            log.warning("audit_found_missed_change", action=type(action).__name__, paths=paths)
        self.audit_missed += len(missed)

    def _recent(self, action: m.Action) -> bool:
        """A local entry of the action changed within the debounce window (a file by its own
        times; a path with no file by its folder's, which a delete or a move out updates)."""
        window_ns = int((self.options.quiet_s + self.options.max_wait_s + 1.0) * NS_PER_S)
        since = time.time_ns() - window_ns
        for p in action_paths(action):
            try:
                st = os.lstat(self.options.root / p.folder / p.name)
            except FileNotFoundError:
                try:
                    st = os.lstat(self.options.root / p.folder)
                except OSError:
                    continue
            except OSError:
                continue
            if max(st.st_mtime_ns, st.st_ctime_ns) >= since:
                return True
        return False


def _exists(root: Path, tree: m.LocalTree, p: m.RelPath, exact: bool) -> bool:
    path = disk_path(root, tree, p)
    try:
        os.lstat(path)
    except FileNotFoundError:
        return False
    except OSError:
        return True  # cannot tell: not a confirmed delete
    try:
        return _named(path, exact)
    except OSError:
        return True


def _named(path: Path, exact: bool) -> bool:
    """The entry lstat found is spelled `path.name`: on a case-insensitive (or normalising)
    root `photo.jpg` also finds `PHOTO.jpg`, the new name of a case-only rename."""
    return not exact or path.name in os.listdir(path.parent)
