"""The daemon's feed reader against the real server: a pass never sees a partial remote view.
A re-read after compaction (410), a failed re-read and a multi-page delta are watched by a
sampler that reads the live mirror every few ms while the server answers slowly (test hook)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from syncd.errors import TransportError
from syncd.sync.client import ApiClient, RetryPolicy
from syncd.sync.remote import RemoteMirror, pull_changes
from tests.support.proxy import FaultProxy
from tests.support.server import Api, ServerProcess

FOLDERS, FILES_PER_FOLDER, PAGE = 3, 40, 25


@pytest.fixture
def library(server: ServerProcess) -> tuple[Api, str, list[str]]:
    """A user with FOLDERS x FILES_PER_FOLDER small files; returns (api, token, file ids)."""
    token = server.add_user("alice", quota="1GiB")
    api = Api(server.url, token)
    ids = []
    for f in range(FOLDERS):
        folder = api.create_folder(f"Folder {f}")
        for i in range(FILES_PER_FOLDER):
            ids.append(api.upload(folder["id"], f"{i:03}.txt", f"{f}/{i}".encode())["id"])
    return api, token, ids


async def _pull_watched(
    client: ApiClient, mirror: RemoteMirror
) -> tuple[set[int], BaseException | None]:
    """Run one pull while sampling the live mirror's file count every 2 ms."""
    seen: set[int] = set()
    pull = asyncio.create_task(pull_changes(client, mirror, page_limit=PAGE))
    while not pull.done():
        seen.add(len(mirror.tree().files))
        await asyncio.sleep(0.002)
    seen.add(len(mirror.tree().files))
    return seen, pull.exception()


async def _read_all(client: ApiClient) -> RemoteMirror:
    mirror = RemoteMirror()
    await pull_changes(client, mirror, page_limit=PAGE)
    return mirror


def test_reread_after_compaction_swaps_in_a_complete_view(
    library: tuple[Api, str, list[str]],
) -> None:
    """410 -> the whole library is read again page by page (slowly); meanwhile the live
    mirror shows the old complete view, then the new one, never anything in between."""
    api, token, ids = library
    total = FOLDERS * FILES_PER_FOLDER

    async def scenario() -> tuple[set[int], BaseException | None, RemoteMirror]:
        async with ApiClient(api.url, token) as client:
            mirror = await _read_all(client)
            for file_id in ids[:3]:
                api.delete_file(file_id)
            api.compact(keep=0)  # our cursor is now below the floor: 410
            api.delay(300, count=20, path_prefix="/v1/changes")
            seen, error = await _pull_watched(client, mirror)
            return seen, error, mirror

    seen, error, mirror = asyncio.run(scenario())
    assert error is None
    assert seen == {total, total - 3}, f"a pass could have seen a partial library: {seen}"
    assert len(mirror.files) == total - 3


def test_failed_reread_keeps_the_last_complete_view(
    library: tuple[Api, str, list[str]], tmp_path: Path
) -> None:
    """The connection drops in the middle of a re-read: the pull fails, the mirror keeps the
    last complete view and its cursor (the next pull re-reads again)."""
    api, token, ids = library
    total = FOLDERS * FILES_PER_FOLDER
    with FaultProxy("127.0.0.1", int(api.url.rsplit(":", 1)[1])) as proxy:

        async def scenario() -> tuple[set[int], BaseException | None, RemoteMirror, int]:
            async with ApiClient(proxy.url, token, retry=RetryPolicy(attempts=1)) as client:
                mirror = await _read_all(client)
                cursor = mirror.cursor
                api.delete_file(ids[0])
                api.compact(keep=0)
                api.delay(400, count=20, path_prefix="/v1/changes")
                loop = asyncio.get_running_loop()
                loop.call_later(0.6, proxy.set_down)  # 410 at 0.4 s, then the first page
                seen, error = await _pull_watched(client, mirror)
                return seen, error, mirror, cursor

        seen, error, mirror, cursor = asyncio.run(scenario())
    assert isinstance(error, TransportError)
    assert seen == {total}
    assert (len(mirror.files), mirror.cursor) == (total, cursor)


def test_multi_page_delta_is_applied_at_once(library: tuple[Api, str, list[str]]) -> None:
    """A catch-up of several pages (new files and deletes) becomes visible in one step."""
    api, token, ids = library
    total = FOLDERS * FILES_PER_FOLDER

    async def scenario() -> tuple[set[int], BaseException | None]:
        async with ApiClient(api.url, token) as client:
            mirror = await _read_all(client)
            folder = api.create_folder("New")
            for i in range(2 * PAGE):
                api.upload(folder["id"], f"n{i}.txt", b"n%d" % i)
            for file_id in ids[: PAGE + 5]:
                api.delete_file(file_id)
            api.delay(300, count=20, path_prefix="/v1/changes")
            return await _pull_watched(client, mirror)

    seen, error = asyncio.run(scenario())
    assert error is None
    assert seen == {total, total + 2 * PAGE - (PAGE + 5)}, seen


def test_delay_hook_only_delays_its_prefix(library: tuple[Api, str, list[str]]) -> None:
    """The test hook the tests above rely on: other routes are neither slowed nor counted."""
    api, _token, _ids = library
    api.delay(1500, count=1, path_prefix="/v1/changes")
    assert _elapsed_s(api.account) < 1.0
    assert _elapsed_s(api.changes) >= 1.4
    assert _elapsed_s(api.changes) < 1.0


def _elapsed_s(call: Callable[[], object]) -> float:
    start = time.monotonic()
    call()
    return time.monotonic() - start
