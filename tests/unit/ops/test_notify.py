"""Desktop notifications are rate-limited per kind and silent without notify-send."""

from collections.abc import Sequence

from syncd.sync.notify import DesktopNotifier


class FakeClock:
    def __init__(self) -> None:
        self.now_s = 1000.0

    def __call__(self) -> float:
        return self.now_s


def test_rate_limited_per_kind() -> None:
    clock, calls = FakeClock(), []

    def runner(argv: Sequence[str]) -> None:
        calls.append(list(argv))

    notifier = DesktopNotifier(
        300, clock=clock, runner=runner, which=lambda _: "/usr/bin/notify-send"
    )
    assert notifier.over_quota("Alice/video.mp4", 12_400_000, 3_100_000)
    assert not notifier.over_quota("Alice/other.mp4", 1, 1)  # same kind, too soon
    assert notifier.held_deletes(120)  # another kind is not blocked
    clock.now_s += 299
    assert not notifier.over_quota("Alice/video.mp4", 1, 1)
    clock.now_s += 1
    assert notifier.over_quota("Alice/video.mp4", 1, 1)
    assert len(calls) == 3
    assert calls[0][0] == "/usr/bin/notify-send"
    assert "Alice/video.mp4 needs 11.8 MiB, 3.0 MiB free" in calls[0][-1]
    assert "120 deletes held" in calls[1][-2]
    assert "--urgency=critical" in calls[1]


def test_no_op_without_notify_send_or_when_disabled() -> None:
    calls: list[Sequence[str]] = []
    absent = DesktopNotifier(0, runner=calls.append, which=lambda _: None)
    assert not absent.available and not absent.held_deletes(3)
    disabled = DesktopNotifier(0, enabled=False, runner=calls.append, which=lambda _: "/x")
    assert not disabled.held_deletes(3)
    assert calls == []


def test_failed_spawn_does_not_consume_the_slot() -> None:
    clock, attempts = FakeClock(), []

    def broken(argv: Sequence[str]) -> None:
        attempts.append(argv)
        if len(attempts) == 1:
            raise OSError("exec format error")

    notifier = DesktopNotifier(300, clock=clock, runner=broken, which=lambda _: "/x")
    assert not notifier.held_deletes(1)
    assert notifier.held_deletes(1)
