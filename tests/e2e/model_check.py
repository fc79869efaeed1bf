"""Pure model of what one folder must hold after the daemon synced a phase of changes: the
expected {name: sha256} from the state both sides agreed on before, the local ops and the
remote ops, and a checker that compares an observed folder with it (used by
test_model_based.py; no I/O here).

Rules (DESIGN §4 decision table, per name; s = before, l = local now, r = remote now):
  l == s -> r;  r == s -> l;  l == r -> l;  l deleted -> r;  r deleted -> l;
  both changed differently -> r at the name and l in one `name (conflicted copy ...)` copy.
One rule is about identity, not names: a file renamed on both sides (content unchanged) to
different free names ends under the remote's name only (the daemon follows the remote)."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

SIDES = ("local", "remote")
KINDS = ("create", "modify", "delete", "rename")


@dataclass(frozen=True)
class Op:
    side: str  # "local" | "remote"
    kind: str  # create | modify | delete | rename
    name: str
    target: str = ""  # rename: the new name
    sha: str = ""  # create / modify: digest of the new content

    def __str__(self) -> str:
        what = f"{self.name} -> {self.target}" if self.kind == "rename" else self.name
        return f"{self.side} {self.kind} {what}" + (f" [{self.sha[:8]}]" if self.sha else "")


def apply_ops(state: dict[str, str], ops: Iterable[Op]) -> tuple[dict[str, str], dict[str, str]]:
    """One side's state after its ops, and where each file of `state` went by pure renames
    ({name before: name now}, only for files renamed without a content change)."""
    current = dict(state)
    where = {name: name for name in state}  # identity (its name before) -> its name now

    def forget_identity_at(name: str) -> None:
        for ident, now in list(where.items()):
            if now == name:
                del where[ident]

    for op in ops:
        if op.kind in ("create", "modify"):
            forget_identity_at(op.name)
            current[op.name] = op.sha
        elif op.kind == "delete":
            forget_identity_at(op.name)
            current.pop(op.name, None)
        elif op.kind == "rename":
            forget_identity_at(op.target)
            current[op.target] = current.pop(op.name)
            for ident, now in where.items():
                if now == op.name:
                    where[ident] = op.target
    moved = {ident: now for ident, now in where.items() if now != ident}
    return current, moved


@dataclass
class Expectation:
    exact: dict[str, str]  # name -> sha that must be there
    conflicts: dict[str, str] = field(default_factory=dict)  # name -> sha of its conflict copy


def expect_one_side(before: dict[str, str], ops: list[Op]) -> Expectation:
    """Only one side changed (the daemon ran, or crashed and restarted): that side wins."""
    return Expectation(apply_ops(before, ops)[0])


def expect_both_sides(
    before: dict[str, str], local_ops: list[Op], remote_ops: list[Op]
) -> Expectation:
    """Both sides changed while the daemon was stopped: the decision table, name by name."""
    lstate, lmoved = apply_ops(before, local_ops)
    rstate, rmoved = apply_ops(before, remote_ops)
    out = Expectation({})
    for name in sorted(set(before) | set(lstate) | set(rstate)):
        s, lv, rv = before.get(name), lstate.get(name), rstate.get(name)
        if lv == s:
            value = rv
        elif rv == s or lv == rv or rv is None:
            value = lv
        elif lv is None:
            value = rv
        else:
            value = rv
            out.conflicts[name] = lv
        if value is not None:
            out.exact[name] = value
    for ident in set(lmoved) & set(rmoved):
        lname, rname = lmoved[ident], rmoved[ident]
        free = ident not in lstate and ident not in rstate
        if lname != rname and free and rname not in lstate and lname not in rstate:
            out.exact.pop(lname, None)  # renamed on both sides: the remote name wins
    return out


_COPY = re.compile(r" \(conflicted copy \d{4}-\d\d-\d\d \d{6} [^)]*\)( \d+)?$")


def conflict_origin(name: str) -> str | None:
    """`a (conflicted copy 2026-11-25 101010 host).txt` -> `a.txt`; None for other names."""
    stem, ext = posixpath.splitext(name)
    match = _COPY.search(stem)
    if match is None:
        return None
    return stem[: match.start()] + ext


def check(expected: Expectation, actual: dict[str, str]) -> list[str]:
    """Problems of an observed folder {name: sha} against the expectation ([] when fine)."""
    problems = []
    for name, sha in sorted(expected.exact.items()):
        if name not in actual:
            problems.append(f"missing {name} [{sha[:8]}]")
        elif actual[name] != sha:
            problems.append(f"{name} holds [{actual[name][:8]}], expected [{sha[:8]}]")
    extra = {n: s for n, s in actual.items() if n not in expected.exact}
    for origin, sha in sorted(expected.conflicts.items()):
        copies = [n for n, s in extra.items() if conflict_origin(n) == origin and s == sha]
        if len(copies) != 1:
            problems.append(f"expected one conflict copy of {origin} [{sha[:8]}], got {copies}")
        for name in copies:
            extra.pop(name)
    problems += [f"unexpected {name} [{sha[:8]}]" for name, sha in sorted(extra.items())]
    return problems
