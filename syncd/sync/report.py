"""What one pass tells the user: the status board (waiting, held deletes, not synced, errors,
usage, queue) and the desktop notifier, from the pass's result."""

from __future__ import annotations

from syncd.sync import model as m
from syncd.sync.engine import Engine, PassResult
from syncd.sync.notify import DesktopNotifier
from syncd.sync.status import StatusBoard


def held_paths(held: list[m.Action]) -> dict[str, list[str]]:
    """The files each side would lose if the held deletes ran: {"remote": [...], "local": [...]}."""
    paths: dict[str, list[str]] = {"remote": [], "local": []}
    for action in held:
        if isinstance(action, m.DeleteRemote):
            paths["remote"].append(str(action.base.path))
        elif isinstance(action, m.DeleteRemoteFolder):
            paths["remote"].extend(str(f.path) for f in action.files)
        elif isinstance(action, m.DeleteLocal):
            paths["local"].append(str(action.local.path))
    return paths


def report_pass(
    board: StatusBoard, engine: Engine, result: PassResult, notifier: DesktopNotifier
) -> None:
    board.activity.waiting_now(
        [(str(w.path), w.needed_bytes, w.free_bytes) for w in result.gated.waiting]
    )
    board.clear_waiting()
    for waiting in result.gated.waiting:
        board.set_waiting(str(waiting.path), waiting.needed_bytes, waiting.free_bytes)
        notifier.over_quota(str(waiting.path), waiting.needed_bytes, waiting.free_bytes)
    held = held_paths(result.gated.held)
    board.set_held_deletes(remote=held["remote"], local=held["local"])
    for side, paths in held.items():
        if paths:
            notifier.held_deletes(len(paths), side)
    board.clear_not_synced()
    for path, reason in result.skipped:
        board.set_not_synced(path, reason)
    board.set_stored_as(result.stored_as)
    for path, reason in result.failed:
        board.add_error(path, reason)
    if engine.account is not None:
        board.set_usage(engine.account.quota.used_bytes, engine.account.quota.limit_bytes)
    board.set_queue(
        waiting=len(result.gated.waiting),
        held=len(result.gated.held),
        failed=len(result.failed),
    )


def attention_reason(failed: list[tuple[str, str]], shown: int = 2) -> str:
    """ "3 items keep failing: A/x.jpg: reason; B/y.jpg: reason; ..." for the status line."""
    firsts = "; ".join(f"{path}: {reason}" for path, reason in failed[:shown])
    more = "; ..." if len(failed) > shown else ""
    noun = "item keeps" if len(failed) == 1 else "items keep"
    return f"{len(failed)} {noun} failing: {firsts}{more}"
