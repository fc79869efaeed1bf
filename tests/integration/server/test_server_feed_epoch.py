"""The feed epoch: every page names the server run it came from; after the data dir is
restored from an older backup, a cursor into the lost history answers 410 `rewound` even
once new changes have pushed the head past it, while cursors the backup still covers and
cursors after a plain restart keep working."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.support.server import Api, ApiFailure, ServerProcess, start_server


def _head(api: Api) -> dict[str, Any]:
    page = api.changes(0)
    assert page["epoch"], "every page names its epoch"
    return {"cursor": page["cursor"], "epoch": page["epoch"]}


def _delta(api: Api, at: dict[str, Any]) -> dict[str, Any]:
    return api.json("GET", f"/v1/changes?cursor={at['cursor']}&epoch={at['epoch']}")  # type: ignore[no-any-return]


def _restart(server: ServerProcess, token: str, restore_from: Path | None = None) -> Api:
    server.stop()
    if restore_from is not None:
        shutil.rmtree(server.data_dir)
        shutil.copytree(restore_from, server.data_dir)
    server.start()
    return Api(server.url, token)


def test_restored_backup_expires_cursors_into_the_lost_history(tmp_path: Path) -> None:
    server = start_server(tmp_path / "srv")
    try:
        token = server.add_user("alice")
        api = Api(server.url, token)
        folder = api.create_folder("F")["id"]
        api.upload(folder, "a.jpg", b"a")
        early = _head(api)
        server.stop()
        shutil.copytree(server.data_dir, tmp_path / "backup")

        api = _restart(server, token)  # a plain restart: a new epoch, nothing lost
        assert _delta(api, early)["changes"] == []
        api.upload(folder, "b.jpg", b"b")
        late = _head(api)
        assert late["epoch"] != early["epoch"]

        api = _restart(server, token, restore_from=tmp_path / "backup")
        for i in range(5):  # the restored head passes `late` again, with other changes
            api.upload(folder, f"new-{i}.jpg", b"%d" % i)
        assert api.changes(0)["cursor"] > late["cursor"]
        with pytest.raises(ApiFailure) as lost:
            _delta(api, late)
        assert lost.value.status == 410 and lost.value.code == "cursor_expired"
        assert lost.value.body["error"]["rewound"] is True
        assert len(_delta(api, early)["changes"]) == 5, "the backup still covers `early`"
    finally:
        server.kill()
