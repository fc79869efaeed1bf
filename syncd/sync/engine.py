"""One reconcile pass (check root -> scan -> plan -> gate -> execute -> commit) and the state it
needs across passes. The long-running loop that decides *when* to reconcile is in daemon.py."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from syncd.errors import (
    ApiError,
    FileChangedError,
    LocalError,
    QuotaExceeded,
    TransportError,
    Unauthorized,
)
from syncd.log import get_logger
from syncd.protocol import Account
from syncd.sync import model as m
from syncd.sync.client import ApiClient
from syncd.sync.disknames import DiskNames
from syncd.sync.executor import RETRY_LATER, Executor, Reporter
from syncd.sync.gate import Gated, QuotaView, gate
from syncd.sync.ignore import IgnoreRules
from syncd.sync.marker import check_root, write_marker
from syncd.sync.own import adopt_own_uploads
from syncd.sync.passes import PassPlanner
from syncd.sync.planner import plan
from syncd.sync.pool import run_file_actions
from syncd.sync.remote import FeedDelta, RemoteMirror, pull_changes
from syncd.sync.rootfs import probe_root
from syncd.sync.scanner import Skipped, merge_skipped
from syncd.sync.settle import SettleTracker
from syncd.sync.statedb import StateDB
from syncd.sync.transfer import sweep_temps

log = get_logger("syncd.engine")


@dataclass
class EngineOptions:
    root: Path
    mode: str = "mirror"
    transfers: int = 4
    max_delete: int = 50
    settle_s: float = 1.0
    quiet_s: float = 0.2  # watcher debounce: quiet period
    max_wait_s: float = 2.0  # watcher debounce: longest delay of a hint
    small_file_bytes: int = 1 << 20  # files up to this size travel many per request
    ignore: list[str] = field(default_factory=list)


@dataclass
class PassResult:
    gated: Gated
    executed: int
    failed: list[tuple[str, str]]
    skipped: list[tuple[str, str]]
    stored_as: list[tuple[str, str]] = field(default_factory=list)  # mapped names + why
    check_at_ns: int | None = None  # a pending local delete is confirmed then

    @property
    def progressed(self) -> bool:
        return self.executed > 0

    @property
    def wake_at_ns(self) -> int | None:
        """When a pass has work again without any new event: a file settles, a delete is due
        for its second look."""
        times = [t for t in (self.gated.unsettled_next_ns, self.check_at_ns) if t is not None]
        return min(times, default=None)


def _action_path(action: m.Action) -> str:
    for attr in ("local", "remote", "base"):
        value = getattr(action, attr, None)
        if value is not None:
            return str(getattr(value, "path", getattr(value, "name", "")))
    return str(getattr(action, "path", getattr(action, "name", "")))


def _nothing(_action: m.Action) -> None:
    pass


def _log_pass(gated: Gated, executed: int, failed: int, took_s: float) -> None:
    """One info line per pass that did something; the per-file lines are at debug."""
    actions = [*gated.run_first, *gated.run_files, *gated.run_last]
    if not actions and not gated.held:
        return
    log.info(
        "pass_finished",
        planned=dict(Counter(type(action).__name__ for action in actions)),
        executed=executed,
        failed=failed,
        held=len(gated.held),
        took_s=round(took_s, 3),
    )


class Engine:
    """Holds the client, the state DB and the remote mirror; `reconcile()` is one pass."""

    def __init__(
        self, options: EngineOptions, client: ApiClient, db: StateDB, reporter: Reporter
    ) -> None:
        self.options = options
        self.client = client
        self.db = db
        self.mirror = RemoteMirror()
        self.rules = IgnoreRules(options.ignore)
        self.account: Account | None = None
        self.deletes_approved = False
        self.hostname = socket.gethostname()
        self._sem = asyncio.Semaphore(options.transfers)
        self.executor = Executor(
            options.root,
            client,
            db,
            self.mirror,
            reporter,
            slots=self._sem,
            small_file_bytes=options.small_file_bytes,
        )
        self.held: list[m.Action] = []
        self.settle = SettleTracker()  # fed write/close events by the daemon
        self.skipped: list[Skipped] = []
        self.offline = False  # a transfer in the last pass could not reach the server
        self._saved_at: tuple[int, str | None] | None = None  # cursor, epoch of the DB copy
        self.traits = m.RootTraits()
        self._probed: tuple[int, int] | None = None  # (st_dev, st_ino) of the probed root
        self._inflight_bytes = 0
        self._open_items: set[str] = set()  # paths with an item row, read at a pass's start
        self.on_done: Callable[[m.Action], None] = _nothing  # the daemon's activity log
        self.passes = PassPlanner(options, db, self.mirror, self.rules)
        self._done: list[m.Action] = []  # actions executed by the running pass
        self._swept: set[str] | None = None  # folders the running pass looked at (None: all)
        self._no_temps = False  # the last scan saw none of our temp files, and nothing ran since

    # ---- remote -------------------------------------------------------------------------

    async def refresh_account(self) -> Account:
        self.account = await self.client.account()
        return self.account

    def restore_mirror(self) -> None:
        """Load the remote mirror from the state DB's copy, so the first pull resumes from
        its cursor (a delta) instead of re-reading the whole library."""
        self.mirror.restore(*self.db.remote_rows())
        self._saved_at = (self.mirror.cursor, self.mirror.epoch)

    async def pull(self, wait_s: int = 0) -> FeedDelta:
        delta = await pull_changes(self.client, self.mirror, wait_s=wait_s)
        # No await from the swap in pull_changes to here: a pass never sees the new view with
        # the old base, and the copy on disk moves with the view.
        if delta.rewound:
            self._forget_lost_base()
        at = (self.mirror.cursor, self.mirror.epoch)
        if delta.rows or delta.snapshot or at != self._saved_at:  # an empty long poll: no write
            self.db.save_remote(delta.rows, *at, replace_all=delta.snapshot)
            self._saved_at = at
        return delta

    def _forget_lost_base(self) -> None:
        """The server went back in time (restored from an older backup): what it lost is not a
        delete anyone made. Forget the base of files and folders it no longer knows, so our
        local copies are uploaded again instead of moved to the Trash."""
        base = self.db.load_base()
        lost_files = [f.path for f in base.files.values() if f.file_id not in self.mirror.files]
        lost_folders = [
            f.name for f in base.folders.values() if f.folder_id not in self.mirror.folders
        ]
        with self.db.transaction():
            for path in lost_files:
                self.db.delete_file(path)
            for name in lost_folders:
                self.db.delete_folder(name)
        log.warning("base_forgotten_after_rewind", files=len(lost_files), folders=len(lost_folders))

    def quota(self) -> QuotaView | None:
        if self.account is None:
            return None
        return QuotaView(self.account.quota.used_bytes, self.account.quota.limit_bytes)

    # ---- root guard ---------------------------------------------------------------------

    def is_first_sync(self) -> bool:
        """True until the marker was written once for this state DB."""
        return self.db.library_id() is None and not self.db.load_base().folders

    def prepare_root(self) -> None:
        """Create the root on the very first sync only; later a missing root means trouble."""
        if self.is_first_sync() and not self.options.root.exists():
            self.options.root.mkdir(parents=True)
            log.info("root_created", root=str(self.options.root))

    def guard_root(self, dry_run: bool = False) -> None:
        """Raise RootMissingError unless the root and its marker are ours (DESIGN §5.1)."""
        assert self.account is not None
        first_sync = self.is_first_sync()
        check_root(self.options.root, self.account.library_id, first_sync)
        if first_sync and not dry_run:
            write_marker(self.options.root, self.account.library_id, self.account.user.name)
            self.db.set_library_id(self.account.library_id)

    def probe_root(self) -> None:
        """Learn what the root's file system can do, once per root: again only when another
        file system is mounted there (an unplugged disk came back, or a different one)."""
        st = os.stat(self.options.root)
        if self._probed == (st.st_dev, st.st_ino):
            return
        try:
            self.traits = probe_root(self.options.root)
        except OSError as exc:  # read-only root...: assume a Linux file system
            log.warning("root_probe_failed", root=str(self.options.root), error=str(exc))
            self.traits = m.RootTraits()
        self._probed = (st.st_dev, st.st_ino)

    # ---- one pass -----------------------------------------------------------------------

    def make_plan(
        self, only: set[str] | None = None, *, audit: set[str] | None = None, dry_run: bool = False
    ) -> m.Plan:
        planned = self.passes.plan(
            only, traits=self.traits, hostname=self.hostname, audit=audit, dry_run=dry_run
        )
        self._swept = planned.folders
        self._no_temps = planned.scan.temp_free
        self.skipped = merge_skipped(self.skipped, planned.scan)
        self.executor.names = DiskNames(
            self.options.root,
            self.db,
            self.traits,
            planned.scan.tree,
            planned.remote,
            planned.mappings,
        )
        return planned.plan

    def _gate(self, planned: m.Plan) -> Gated:
        return gate(
            planned,
            now_ns=time.time_ns(),
            settle_s=self.options.settle_s,
            quota=self.quota(),
            inflight_bytes=self._inflight_bytes,
            max_delete=self.options.max_delete,
            deletes_approved=self.deletes_approved,
            open_writers=self.settle.open_writers(time.monotonic()),
            closed=self.settle.closed(),
        )

    async def reconcile(
        self, only: set[str] | None = None, dry_run: bool = False, audit: set[str] | None = None
    ) -> PassResult:
        """One pass over the folders in `only` and the dirty paths (None: everything); `audit`:
        a full pass that also checks the dirty sets held every change (daemon.py)."""
        if dry_run and self.is_first_sync() and not self.options.root.exists():
            # The first sync would create the root: show that plan without creating it.
            planned = plan(
                m.LocalTree(),
                self.mirror.tree(),
                self.db.load_base(),
                mode=self.options.mode,
                hostname=self.hostname,
                now=datetime.now(UTC),
            )
            return PassResult(self._gate(planned), 0, [], [])
        if not dry_run:
            self.prepare_root()
        self.guard_root(dry_run)
        self.probe_root()
        self.offline = False
        if not dry_run:
            adopt_own_uploads(self.db, self.mirror)
        planned = self.make_plan(only, audit=audit, dry_run=dry_run)
        gated = self._gate(planned)
        skipped_pairs = [(str(s.path), s.reason) for s in self.skipped]
        if dry_run:
            return PassResult(gated, 0, [], skipped_pairs, self.executor.names.stored_as())
        failed: list[tuple[str, str]] = []
        executed, started = 0, time.monotonic()
        # Items are only set at the end of a pass: clear just those, not one DELETE per action.
        self._open_items = {item.path for item in self.db.items()}
        self._done = []
        if gated.run_first or gated.run_files or gated.run_last:
            self._no_temps = False  # a download may leave a temp file (resumed later)
        for action in gated.run_first:
            executed += await self._run_one(action, failed)
        results = await run_file_actions(lambda a: self._run_limited(a, failed), gated.run_files)
        for outcome in results:
            if isinstance(outcome, BaseException):
                raise outcome  # Unauthorized, or a fault the daemon records
            executed += outcome
        for action in gated.run_last:
            executed += await self._run_one(action, failed)
        self.passes.after(planned, self._done)
        self.held = list(gated.held)
        if gated.held:
            log.warning("deletes_held", count=len(gated.held), max_delete=self.options.max_delete)
        self._record_items(gated, failed)
        _log_pass(gated, executed, len(failed), time.monotonic() - started)
        if not self.offline:
            self._sweep_orphan_temps()
        stored_as = self.executor.names.stored_as()
        return PassResult(
            gated, executed, failed, skipped_pairs, stored_as, self.passes.next_check_ns
        )

    def _sweep_orphan_temps(self) -> None:
        """The pass's actions have all ended, so no download is writing: a temp file of a file
        the server no longer has (deleted during the download, or while we were down) resumes
        nothing. Swept after every pass, in the folders it looked at: after only the passes
        that ran nothing, a pass that learnt of the delete while it had other work left the
        temp until the next full pass (the folder is no longer looked at after it)."""
        if self._no_temps:
            return
        try:
            if removed := sweep_temps(self.options.root, set(self.mirror.files), self._swept):
                log.info("temp_files_swept", count=removed)
        except OSError as exc:
            log.warning("temp_sweep_failed", error=str(exc))

    async def _run_limited(self, action: m.Action, failed: list[tuple[str, str]]) -> int:
        size = action.local.size if isinstance(action, m.Upload) else 0
        self._inflight_bytes += size
        try:
            if self.executor.holds_own_slot(action):
                # Only while bytes move: files waiting for their batch to land (landing.py)
                # or queued for a small-file group (batches.py) let the next ones start.
                return await self._run_one(action, failed)
            async with self._sem:
                return await self._run_one(action, failed)
        finally:
            self._inflight_bytes -= size

    async def _run_one(self, action: m.Action, failed: list[tuple[str, str]]) -> int:
        path = _action_path(action)
        try:
            await self.executor.run(action)
            if path in self._open_items:
                self.db.clear_item(path)
            if isinstance(action, m.Upload):
                self.settle.forget(action.local.path)
            self._done.append(action)
            self.on_done(action)
            return 1
        except Unauthorized:
            raise
        except QuotaExceeded as exc:
            await self.refresh_account()
            failed.append((path, f"over quota: {exc.message}"))
        except TransportError as exc:
            self.offline = True
            failed.append((path, f"server unreachable: {exc}"))
        except (*RETRY_LATER, FileChangedError) as exc:
            log.debug("action_deferred", action=type(action).__name__, path=path, reason=str(exc))
        except LocalError as exc:  # the root cannot hold it (RootLimitError)
            failed.append((path, str(exc)))
            log.warning("action_failed", action=type(action).__name__, path=path, error=str(exc))
        except ApiError as exc:
            failed.append((path, str(exc)))
            log.warning("action_failed", action=type(action).__name__, path=path, error=str(exc))
        except OSError as exc:
            failed.append((path, f"{exc.strerror or exc}"))
            log.warning("action_failed", action=type(action).__name__, path=path, error=str(exc))
        return 0

    def _record_items(self, gated: Gated, failed: list[tuple[str, str]]) -> None:
        for waiting in gated.waiting:
            self.db.set_item(
                str(waiting.path),
                "waiting",
                waiting.reason,
                {"needed_bytes": waiting.needed_bytes, "free_bytes": waiting.free_bytes},
            )
        for action in gated.held:
            self.db.set_item(_action_path(action), "held", "big delete held", {})
        for path, reason in failed:
            self.db.set_item(path, "blocked", reason, {})

    def restore_held(self) -> int:
        """Cancel held deletes: forget their base, so the next pass downloads again what was
        deleted locally, and uploads again what was deleted on the server."""
        restored = 0
        for action in self.held:
            if isinstance(action, m.DeleteLocal):
                self.db.delete_file(action.local.path)
                restored += 1
            elif isinstance(action, m.DeleteLocalFolder):
                self.db.delete_folder(action.name)
            elif isinstance(action, m.DeleteRemote):
                self.db.delete_file(action.base.path)
                restored += 1
            elif isinstance(action, m.DeleteRemoteFolder):
                # Forget the files too: a base entry without its local file reads as a delete.
                for file in action.files:
                    self.db.delete_file(file.path)
                self.db.delete_folder(action.base.name)
                restored += len(action.files)
            self.db.clear_item(_action_path(action))
        self.held = []
        return restored

    def sweep_all_temps(self) -> int:
        """Remove every temp file of ours (`sync --once` ends: nothing will resume them); no
        listing when the last pass's full scan saw none and no action ran since."""
        return 0 if self._no_temps else sweep_temps(self.options.root, set())
