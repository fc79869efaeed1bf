"""Turn a daemon status snapshot (syncd.sync.status.StatusBoard.snapshot()) into something a
person reads: rich panels with bars on a terminal, plain text lines otherwise."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from syncd.activity import describe
from syncd.units import human_bytes, plural

SHOWN_ERRORS = 5
HELD_SHOWN = 10
SHOWN_ACTIVITY = 5
STATE_STYLE = {
    "connecting": "cyan",
    "idle": "green",
    "syncing": "cyan",
    "paused": "yellow",
    "offline": "yellow",
    "stopped": "red",
    "error": "red",
    "attention": "dark_orange",
}


def _ago(at: float | None, now: float) -> str:
    if at is None:
        return "never"
    delta_s = max(0, int(now - at))
    if delta_s < 60:
        return f"{delta_s}s ago"
    if delta_s < 3600:
        return f"{delta_s // 60}m ago"
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(at))


def _usage_line(snap: dict[str, Any]) -> str:
    used, limit = snap["usage"]["used_bytes"], snap["usage"]["limit_bytes"]
    if used is None:
        return "usage: unknown (not yet contacted the server)"
    if not limit:
        return f"usage: {human_bytes(used)} (no limit)"
    return f"usage: {human_bytes(used)} of {human_bytes(limit)} ({100 * used / limit:.0f}%)"


QUEUE_NOUNS = {  # queue key -> (one item, several)
    "uploads": ("upload", "uploads"),
    "downloads": ("download", "downloads"),
    "deletes": ("delete", "deletes"),
    "rescans": ("rescan", "rescans"),
    "waiting": ("file waiting for quota", "files waiting for quota"),
    "held": ("held delete", "held deletes"),
    "failed": ("failed item", "failed items"),
}


def _queue_line(snap: dict[str, Any]) -> str:
    queue = dict(snap.get("queue") or {})
    if "held" in queue:
        # The daemon counts held *actions* (a folder delete is one); people count files.
        queue["held"] = snap["held_deletes"]["count"]
    if not any(queue.values()):
        return "queue: empty"
    nouns = []
    for kind, n in queue.items():
        if n:
            nouns.append(plural(n, *QUEUE_NOUNS.get(kind, (kind, kind))))
    return "queue: " + ", ".join(nouns)


def held_summary(held: dict[str, Any]) -> list[str]:
    """The first HELD_SHOWN held paths, then "and N more" (a held delete can be thousands)."""
    paths: list[str] = held["paths"][:HELD_SHOWN]
    rest = held["count"] - len(paths)
    return paths + ([f"and {rest} more (all: syncd status --json)"] if rest > 0 else [])


def _title(snap: dict[str, Any]) -> str:
    name = snap.get("root") or snap.get("config_path") or snap.get("name") or "syncd"
    state = snap["state"] + (f": {snap['reason']}" if snap.get("reason") else "")
    return f"{name} [{snap.get('mode', 'mirror')}] {state}"


def render_plain(snap: dict[str, Any]) -> str:
    """Plain text for pipes and logs: one fact per line, no colour, no bars."""
    now = snap.get("now") or time.time()
    lines = [_title(snap), f"  config: {snap.get('config_path')}  pid: {snap.get('pid')}"]
    lines += [f"  {_usage_line(snap)}", f"  {_queue_line(snap)}"]
    lines.append(f"  last sync: {_ago(snap.get('last_sync_at'), now)}")
    for t in snap["transfers"]:
        pct = 100 * t["bytes_done"] / t["bytes_total"] if t["bytes_total"] else 100
        lines.append(
            f"  {t['direction']:>4} {t['path']}: {human_bytes(t['bytes_done'])} of "
            f"{human_bytes(t['bytes_total'])} ({pct:.0f}%)"
        )
    for w in snap["waiting"]:
        lines.append(
            f"  waiting: over quota: {w['path']} (needs {human_bytes(w['needed_bytes'])}, "
            f"{human_bytes(w['free_bytes'])} free)"
        )
    held = snap["held_deletes"]
    if held["count"]:
        lines.append(
            f"  held deletes: {held['count']} ({held_sides(held)}; "
            "run `syncd approve` or `syncd restore`)"
        )
        lines += [f"    {p}" for p in held_summary(held)]
    for item in snap.get("not_synced", []):
        lines.append(f"  not synced: {item['path']}: {item['reason']}")
    for item in snap.get("stored_as", []):
        lines.append(f"  renamed on this disk: {item['path']}: {item['reason']}")
    for e in snap["errors"]:
        lines.append(f"  error {_ago(e['at'], now)}: {e['path']}: {e['reason']}")
    if snap.get("audit_missed"):
        lines.append(
            f"  audit: {plural(snap['audit_missed'], 'change')} found only by the periodic full"
            " scan (a syncd bug: please report it with the log's audit_found_missed_change lines)"
        )
    lines += [f"  recent: {describe(e)}" for e in (snap.get("activity") or [])[-SHOWN_ACTIVITY:]]
    return "\n".join(lines)


def _usage_bar(snap: dict[str, Any]) -> RenderableType:
    used, limit = snap["usage"]["used_bytes"], snap["usage"]["limit_bytes"]
    if used is None or not limit:
        return Text(_usage_line(snap))
    ratio = used / limit
    style = "red" if ratio >= 0.95 else "yellow" if ratio >= 0.8 else "green"
    grid = Table.grid(padding=(0, 1))
    grid.add_row(
        Text("usage"),
        ProgressBar(total=limit, completed=min(used, limit), width=40, complete_style=style),
        Text(_usage_line(snap).removeprefix("usage: ")),
    )
    return grid


def _transfers(snap: dict[str, Any]) -> RenderableType | None:
    if not snap["transfers"]:
        return None
    table = Table(expand=False)
    for column in ("", "file", "progress", "bytes"):
        table.add_column(column)
    for t in snap["transfers"]:
        table.add_row(
            "↑" if t["direction"] == "up" else "↓",
            t["path"],
            ProgressBar(total=max(t["bytes_total"], 1), completed=t["bytes_done"], width=30),
            f"{human_bytes(t['bytes_done'])} / {human_bytes(t['bytes_total'])}",
        )
    return Group(Text("transfers", style="bold"), table)


def _simple_table(
    title: str, columns: tuple[str, ...], rows: list[tuple[str, ...]], style: str = ""
) -> RenderableType | None:
    if not rows:
        return None
    table = Table()
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    # A heading line, not a table title: titles wrap to the table's width.
    return Group(Text(title, style=style or "bold"), table)


def held_sides(held: dict[str, Any]) -> str:
    """Which side the held deletes would delete on, in words."""
    parts = []
    if held.get("remote"):
        parts.append(f"{held['remote']} on the server")
    if held.get("local"):
        parts.append(f"{held['local']} local to Trash")
    return ", ".join(parts) or "on the server"


def _errors_title(errors: list[dict[str, Any]]) -> str:
    if len(errors) <= SHOWN_ERRORS:
        return "last errors"
    return f"last errors (newest {SHOWN_ERRORS} of {len(errors)}; all: syncd status --json)"


def _tables(snap: dict[str, Any]) -> list[RenderableType | None]:
    now = snap.get("now") or time.time()
    held = snap["held_deletes"]
    return [
        _transfers(snap),
        _simple_table(
            "waiting: over quota",
            ("file", "needs", "free"),
            [
                (w["path"], human_bytes(w["needed_bytes"]), human_bytes(w["free_bytes"]))
                for w in snap["waiting"]
            ],
            "yellow",
        ),
        _simple_table(
            f"held deletes: {held['count']} ({held_sides(held)}; syncd approve | syncd restore)",
            ("file",),
            [(p,) for p in held_summary(held)],
            "bold red",
        ),
        _simple_table(
            "not synced",
            ("path", "reason"),
            [(i["path"], i["reason"]) for i in snap.get("not_synced", [])],
        ),
        _simple_table(
            "renamed on this disk",
            ("path", "reason"),
            [(i["path"], i["reason"]) for i in snap.get("stored_as", [])],
        ),
        _simple_table(
            _errors_title(snap["errors"]),
            ("when", "path", "reason"),
            [
                (_ago(e["at"], now), e["path"], e["reason"])
                for e in reversed(snap["errors"][-SHOWN_ERRORS:])
            ],
            "red",
        ),
    ]


def _activity(snap: dict[str, Any]) -> RenderableType | None:
    events = snap.get("activity") or []
    if not events:
        return None
    lines = [Text(describe(e)) for e in events[-SHOWN_ACTIVITY:]]
    return Group(Text("recent activity", style="bold"), *lines)


def status_panel(snap: dict[str, Any]) -> Panel:
    """A panel per daemon: state, usage bar, queue, the tables that have rows, recent events."""
    now = snap.get("now") or time.time()
    facts = [
        _queue_line(snap),
        f"last sync {_ago(snap.get('last_sync_at'), now)}",
        f"pid {snap.get('pid')}",
    ]
    if snap.get("config_path"):
        facts.append(f"config {snap['config_path']}")
    header = Text(" · ".join(facts), style="dim")
    parts: list[RenderableType] = [_usage_bar(snap), header]
    parts += [t for t in [*_tables(snap), _activity(snap)] if t is not None]
    style = STATE_STYLE.get(snap["state"], "white")
    return Panel(
        Group(*parts),
        title=Text(_title(snap), style=f"bold {style}"),
        title_align="left",
        border_style=style,
    )


def render_rich(snap: dict[str, Any], console: Console) -> None:
    console.print(status_panel(snap))
