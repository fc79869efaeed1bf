"""The feed epoch's rule (pure): a cursor from an earlier server run that lies beyond the head
this run started with is a cursor into a lost history (backup restore): 410, rewound."""

from __future__ import annotations

import pytest

from syncd.errors import CursorExpired
from syncd.server.feed import FeedEpoch


@pytest.mark.parametrize(
    ("client_epoch", "cursor", "expired"),
    [
        (None, 99, False),  # a client that sends no epoch is not checked
        ("ep_now", 99, False),  # this run's own cursors
        ("ep_old", 10, False),  # an earlier run, within what this run started with
        ("ep_old", 11, True),  # an earlier run, beyond it: history this library lost
    ],
)
def test_feed_epoch_check(client_epoch: str | None, cursor: int, expired: bool) -> None:
    epoch = FeedEpoch(id="ep_now", start_seqs={"u1": 10})
    if expired:
        with pytest.raises(CursorExpired) as exc:
            epoch.check("u1", cursor, client_epoch)
        assert exc.value.details["rewound"] is True
    else:
        epoch.check("u1", cursor, client_epoch)


def test_a_user_created_after_the_start_has_no_earlier_history() -> None:
    with pytest.raises(CursorExpired):
        FeedEpoch(id="ep_now").check("new-user", 1, "ep_old")
