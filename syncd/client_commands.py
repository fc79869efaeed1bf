"""Client commands: `usage`, `ls`, `find`, `link`, `trash`, `restore PATH` ask the library server
directly (no daemon needed); `approve` and `restore` without a path talk to the running daemon
over its status socket. Exit codes: 0 ok, 1 refused, 3 no daemon, 5 token rejected, 6 unreachable,
78 config."""

from __future__ import annotations

import asyncio
import heapq
import json
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from syncd import units
from syncd.ask import Refused, ask_server, fail
from syncd.config import Settings, resolve_token
from syncd.errors import DaemonNotRunning
from syncd.locate import command_settings, one_daemon_socket
from syncd.protocol import File, Folder, ShareLink, name_key
from syncd.sync.client import ApiClient
from syncd.sync.status_client import query
from syncd.units import plural

T = TypeVar("T")
LARGEST_SHOWN = 10
LISTING_PARALLEL = 4
EXIT_NO_DAEMON = 3

CONFIG_OPTION = click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Config file (default: $XDG_CONFIG_HOME/syncd/config.toml).",
)
JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")


def on_server(settings: Settings, work: Callable[[ApiClient], Awaitable[T]]) -> T:
    """Run `work` against the configured server (exit codes: see syncd.ask)."""
    return ask_server(settings.server.url, resolve_token(settings), work)


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


def _folder_dict(f: Folder) -> dict[str, Any]:
    return {
        "id": f.id,
        "name": f.name,
        "kind": f.kind,
        "file_count": f.file_count,
        "bytes": f.bytes,
    }


def _file_dict(f: File, folder: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"id": f.id, "name": f.name, "size": f.size, "kind": f.kind}
    out["modified_at"] = f.modified_at
    if folder is not None:
        out["folder"] = folder
    if f.caption is not None:
        out["caption"] = f.caption
    if f.original_name is not None:
        out["original_name"] = f.original_name
    return out


def find_folder(folders: list[Folder], wanted: str) -> Folder | None:
    """By name (NFC, case-insensitive, as the server compares names), else by id."""
    key = name_key(wanted)
    return next((f for f in folders if name_key(f.name) == key), None) or next(
        (f for f in folders if f.id == wanted), None
    )


def library_path(settings: Settings, raw: str) -> tuple[str, str]:
    """PATH (absolute, relative to the current directory, or relative to the sync root) ->
    (folder name, file name). Folders are flat (DESIGN §2), so exactly two parts. The file
    need not exist locally (it may have been deleted)."""
    root = settings.sync.root.expanduser()
    given = Path(raw).expanduser()
    candidates = [given] if given.is_absolute() else [Path.cwd() / given, root / given]
    bases = {Path(os.path.abspath(root)), root.resolve()}  # spelled as configured, or real
    for candidate in candidates:
        for path in (Path(os.path.abspath(candidate)), candidate.resolve()):
            for base in bases:
                parts = path.relative_to(base).parts if path.is_relative_to(base) else ()
                if len(parts) == 2:
                    return parts[0], parts[1]
    raise click.UsageError(f"{raw}: give FOLDER/NAME of a file inside the sync root {root}")


def parse_duration_s(text: str) -> int:
    """`7d`, `12h`, `30m`, `90s`, `2w` or plain seconds (syncd.units), as a click error."""
    try:
        return units.parse_duration_s(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc


# ---------------------------------------------------------------- usage


async def _usage(api: ApiClient) -> dict[str, Any]:
    account = await api.account()
    folders = await api.folders()
    gate = asyncio.Semaphore(LISTING_PARALLEL)

    async def listing(folder: Folder) -> list[dict[str, Any]]:
        if folder.file_count == 0:
            return []
        async with gate:
            return [_file_dict(f, folder.name) for f in await api.list_files(folder.id)]

    per_folder = await asyncio.gather(*(listing(f) for f in folders))
    every_file = [f for files in per_folder for f in files]
    return {
        "used_bytes": account.quota.used_bytes,
        "limit_bytes": account.quota.limit_bytes,
        "max_file_bytes": account.quota.max_file_bytes,
        "counts": account.counts,
        "by_kind": account.by_kind,
        "folders": [_folder_dict(f) for f in sorted(folders, key=lambda f: -f.bytes)],
        "largest": heapq.nlargest(LARGEST_SHOWN, every_file, key=lambda f: f["size"]),
    }


@click.command()
@CONFIG_OPTION
@JSON_OPTION
def usage(config_path: Path | None, as_json: bool) -> None:
    """Show storage used on the server: used/limit, bytes per kind, per folder, and the
    largest files. Asks the server directly; no daemon needed.

    \b
    Example:
      syncd usage --config ~/.config/syncd/config.toml
      syncd usage --json | jq .largest
    """
    data = on_server(command_settings(config_path), _usage)
    if as_json:
        echo_json(data)
        return
    from syncd import client_render

    if sys.stdout.isatty():
        from rich.console import Console

        client_render.usage_rich(data, Console())
    else:
        click.echo(client_render.usage_plain(data))


# ---------------------------------------------------------------- ls


async def _folder_files(api: ApiClient, wanted: str) -> tuple[Folder, list[File]]:
    folder = find_folder(await api.folders(), wanted)
    if folder is None:
        raise Refused(f"no folder named {wanted!r} on the server")
    return folder, await api.list_files(folder.id)


@click.command("ls")
@click.argument("folder", required=False)
@CONFIG_OPTION
@JSON_OPTION
def ls(folder: str | None, config_path: Path | None, as_json: bool) -> None:
    """List the folders on the server (name, kind, files, bytes), or the files of FOLDER
    (name, size, modified).

    \b
    Example:
      syncd ls
      syncd ls "Alice Martin" --json
    """
    from syncd import client_render

    settings = command_settings(config_path)
    if folder is None:
        folders = [_folder_dict(f) for f in on_server(settings, lambda api: api.folders())]
        if as_json:
            echo_json({"folders": folders})
        else:
            click.echo(client_render.folders_plain(folders))
        return
    found, files = on_server(settings, lambda api: _folder_files(api, folder))
    rows = [_file_dict(f) for f in sorted(files, key=lambda f: name_key(f.name))]
    if as_json:
        echo_json({"folder": _folder_dict(found), "files": rows})
    else:
        click.echo(client_render.files_plain(rows))


# ---------------------------------------------------------------- find


@click.command("find")
@click.argument("query")
@CONFIG_OPTION
@JSON_OPTION
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 100))
def find(query: str, config_path: Path | None, as_json: bool, limit: int) -> None:
    """Find folders and files on the server by participant name, phone, file name or the
    caption the sender wrote: every word must match (case and accents ignored), best first.

    \b
    Example:
      syncd find "price list"
      syncd find 5550123 --json
    """
    from syncd import client_render

    settings = command_settings(config_path)
    page = on_server(settings, lambda api: api.search(query, limit=limit))
    hits = [
        {"type": hit.type, "folder": _folder_dict(hit.folder)}
        | ({"file": _file_dict(hit.file, hit.folder.name)} if hit.file is not None else {})
        for hit in page.hits
    ]
    if as_json:
        echo_json({"query": query, "hits": hits, "more": page.next_offset is not None})
        return
    click.echo(client_render.hits_plain(hits, more=page.next_offset is not None))


# ---------------------------------------------------------------- link


async def file_by_path(api: ApiClient, folder_name: str, name: str) -> File:
    folder, files = await _folder_files(api, folder_name)
    key = name_key(name)
    found = next((f for f in files if name_key(f.name) == key), None)
    if found is None:
        raise Refused(f"{folder.name}/{name} is not on the server (not synced yet?)")
    return found


@click.command()
@click.argument("path")
@CONFIG_OPTION
@click.option("--expires", default="7d", show_default=True, help="Lifetime: 90s, 30m, 12h, 7d, 2w.")
def link(path: str, config_path: Path | None, expires: str) -> None:
    """Print a signed share URL for a file of the local mirror; anyone with the URL can
    download it until it expires (no login). The URL is alone on the last line.

    \b
    Example:
      syncd link "Alice Martin/IMG-20261124-WA0003.jpg" --expires 2d
    """
    settings = command_settings(config_path)
    folder_name, name = library_path(settings, path)
    expires_in_s = parse_duration_s(expires)

    async def work(api: ApiClient) -> tuple[File, ShareLink]:
        file = await file_by_path(api, folder_name, name)
        return file, await api.create_link(file.id, expires_in_s)

    file, share = on_server(settings, work)
    click.echo(f"{folder_name}/{file.name}: expires {share.expires_at}")
    click.echo(share.url)


# ---------------------------------------------------------------- trash and restore


@click.command()
@CONFIG_OPTION
@JSON_OPTION
def trash(config_path: Path | None, as_json: bool) -> None:
    """List the server trash: deleted files kept for a few days (not counted in quota),
    restorable with `syncd restore FOLDER/NAME`.

    \b
    Example:
      syncd trash
      syncd trash --json | jq '.items[].name'
    """
    items = on_server(command_settings(config_path), lambda api: api.trash())
    rows = [i.model_dump(mode="json") for i in items]
    if as_json:
        echo_json({"items": rows})
        return
    from syncd import client_render

    click.echo(client_render.trash_plain(rows))


async def _restore_path(api: ApiClient, folder_name: str, name: str) -> tuple[str, File]:
    keys = (name_key(folder_name), name_key(name))
    matches = [i for i in await api.trash() if (name_key(i.folder_name), name_key(i.name)) == keys]
    if not matches:
        raise Refused(f"{folder_name}/{name} is not in the server trash (see `syncd trash`)")
    newest = max(matches, key=lambda i: i.deleted_at)
    return newest.name, await api.restore_trash(newest.id)


def _ask_daemon(config_path: Path | None, cmd: str) -> dict[str, Any]:
    try:
        sock = one_daemon_socket(config_path)
        answer = query(sock, cmd)
    except DaemonNotRunning as exc:
        fail(str(exc), EXIT_NO_DAEMON)
    if not answer.get("ok"):
        fail(f"the daemon refused: {answer.get('error', 'no reason given')}")
    return answer


def _restored_text(restored: int, sides: list[str]) -> str:
    where = {
        "remote": "the files come back from the server",
        "local": "the files are kept and go back to the server",
    }
    back = "; ".join(where[s] for s in sides or ["remote"] if s in where)
    return f"cancelled {plural(restored, 'held delete')}; {back}"


@click.command()
@click.argument("path", required=False)
@CONFIG_OPTION
def restore(path: str | None, config_path: Path | None) -> None:
    """Bring files back. With PATH (FOLDER/NAME, or a path under the sync root): restore
    that file from the server trash (the newest deleted version); the daemon downloads it.
    Without PATH: tell the running daemon to cancel its held big delete and restore those
    files locally (exit 3 when no daemon runs).

    \b
    Example:
      syncd restore "Alice Martin/IMG-20261124-WA0003.jpg"
      syncd restore            # cancel the held deletes shown by `syncd status`
    """
    if path is None:
        answer = _ask_daemon(config_path, "restore")
        if not answer.get("restored"):
            fail("nothing to restore: no deletes are held (see `syncd status`)")
        click.echo(_restored_text(int(answer["restored"]), list(answer.get("sides") or [])))
        return
    settings = command_settings(config_path)
    folder_name, name = library_path(settings, path)
    old_name, file = on_server(settings, lambda api: _restore_path(api, folder_name, name))
    renamed = f" as {file.name!r} (the name was taken)" if file.name != old_name else ""
    click.echo(f"restored {folder_name}/{old_name}{renamed}; the daemon downloads it")


@click.command()
@CONFIG_OPTION
def approve(config_path: Path | None) -> None:
    """Approve the big delete the daemon is holding (see `syncd status`): the held deletes
    are sent to the server, where they stay restorable in the trash for a few days.

    \b
    Example:
      syncd approve --config ~/.config/syncd/config.toml
    """
    answer = _ask_daemon(config_path, "approve")
    if not answer.get("approved"):
        fail(answer.get("message") or "nothing to approve: no deletes are held")
    count = plural(int(answer["approved"]), "held delete")
    click.echo(f"approved {count}: the daemon sends them now (see `syncd activity`)")
