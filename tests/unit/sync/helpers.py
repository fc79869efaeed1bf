"""Shared bits of the planner tests: a fixed clock and host, and plan/execute shortcuts."""

from __future__ import annotations

from datetime import UTC, datetime

from syncd.sync import model as m
from syncd.sync.planner import plan
from tests.unit.sync.simulator import World

NOW = datetime(2026, 11, 25, 9, 30, 5, tzinfo=UTC)
HOST = "office-pc"


def plan_for(w: World, mode: str = "mirror") -> m.Plan:
    return plan(w.scan(), w.remote_tree(), w.base_tree(), mode=mode, hostname=HOST, now=NOW)


def kinds(p: m.Plan) -> list[str]:
    return [type(a).__name__ for a in p.actions]


def settle(w: World, mode: str = "mirror", *, reverse_files: bool = False) -> m.Plan:
    """Plan, execute on the simulator, and check that a re-plan has nothing left to do."""
    first = plan_for(w, mode)
    w.execute(first, reverse_files=reverse_files)
    again = plan_for(w, mode)
    assert not again, f"not converged after {kinds(first)}: {again.actions}"
    return first


def same_trees(w: World) -> bool:
    local = {p: f.content for p, f in w.local.items()}
    remote = {p: r.content for p, r in w.remote.items()}
    return local == remote and set(w.local_folders) == set(w.remote_folders)
