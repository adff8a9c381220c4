"""The monitor rules of :mod:`worker.twin.monitoring`, without a wire."""

from __future__ import annotations

from typing import Any

from worker.twin.monitoring import Monitor, Monitoring


def add(monitoring: Monitoring, key: str, numeric: bool, kind: str, value: float, **kw: Any) -> Any:
    return monitoring.set(
        key, numeric, kind, value, 5, kw.get("transaction", False), None, (), kw.get("now", 0)
    )


def evaluate(monitoring: Monitoring, now: float, value: str, active: bool = True) -> list[Any]:
    fired, _ = monitoring.evaluate(now, lambda _: (value, active))
    return [(f.monitor.id, f.trigger, f.actual, f.cleared) for f in fired]


def test_threshold_fires_once_and_clears_also_when_its_transaction_ends() -> None:
    monitoring = Monitoring()
    status, monitor_id = monitoring.set(
        "EVSE@1/Power", True, "UpperThreshold", 1000, 5, True, None, (), 0
    )
    assert (status, monitor_id) == ("Accepted", 1000)
    assert evaluate(monitoring, 1, "500") == []
    assert evaluate(monitoring, 2, "7000") == [(1000, "Alerting", "7000", False)]
    assert evaluate(monitoring, 3, "7100") == []
    assert evaluate(monitoring, 4, "900") == [(1000, "Alerting", "900", True)]
    assert evaluate(monitoring, 5, "7000") == [(1000, "Alerting", "7000", False)]
    assert evaluate(monitoring, 6, "7000", active=False) == [(1000, "Alerting", "7000", True)]
    assert evaluate(monitoring, 7, "7000", active=False) == []


def test_delta_on_numbers_and_on_words() -> None:
    monitoring = Monitoring()
    monitoring.set("EVSE@1/Power", True, "Delta", 500, 5, False, None, (), 0)
    assert evaluate(monitoring, 1, "1000") == []  # the reference
    assert evaluate(monitoring, 2, "1400") == []
    assert evaluate(monitoring, 3, "1500") == [(1000, "Delta", "1500", False)]
    assert evaluate(monitoring, 4, "1100") == []
    words = Monitoring()
    words.set("EVSE@1/AvailabilityState", False, "Delta", 0, 5, False, None, (), 0)
    assert evaluate(words, 1, "Available") == []
    assert evaluate(words, 2, "Occupied") == [(1000, "Delta", "Occupied", False)]


def test_periodic_and_clock_aligned() -> None:
    monitoring = Monitoring()
    add(monitoring, "ClockCtrlr/DateTime", False, "Periodic", 60, now=10)
    monitoring.set(
        "OCPPCommCtrlr/HeartbeatInterval", True, "PeriodicClockAligned", 900, 5, False, None, (), 10
    )
    assert monitoring.next_due() == 70
    assert evaluate(monitoring, 69, "x") == []
    assert evaluate(monitoring, 70, "x") == [(1000, "Periodic", "x", False)]
    assert monitoring.next_due() == 130
    assert [f[0] for f in evaluate(monitoring, 900, "x")] == [1000, 1001]
    assert monitoring.next_due() == 960


def test_state_round_trip_keeps_ids_and_progress() -> None:
    monitoring = Monitoring()
    monitoring.set("EVSE@1/Power", True, "UpperThreshold", 1000, 5, False, None, (), 0)
    evaluate(monitoring, 1, "2000")
    restored = Monitoring.from_state(monitoring.to_state())
    assert [m.to_wire() for m in restored.monitors()] == [
        m.to_wire() for m in monitoring.monitors()
    ]
    assert evaluate(restored, 2, "2000") == []  # already reported exceeded
    assert restored.set("EVSE@1/Power", True, "Delta", 1, 5, False, None, (), 0)[1] == 1001
    assert isinstance(restored.monitors()[0], Monitor)
