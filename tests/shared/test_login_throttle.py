from __future__ import annotations

from shared import login_throttle
from shared.login_throttle import LoginThrottle


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_then_a_few_per_second() -> None:
    clock = Clock()
    throttle = LoginThrottle(burst=5, per_second=2, clock=clock)
    for _ in range(5):
        assert throttle.retry_after("me") == 0
        throttle.failed("me")
    assert throttle.retry_after("me") == 1
    clock.now += 0.5
    assert throttle.retry_after("me") == 0
    throttle.failed("me")
    assert throttle.retry_after("me") == 1
    throttle.succeeded("me")
    assert throttle.retry_after("me") == 0


def test_memory_is_bounded(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(login_throttle, "MAX_TRACKED", 10)
    clock = Clock()
    throttle = LoginThrottle(burst=1, per_second=1, clock=clock)
    for index in range(25):
        throttle.failed(f"user-{index}")
    assert len(throttle._buckets) <= 10
    assert throttle.retry_after("user-24") == 1
