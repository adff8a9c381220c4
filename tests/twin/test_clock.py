import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest

from worker.twin.clock import SystemClock, VirtualClock

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


async def test_virtual_clock_starts_where_told_and_does_not_move_alone() -> None:
    clock = VirtualClock(T0)

    await asyncio.sleep(0.01)

    assert clock.now() == T0
    assert clock.monotonic() == 0
    assert clock.speed == 1.0


async def test_sleepers_wake_in_due_order_at_their_due_time() -> None:
    clock = VirtualClock(T0)
    woken: list[tuple[str, datetime]] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woken.append((name, clock.now()))

    tasks = [asyncio.create_task(sleeper(n, s)) for n, s in [("c", 30), ("a", 10), ("b", 20)]]
    await asyncio.sleep(0)

    await clock.advance(25)

    assert woken == [("a", T0 + timedelta(seconds=10)), ("b", T0 + timedelta(seconds=20))]
    assert clock.now() == T0 + timedelta(seconds=25)
    await clock.advance(5)
    assert woken[-1] == ("c", T0 + timedelta(seconds=30))
    await asyncio.gather(*tasks)


async def test_periodic_task_ticks_on_schedule_within_one_advance() -> None:
    clock = VirtualClock(T0)
    ticks: list[float] = []

    async def heartbeat() -> None:
        while True:
            await clock.sleep(10)
            ticks.append(clock.monotonic())

    task = asyncio.create_task(heartbeat())
    await asyncio.sleep(0)
    await clock.advance(35)

    assert ticks == [10, 20, 30]
    assert clock.monotonic() == 35
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_woken_task_runs_its_follow_up_work_before_time_moves_on() -> None:
    clock = VirtualClock(T0)
    seen: list[str] = []

    async def worker() -> None:
        await clock.sleep(5)
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        seen.append(f"done at {clock.monotonic()}")

    task = asyncio.create_task(worker())
    await clock.advance(100)

    assert seen == ["done at 5.0"]
    await task


async def test_sleep_zero_or_negative_returns_at_once() -> None:
    clock = VirtualClock(T0)

    await asyncio.wait_for(clock.sleep(0), timeout=1)
    await asyncio.wait_for(clock.sleep(-3), timeout=1)

    assert clock.pending_sleepers == 0


async def test_cancelled_sleepers_do_not_leak() -> None:
    clock = VirtualClock(T0)
    tasks = [asyncio.create_task(clock.sleep(60 + i)) for i in range(100)]
    await asyncio.sleep(0)
    assert clock.pending_sleepers == 100

    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)

    assert clock.pending_sleepers == 0
    assert len(clock._heap) == 0
    await clock.advance(1000)


async def test_advance_to_and_settle() -> None:
    clock = VirtualClock(T0)
    done = asyncio.Event()

    async def sleeper() -> None:
        await clock.sleep(3600)
        done.set()

    task = asyncio.create_task(sleeper())
    await clock.advance_to(T0 + timedelta(hours=2), settle=0.001)

    assert done.is_set()
    assert clock.now() == T0 + timedelta(hours=2)
    await clock.advance_to(T0)  # the past: no-op
    assert clock.now() == T0 + timedelta(hours=2)
    await task


async def test_advance_rejects_negative() -> None:
    with pytest.raises(ValueError, match="negative"):
        await VirtualClock(T0).advance(-1)


async def test_system_clock_scales_time_by_speed() -> None:
    clock = SystemClock(speed=100, start=T0)
    real_start = time.monotonic()

    await clock.sleep(2)  # 0.02 real seconds

    real = time.monotonic() - real_start
    assert 0.015 <= real < 1.0
    assert clock.monotonic() >= 2
    assert T0 + timedelta(seconds=2) <= clock.now() < T0 + timedelta(seconds=100)


async def test_system_clock_defaults_to_real_now() -> None:
    clock = SystemClock()
    before = clock.monotonic()

    assert abs((clock.now() - datetime.now(UTC)).total_seconds()) < 1
    assert clock.now().tzinfo is not None
    assert clock.monotonic() >= before
    await asyncio.wait_for(clock.sleep(0), timeout=1)


def test_system_clock_rejects_non_positive_speed() -> None:
    with pytest.raises(ValueError, match="speed"):
        SystemClock(speed=0)
