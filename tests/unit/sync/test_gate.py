"""The gate between plan and execution: settle, open writers, quota before push, big-delete
hold, and the order actions run in."""

from __future__ import annotations

import pytest

from syncd.sync import model as m
from syncd.sync.gate import NS_PER_S, Gated, QuotaView, gate

NOW_NS = 1_800_000_000 * NS_PER_S


def _local(name: str, size: int = 10, age_s: float = 60.0) -> m.LocalFile:
    return m.LocalFile(m.RelPath("F", name), size, NOW_NS - int(age_s * NS_PER_S), 1, "ab" * 32)


def _base(name: str) -> m.BaseFile:
    return m.BaseFile(m.RelPath("F", name), f"fi_{name}", "fo_F", 1, "cd" * 32, 1, 1, 1)


def _gate(actions: list[m.Action], **kwargs: object) -> Gated:
    options: dict[str, object] = {
        "now_ns": NOW_NS,
        "settle_s": 1.0,
        "quota": None,
        "inflight_bytes": 0,
        "max_delete": 50,
        "deletes_approved": False,
    }
    options.update(kwargs)
    return gate(m.Plan(tuple(actions)), **options)


@pytest.mark.parametrize(
    ("age_s", "writer_open", "closed", "runs"),
    [
        (60.0, False, False, True),  # old, no event known: the stat rule says settled
        (0.2, False, False, False),  # modified 0.2 s ago, no close seen: wait for settle_s
        (0.2, False, True, True),  # modified 0.2 s ago but closed by its writer: push now
        (60.0, True, False, False),  # a writer still holds it (no close-write yet): wait
        (0.2, True, True, False),  # an open writer wins over an earlier close
    ],
)
def test_upload_runs_when_closed_or_settled(
    age_s: float, writer_open: bool, closed: bool, runs: bool
) -> None:
    upload = m.Upload(_local("a.jpg", age_s=age_s), "fo_F", None)
    writers = frozenset({upload.local.path}) if writer_open else frozenset()
    done = frozenset({upload.local.path}) if closed else frozenset()
    out = _gate([upload], open_writers=writers, closed=done)
    assert (out.run_files == [upload]) is runs
    assert (out.unsettled_next_ns is not None) is (not runs)


def test_quota_before_push_counts_in_flight_and_reports_needed_and_free() -> None:
    first = m.Upload(_local("a.mp4", size=4), "fo_F", None)
    second = m.Upload(_local("b.mp4", size=5), "fo_F", None)
    out = _gate([first, second], quota=QuotaView(used_bytes=1, limit_bytes=8), inflight_bytes=1)
    assert out.run_files == [first]
    (waiting,) = out.waiting
    assert (waiting.path, waiting.needed_bytes, waiting.free_bytes) == (second.local.path, 5, 2)


@pytest.mark.parametrize(
    ("deletes", "max_delete", "approved", "held"),
    [(3, 5, False, 0), (6, 5, False, 6), (6, 5, True, 0), (1, 0, False, 1)],
)
def test_big_delete_hold(deletes: int, max_delete: int, approved: bool, held: int) -> None:
    actions: list[m.Action] = [m.DeleteRemote(_base(f"{i}.jpg")) for i in range(deletes)]
    upload = m.Upload(_local("new.jpg"), "fo_F", None)
    out = _gate([*actions, upload], max_delete=max_delete, deletes_approved=approved)
    assert len(out.held) == held
    assert upload in out.run_files  # the rest goes on


def test_folder_delete_counts_its_files_for_the_hold() -> None:
    files = tuple(_base(f"{i}.jpg") for i in range(4))
    folder_delete = m.DeleteRemoteFolder(m.BaseFolder("F", "fo_F", 9), files)
    assert _gate([folder_delete], max_delete=3).held == [folder_delete]
    assert _gate([folder_delete], max_delete=4).run_last == [folder_delete]


def test_keep_both_and_folder_makes_run_first_folder_deletes_last() -> None:
    remote = m.RemoteFile(m.RelPath("F", "a.jpg"), "fi_a", "fo_F", 10, "ee" * 32, 1, 2)
    keep = m.KeepBoth(_local("a.jpg"), remote, "a (conflicted copy).jpg")
    make = m.MakeLocalFolder(m.RemoteFolder("G", "fo_G", 1))
    forget = m.ForgetFolder("H")
    download = m.Download(remote, None)
    out = _gate([make, keep, download, forget])
    assert out.run_first == [make, keep]
    assert out.run_files == [download]
    assert out.run_last == [forget]


def _local_delete(name: str, folder: str = "F") -> m.DeleteLocal:
    local = _local(name)
    return m.DeleteLocal(m.LocalFile(m.RelPath(folder, name), 10, local.mtime_ns, 1, None))


@pytest.mark.parametrize(
    ("local_deletes", "remote_deletes", "max_delete", "approved", "held_sides"),
    [
        (3, 0, 5, False, set()),  # a few files gone from the server: trashed at once
        (6, 0, 5, False, {"local"}),  # too many: held, like remote deletes
        (6, 0, 5, True, set()),  # approved: sent
        (6, 6, 5, False, {"local", "remote"}),  # each side counts on its own
        (3, 6, 5, False, {"remote"}),
        (4, 4, 5, False, set()),  # sides are not added up
    ],
)
def test_big_delete_hold_per_side(
    local_deletes: int, remote_deletes: int, max_delete: int, approved: bool, held_sides: set[str]
) -> None:
    """More than max_delete local files to the Trash is held exactly like a big remote delete,
    and the rest of the plan goes on."""
    local = [_local_delete(f"l{i}.jpg") for i in range(local_deletes)]
    remote = [m.DeleteRemote(_base(f"r{i}.jpg")) for i in range(remote_deletes)]
    upload = m.Upload(_local("new.jpg"), "fo_F", None)
    out = _gate([*local, *remote, upload], max_delete=max_delete, deletes_approved=approved)
    expected = (local if "local" in held_sides else []) + (remote if "remote" in held_sides else [])
    assert out.held == expected
    assert upload in out.run_files


def test_held_local_deletes_hold_the_folder_delete_too() -> None:
    """A folder gone from the server is removed locally only after its files went to the Trash;
    while those are held, the folder (and its base entry) must stay."""
    files = [_local_delete(f"{i}.jpg", "G") for i in range(3)]
    folder = m.DeleteLocalFolder("G")
    assert _gate([*files, folder], max_delete=2).held == [*files, folder]
    assert _gate([*files, folder], max_delete=3).run_last == [folder]
