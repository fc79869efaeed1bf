"""Text for the client commands (`syncd usage`, `ls`, `trash`): a rich usage bar and tables on
a terminal, plain aligned lines otherwise. Input is the JSON-able dicts the commands build."""

from __future__ import annotations

from typing import Any

from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from syncd.units import human_bytes, plural

BAR_WIDTH = 30


def _percent(used: int, limit: int) -> str:
    return f"{100 * used / limit:.0f}%" if limit else "no limit"


def usage_headline(usage: dict[str, Any]) -> str:
    used, limit = usage["used_bytes"], usage["limit_bytes"]
    return f"used {human_bytes(used)} of {human_bytes(limit)} ({_percent(used, limit)})"


def plain_bar(used: int, limit: int, width: int = BAR_WIDTH) -> str:
    filled = width if not limit else min(width, round(width * used / limit))
    return "[" + "#" * filled + "." * (width - filled) + "]"


def usage_plain(usage: dict[str, Any]) -> str:
    lines = [
        usage_headline(usage) + "  " + plain_bar(usage["used_bytes"], usage["limit_bytes"]),
        f"{plural(usage['counts'].get('files', 0), 'file')}, "
        f"{plural(usage['counts'].get('folders', 0), 'folder')}",
        "",
        "by kind:",
    ]
    lines += [f"  {kind:<10} {human_bytes(n):>10}" for kind, n in usage["by_kind"].items()]
    lines += ["", "by folder:"]
    width = max((len(f["name"]) for f in usage["folders"]), default=0)
    lines += [
        f"  {f['name']:<{width}}  {plural(f['file_count'], 'file'):>11}"
        f"  {human_bytes(f['bytes']):>10}"
        for f in usage["folders"]
    ] or ["  (no folders)"]
    lines += ["", "largest files:"]
    lines += [
        f"  {human_bytes(f['size']):>10}  {f['folder']}/{f['name']}" for f in usage["largest"]
    ] or ["  (no files)"]
    return "\n".join(lines)


def usage_rich(usage: dict[str, Any], console: Console) -> None:
    used, limit = usage["used_bytes"], usage["limit_bytes"]
    over = bool(limit) and used > limit
    style = "red" if over else "green"
    bar = ProgressBar(
        total=max(limit, used, 1),
        completed=used,
        width=40,
        complete_style=style,
        finished_style=style,  # a full bar means full quota: same colour, not "done"
    )
    head = Text(usage_headline(usage), style="bold red" if over else "bold")
    kinds = Table("kind", "bytes", box=None, pad_edge=False)
    for kind, n_bytes in usage["by_kind"].items():
        kinds.add_row(kind, human_bytes(n_bytes))
    folders = Table("folder", "kind", "files", "bytes", box=None, pad_edge=False)
    for f in usage["folders"]:
        folders.add_row(f["name"], f["kind"], str(f["file_count"]), human_bytes(f["bytes"]))
    largest = Table("size", "file", box=None, pad_edge=False)
    for f in usage["largest"]:
        largest.add_row(human_bytes(f["size"]), f"{f['folder']}/{f['name']}")
    parts: list[RenderableType] = [head, bar, Text(""), kinds, Text(""), folders, Text("")]
    parts.append(largest)
    console.print(Panel(Group(*parts), title="library usage", expand=False))


def _columns(rows: list[list[str]], right: set[int]) -> list[str]:
    """Aligned columns without a table library (stable for scripts that grep)."""
    if not rows:
        return []
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(
            cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
            for i, cell in enumerate(row)
        ).rstrip()
        for row in rows
    ]


def folders_plain(folders: list[dict[str, Any]]) -> str:
    rows = [["NAME", "KIND", "FILES", "BYTES"]]
    rows += [[f["name"], f["kind"], str(f["file_count"]), human_bytes(f["bytes"])] for f in folders]
    return "\n".join(_columns(rows, {2, 3}))


def files_plain(files: list[dict[str, Any]]) -> str:
    captioned = any("caption" in f for f in files)
    rows = [["NAME", "SIZE", "MODIFIED"] + (["CAPTION"] if captioned else [])]
    for f in files:
        row = [f["name"], human_bytes(f["size"]), f["modified_at"][:19] + "Z"]
        rows.append(row + ([_one_line(f.get("caption", ""))] if captioned else []))
    return "\n".join(_columns(rows, {1}))


def _one_line(text: str, max_chars: int = 60) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= max_chars else flat[: max_chars - 1] + "…"


def hits_plain(hits: list[dict[str, Any]], *, more: bool) -> str:
    """`syncd find`: one line per hit, folders as `NAME/` with their file count."""
    if not hits:
        return "nothing found"
    rows = [["FOUND", "SIZE", "CAPTION"]]
    for hit in hits:
        folder, file = hit["folder"], hit.get("file")
        if file is None:
            rows.append([f"{folder['name']}/", plural(folder["file_count"], "file"), ""])
        else:
            path = f"{folder['name']}/{file['name']}"
            rows.append([path, human_bytes(file["size"]), _one_line(file.get("caption", ""))])
    lines = _columns(rows, {1})
    if more:
        lines.append("(more found: narrow the search or use --limit)")
    return "\n".join(lines)


def trash_plain(items: list[dict[str, Any]]) -> str:
    if not items:
        return "the server trash is empty"
    rows = [["DELETED", "SIZE", "FILE", "EXPIRES"]]
    rows += [
        [
            i["deleted_at"][:19] + "Z",
            human_bytes(i["size"]),
            f"{i['folder_name']}/{i['name']}",
            i["expires_at"][:19] + "Z",
        ]
        for i in items
    ]
    return "\n".join(_columns(rows, {1}))
