"""The long-running daemon: decides when to reconcile (watcher hints, the remote long poll,
settle deadlines, a periodic full rescan), keeps the status board and systemd informed, and
shuts down cleanly on SIGTERM. Also `sync --once`."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from syncd.errors import RootMissingError, TransportError, Unauthorized
from syncd.log import get_logger
from syncd.sync import sdnotify
from syncd.sync.client import ApiClient
from syncd.sync.engine import Engine, EngineOptions
from syncd.sync.gate import NS_PER_S
from syncd.sync.memory import release_memory
from syncd.sync.notify import DesktopNotifier
from syncd.sync.report import attention_reason, held_paths, report_pass
from syncd.sync.statedb import StateDB, default_state_path
from syncd.sync.status import StatusBoard, StatusServer

if TYPE_CHECKING:  # imported where it starts: `sync --once` (which imports this) never watches
    from syncd.sync.watcher import Watcher

log = get_logger("syncd.daemon")
LONG_POLL_S = 30
OFFLINE_RETRY_S = 5.0
AUTH_RETRY_S = 60.0
FAULT_RETRY_CAP_S = 60.0
SHUTDOWN_GRACE_S = 10.0


@dataclass
class Faults:
    """Unexpected errors in a pass or in the feed follower: each is logged with its
    traceback and shown as state `error`; the retry backs off 5, 10, 20 ... 60 s."""

    in_a_row: int = 0

    def failed(self, event: str, exc: BaseException, board: StatusBoard) -> float:
        """Record `exc`; returns how long to wait before retrying."""
        self.in_a_row += 1
        log.error(event, error=repr(exc), in_a_row=self.in_a_row, exc_info=exc)
        reason = f"unexpected error, retrying: {exc!r}"
        board.set_state("error", reason)
        board.add_error("", reason)
        sdnotify.status(f"error: {reason}")
        return min(FAULT_RETRY_CAP_S, OFFLINE_RETRY_S * 2.0 ** (self.in_a_row - 1))

    def cleared(self) -> None:
        self.in_a_row = 0


@dataclass(frozen=True)
class Wake:
    only: set[str] | None  # folders to rescan; None: all (a full scan and a full plan)
    audit: set[str] | None  # a periodic audit: the folders the watcher hinted before it


@dataclass
class Wakeups:
    """What the loop should look at next: folders hinted by the watcher (the engine adds the
    dirty paths it knows), everything, or everything as an audit."""

    event: asyncio.Event = field(default_factory=asyncio.Event)
    folders: set[str] = field(default_factory=set)
    full: bool = True
    audit_due: bool = False

    def hint(self, folders: set[str] | None) -> None:
        if folders is None:
            self.full = True
        else:
            self.folders |= folders
        self.event.set()

    def audit(self) -> None:
        self.audit_due = True
        self.event.set()

    def take(self) -> Wake:
        audit = set(self.folders) if self.audit_due and not self.full else None
        only = None if self.full or self.audit_due else set(self.folders)
        self.full, self.audit_due, self.folders = False, False, set()
        self.event.clear()
        return Wake(only, audit)


async def open_engine(
    options: EngineOptions, client: ApiClient, board: StatusBoard, state_dir: Path | None
) -> Engine:
    """Authenticate, open this library's state DB, and bring the remote mirror up to date:
    from its persisted cursor, or (first start, 410, restored server) by a full read. No pass
    runs before this pull has completed."""
    account = await client.account()
    db = StateDB.open(default_state_path(account.library_id, state_dir))
    engine = Engine(options, client, db, board)
    engine.account = account
    board.set_usage(account.quota.used_bytes, account.quota.limit_bytes)
    engine.restore_mirror()
    await engine.pull()
    return engine


class Daemon:
    def __init__(self, engine: Engine, board: StatusBoard, socket_path: Path | None) -> None:
        self.engine = engine
        self.board = board
        self.socket_path = socket_path
        self.wakeups = Wakeups()
        self.wakeups.hint(None)  # the first pass runs at once
        self.stopping = asyncio.Event()
        self.paused = False
        self._next_settle_ns: int | None = None
        self.rescan_interval_s = 300.0
        self.notifier = DesktopNotifier(enabled=False)
        # Why the change feed cannot be read right now (None: it can). Local passes may still
        # run meanwhile; they must not report "idle" while remote changes cannot arrive.
        self.feed_problem: str | None = None
        self.faults = Faults()
        self.attention_notified = False  # one desktop notification per spell of failures
        engine.on_done = board.activity.action_done

    async def on_command(self, cmd: str, _request: dict[str, Any]) -> dict[str, Any]:
        if cmd == "pause":
            self.paused = True
            self.board.set_state("paused", "paused by the user")
        elif cmd == "resume":
            self.paused = False
            self.wakeups.hint(None)
        elif cmd == "approve":
            if not self.engine.held:
                # Approving nothing must not pre-approve the next big delete.
                return {"approved": 0, "message": "nothing to approve: no deletes are held"}
            self.engine.deletes_approved = True
            self.wakeups.hint(None)
            return {"approved": len(self.engine.held)}
        elif cmd == "restore":
            sides = {s for s, paths in held_paths(self.engine.held).items() if paths}
            restored = self.engine.restore_held()
            self.wakeups.hint(None)
            return {"restored": restored, "sides": sorted(sides)}
        return {}

    async def follow_remote(self) -> None:
        """Long-poll the change feed; every change wakes the loop and refreshes usage."""
        while not self.stopping.is_set():
            try:
                delta = await self.engine.pull(wait_s=LONG_POLL_S)
                self.feed_problem = None
                if self.board.state in ("offline", "error"):
                    self.wakeups.hint(None)  # reachable again: a pass resets the state
                if delta:
                    await self.engine.refresh_account()
                    # The mirror recorded the paths the changes touch: a pass plans those (a
                    # re-read: everything).
                    self.wakeups.hint(None if delta.snapshot else set())
            except Unauthorized:
                self._auth_failed()
                await asyncio.sleep(AUTH_RETRY_S)
            except TransportError as exc:
                self.feed_problem = str(exc)
                self.board.set_state("offline", str(exc))
                await asyncio.sleep(OFFLINE_RETRY_S)
            except Exception as exc:  # a dead follower would stop every pull: retry instead
                self.feed_problem = f"reading the change feed failed: {exc!r}; retrying"
                await asyncio.sleep(self.faults.failed("feed_follow_failed", exc, self.board))

    def _auth_failed(self) -> None:
        """A revoked token stops syncing (nothing is deleted) until the token is fixed."""
        reason = "the server rejected the token (401): fix token_file, then restart syncd"
        self.board.set_state("error", reason)
        sdnotify.status(f"error: {reason}")
        log.error("token_rejected")

    async def follow_local(self, watcher: Watcher) -> None:
        async for batch in watcher.batches():
            self.engine.settle.apply(batch, time.monotonic())
            self.wakeups.hint(None if batch.full_rescan else set(batch.folders))

    async def periodic(self) -> None:
        """The audit: a full scan and full plan, checked against what the dirty sets held."""
        while True:
            await asyncio.sleep(self.rescan_interval_s)
            self.wakeups.audit()

    def _timeout_s(self) -> float | None:
        if self.paused or self._next_settle_ns is None:
            return None
        return max(0.05, (self._next_settle_ns - time.time_ns()) / NS_PER_S + 0.05)

    async def loop(self) -> None:
        while not self.stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wakeups.event.wait(), self._timeout_s())
            if self.stopping.is_set():
                continue
            if self.paused:
                self.wakeups.event.clear()  # keep the hints for resume; do not spin
                continue
            wake = self.wakeups.take()
            if self._next_settle_ns is not None and time.time_ns() >= self._next_settle_ns:
                self._next_settle_ns = None  # the files waiting are dirty paths already
            await self.one_pass(wake)

    async def one_pass(self, wake: Wake) -> None:
        self.board.set_state("syncing")
        sdnotify.status("syncing")
        try:
            result = await self.engine.reconcile(wake.only, audit=wake.audit)
        except RootMissingError as exc:
            self.board.set_state("stopped", str(exc))
            sdnotify.status(f"stopped: {exc}")
            log.error("sync_stopped", reason=str(exc))
            return
        except TransportError as exc:
            self.board.set_state("offline", str(exc))
            await asyncio.sleep(OFFLINE_RETRY_S)
            self.wakeups.hint(None)
            return
        except Unauthorized:
            self._auth_failed()
            await asyncio.sleep(AUTH_RETRY_S)
            self.wakeups.hint(None)
            return
        except Exception as exc:
            # A bug or a local fault (state DB on a full or read-only disk...) must not kill
            # the loop: record it, back off, retry.
            await asyncio.sleep(self.faults.failed("pass_failed", exc, self.board))
            self.wakeups.hint(None)
            return
        self.faults.cleared()
        if wake.only is None:  # a full pass's temporaries and pages: not held while idle
            self.engine.db.shrink_memory()
            release_memory()
        report_pass(self.board, self.engine, result, self.notifier)
        self.board.set_audit_missed(self.engine.passes.audit_missed)
        if self.engine.offline:
            self.board.set_state("offline", "the server is unreachable; retrying")
            await asyncio.sleep(OFFLINE_RETRY_S)
            self.wakeups.hint(None)
            return
        self._next_settle_ns = result.wake_at_ns
        if result.progressed:
            self.wakeups.hint(set())  # re-plan the paths acted on: conflict copy, follow-ups
        elif self.feed_problem is not None:
            self.board.set_state("offline", self.feed_problem)  # local work done, feed not
        elif result.failed:
            self._attention(result.failed)
        else:
            self.engine.deletes_approved = False
            self.attention_notified = False
            self.board.set_state("idle")
            self.board.synced()
            sdnotify.status("idle")

    def _attention(self, failed: list[tuple[str, str]]) -> None:
        """Nothing more runs by itself, but some actions keep failing: never `idle` then (a
        backup that looks complete while it is not is the worst kind of failure)."""
        reason = attention_reason(failed)
        self.board.set_state("attention", reason)
        sdnotify.status(f"attention: {reason}")
        log.warning("sync_needs_attention", failed=len(failed), reason=reason)
        if not self.attention_notified:
            self.attention_notified = self.notifier.attention(len(failed), reason)


async def run_daemon(
    options: EngineOptions,
    client: ApiClient,
    *,
    state_dir: Path | None,
    socket_path: Path | None,
    board: StatusBoard,
    rescan_interval_s: float = 300.0,
    notifier: DesktopNotifier | None = None,
) -> int:
    """Run until SIGTERM/SIGINT. Returns the process exit code."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    status_server = StatusServer(board, socket_path) if socket_path else None
    try:
        if status_server is not None:
            await status_server.start()
        engine = await _open_until_ready(options, client, board, state_dir, stop)
        if engine is None:
            return 0
        daemon = Daemon(engine, board, socket_path)
        daemon.rescan_interval_s = rescan_interval_s
        if notifier is not None:
            daemon.notifier = notifier
        daemon.stopping = stop
        if status_server is not None:
            status_server.on_command = daemon.on_command
        return await _supervise(daemon, options.root, stop)
    finally:
        if status_server is not None:
            await status_server.close()
        await client.close()


async def _open_until_ready(
    options: EngineOptions,
    client: ApiClient,
    board: StatusBoard,
    state_dir: Path | None,
    stop: asyncio.Event,
) -> Engine | None:
    while not stop.is_set():
        try:
            return await open_engine(options, client, board, state_dir)
        except Unauthorized:
            board.set_state("error", "the server rejected the token (401): check token_file")
            log.error("token_rejected")
            delay_s = AUTH_RETRY_S
        except TransportError as exc:
            board.set_state("offline", str(exc))
            delay_s = OFFLINE_RETRY_S
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay_s)
    return None


def _log_task_end(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("task_failed", task=task.get_name(), error=repr(task.exception()))


async def _supervise(daemon: Daemon, root: Path, stop: asyncio.Event) -> int:
    from syncd.sync.watcher import Watcher  # watchdog: ~0.1 s of start-up, `syncd run` only

    daemon.engine.prepare_root()
    options = daemon.engine.options
    watcher = Watcher(
        root, daemon.engine.rules, quiet_s=options.quiet_s, max_wait_s=options.max_wait_s
    )
    watcher.start(asyncio.get_running_loop())
    tasks = [
        asyncio.create_task(daemon.follow_remote(), name="remote"),
        asyncio.create_task(daemon.follow_local(watcher), name="local"),
        asyncio.create_task(daemon.periodic(), name="periodic"),
        asyncio.create_task(sdnotify.Watchdog.from_env().run(), name="watchdog"),
    ]
    for task in tasks:
        task.add_done_callback(_log_task_end)
    main = asyncio.create_task(daemon.loop(), name="loop")
    sdnotify.ready("started")
    log.info("daemon_started", root=str(root))
    stopper = asyncio.create_task(stop.wait())
    await asyncio.wait([main, stopper], return_when=asyncio.FIRST_COMPLETED)
    sdnotify.stopping()
    exit_code = 0
    if main.done() and not main.cancelled() and main.exception() is not None:
        log.error("daemon_failed", error=repr(main.exception()))
        exit_code = 1
    stop.set()
    daemon.wakeups.event.set()  # an idle loop is waiting for a hint: let it see the stop
    watcher.stop()
    for task in tasks:
        task.cancel()
    # Let the running pass finish its transfers (bounded), then cancel it.
    with contextlib.suppress(TimeoutError, asyncio.CancelledError):
        await asyncio.wait_for(main, SHUTDOWN_GRACE_S)
    stopper.cancel()
    daemon.engine.db.close()
    log.info("daemon_stopped", exit_code=exit_code)
    return exit_code
