from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from worker.twin.smart_charging import (
    ChargingProfile,
    ChargingProfileStore,
    ChargingSchedule,
    ChargingSchedulePeriod,
)

T0 = datetime(2024, 1, 1, 12, 0, tzinfo=UTC)
AC = {"voltage": 230.0, "phases": 3, "current_type": "AC"}


def at(**delta: float) -> datetime:
    return T0 + timedelta(**delta)


def profile(
    id: int,
    purpose: str = "TxDefaultProfile",
    periods: Sequence[tuple[int, float]] = ((0, 11000),),
    *,
    level: int = 0,
    unit: str = "W",
    kind: str = "Absolute",
    start: datetime | None = T0,
    duration: int | None = None,
    phases: int | None = None,
    **kwargs: Any,
) -> ChargingProfile:
    schedule = ChargingSchedule(
        charging_rate_unit=unit,  # type: ignore[arg-type]
        periods=tuple(ChargingSchedulePeriod(s, limit, phases) for s, limit in periods),
        duration=duration,
        start_schedule=start,
    )
    return ChargingProfile(
        id=id, stack_level=level, purpose=purpose, kind=kind, schedule=schedule, **kwargs
    )


def limit(
    store: ChargingProfileStore,
    when: datetime,
    connector_id: int = 1,
    transaction_id: str | None = None,
    transaction_start: datetime | None = None,
    **electrical: Any,
) -> float | None:
    return store.limit_kw(
        connector_id,
        when,
        transaction_id=transaction_id,
        transaction_start=transaction_start,
        **(AC | electrical),
    )


# -- limits -------------------------------------------------------------------------


def test_no_profile_means_no_limit() -> None:
    assert limit(ChargingProfileStore(), T0) is None


def test_amps_are_converted_with_voltage_and_phases() -> None:
    store = ChargingProfileStore()
    store.install(0, profile(1, periods=[(0, 6)], unit="A"))

    assert limit(store, T0) == pytest.approx(4.14)
    assert limit(store, T0, phases=1) == pytest.approx(1.38)
    assert limit(store, T0, voltage=400.0, current_type="DC") == pytest.approx(2.4)


def test_period_number_phases_is_used() -> None:
    store = ChargingProfileStore()
    store.install(1, profile(1, periods=[(0, 16)], unit="A", phases=1))

    assert limit(store, T0) == pytest.approx(3.68)


def test_highest_stack_level_wins_until_its_duration_ends() -> None:
    store = ChargingProfileStore()
    store.install(0, profile(1, periods=[(0, 11000)], level=0))
    store.install(0, profile(2, periods=[(0, 7000)], level=1, duration=3600))

    assert limit(store, at(minutes=30)) == 7.0
    assert limit(store, at(hours=1)) == 11.0
    assert limit(store, at(minutes=-1)) is None  # before both absolute schedules start


def test_validity_window() -> None:
    store = ChargingProfileStore()
    store.install(0, profile(1, periods=[(0, 11000)], level=0))
    store.install(
        0,
        profile(2, periods=[(0, 3000)], level=5, valid_from=at(hours=1), valid_to=at(hours=2)),
    )

    assert limit(store, at(minutes=59)) == 11.0
    assert limit(store, at(hours=1)) == 3.0
    assert limit(store, at(minutes=119)) == 3.0
    assert limit(store, at(hours=2)) == 11.0


def test_relative_starts_at_the_transaction_absolute_at_start_schedule() -> None:
    periods = [(0, 10000), (1800, 5000)]
    relative = ChargingProfileStore()
    relative.install(1, profile(1, "TxProfile", periods, kind="Relative", start=None))
    absolute = ChargingProfileStore()
    absolute.install(1, profile(1, "TxProfile", periods))
    tx = {"transaction_id": "7", "transaction_start": at(minutes=10)}

    assert limit(relative, at(minutes=30), **tx) == 10.0
    assert limit(relative, at(minutes=40), **tx) == 5.0
    assert limit(absolute, at(minutes=29), **tx) == 10.0
    assert limit(absolute, at(minutes=30), **tx) == 5.0


def test_tx_profile_needs_a_running_transaction_with_its_id() -> None:
    store = ChargingProfileStore()
    store.install(1, profile(1, "TxDefaultProfile", [(0, 11000)]))
    store.install(1, profile(2, "TxProfile", [(0, 3000)], transaction_id="42"))

    assert limit(store, T0) == 11.0
    assert limit(store, T0, transaction_id="42", transaction_start=T0) == 3.0
    assert limit(store, T0, transaction_id="43", transaction_start=T0) == 11.0


def test_tx_profile_replaces_tx_default_even_when_higher() -> None:
    store = ChargingProfileStore()
    store.install(1, profile(1, "TxDefaultProfile", [(0, 3000)], level=9))
    store.install(1, profile(2, "TxProfile", [(0, 7000)]))

    assert limit(store, T0, transaction_id="1", transaction_start=T0) == 7.0


def test_connector_tx_default_takes_precedence_over_connector_0() -> None:
    store = ChargingProfileStore()
    store.install(0, profile(1, periods=[(0, 3000)], level=5))
    store.install(2, profile(2, periods=[(0, 7000)], level=0))

    assert limit(store, T0, connector_id=1) == 3.0
    assert limit(store, T0, connector_id=2) == 7.0


def test_charge_point_max_caps_a_tx_profile() -> None:
    store = ChargingProfileStore()
    store.install(0, profile(1, "ChargePointMaxProfile", [(0, 16)], unit="A"))
    store.install(1, profile(2, "TxProfile", [(0, 32)], unit="A"))
    tx = {"transaction_id": "1", "transaction_start": T0}

    assert limit(store, T0, **tx) == pytest.approx(11.04)
    store.clear(purpose="ChargePointMaxProfile")
    assert limit(store, T0, **tx) == pytest.approx(22.08)


def test_charge_point_max_alone_limits_without_transaction() -> None:
    store = ChargingProfileStore()
    store.install(0, profile(1, "ChargePointMaxProfile", [(0, 20000)]))

    assert limit(store, T0) == 20.0
    assert limit(store, T0, connector_id=0) == 20.0


def test_daily_recurrence_across_midnight() -> None:
    store = ChargingProfileStore()
    store.install(0, profile(1, periods=[(0, 11000)], level=0))
    night = profile(
        2,
        periods=[(0, 3000), (7200, 6000)],
        level=1,
        kind="Recurring",
        recurrency="Daily",
        start=datetime(2024, 1, 1, 22, 0, tzinfo=UTC),
        duration=8 * 3600,
    )
    store.install(0, night)

    def on(day: int, hour: int, minute: int = 0) -> datetime:
        return datetime(2024, 1, day, hour, minute, tzinfo=UTC)

    assert limit(store, on(1, 21, 59)) == 11.0
    assert limit(store, on(1, 22)) == 3.0
    assert limit(store, on(3, 23, 59)) == 3.0
    assert limit(store, on(4, 0)) == 6.0
    assert limit(store, on(4, 5, 59)) == 6.0
    assert limit(store, on(4, 6)) == 11.0
    assert limit(store, on(4, 12)) == 11.0


def test_weekly_recurrence() -> None:
    store = ChargingProfileStore()
    monday = datetime(2024, 1, 1, tzinfo=UTC)
    store.install(
        0,
        profile(
            1,
            periods=[(0, 2000)],
            kind="Recurring",
            recurrency="Weekly",
            start=monday,
            duration=86400,
        ),
    )

    assert limit(store, monday + timedelta(days=7, hours=3)) == 2.0
    assert limit(store, monday + timedelta(days=8, hours=3)) is None


def test_absolute_without_start_schedule_is_anchored_at_install() -> None:
    store = ChargingProfileStore()
    store.install(1, profile(1, periods=[(0, 3000), (600, 9000)], start=None), installed_at=T0)

    assert limit(store, at(minutes=5)) == 3.0
    assert limit(store, at(minutes=10)) == 9.0


# -- composite schedule --------------------------------------------------------------


def test_composite_schedule_combines_purposes_and_fills_gaps() -> None:
    store = ChargingProfileStore()
    cp_max = profile(1, "ChargePointMaxProfile", [(0, 13)], unit="A", valid_to=at(hours=2))
    store.install(0, cp_max)
    store.install(1, profile(2, "TxDefaultProfile", [(0, 16), (3600, 10)], unit="A", duration=5400))

    amps = store.composite_schedule(
        1,
        T0,
        10800,
        unit=None,
        transaction_id=None,
        transaction_start=None,
        connector_max_kw=22.0,
        **AC,
    )
    watts = store.composite_schedule(
        1,
        T0,
        10800,
        unit="W",
        transaction_id=None,
        transaction_start=None,
        connector_max_kw=22.0,
        **AC,
    )

    assert amps.charging_rate_unit == "A"
    assert amps.start == T0
    assert amps.duration == 10800
    assert amps.periods == (
        ChargingSchedulePeriod(0, 13.0),
        ChargingSchedulePeriod(3600, 10.0),
        ChargingSchedulePeriod(5400, 13.0),
        ChargingSchedulePeriod(7200, 31.9),
    )
    assert watts.periods == (
        ChargingSchedulePeriod(0, 8970.0),
        ChargingSchedulePeriod(3600, 6900.0),
        ChargingSchedulePeriod(5400, 8970.0),
        ChargingSchedulePeriod(7200, 22000.0),
    )
    assert watts.to_ocpp16() == {
        "duration": 10800,
        "startSchedule": "2024-01-01T12:00:00Z",
        "chargingRateUnit": "W",
        "chargingSchedulePeriod": [
            {"startPeriod": 0, "limit": 8970.0},
            {"startPeriod": 3600, "limit": 6900.0},
            {"startPeriod": 5400, "limit": 8970.0},
            {"startPeriod": 7200, "limit": 22000.0},
        ],
    }
    assert watts.to_ocpp201(evse_id=1)["scheduleStart"] == "2024-01-01T12:00:00Z"


def test_composite_schedule_merges_equal_periods_and_follows_the_transaction() -> None:
    store = ChargingProfileStore()
    store.install(1, profile(1, "TxDefaultProfile", [(0, 7000), (1800, 7000), (3600, 5000)]))
    store.install(1, profile(2, "TxProfile", [(0, 4000), (900, 6000)], kind="Relative", start=None))

    schedule = store.composite_schedule(
        1,
        T0,
        7200,
        unit="W",
        transaction_id="5",
        transaction_start=at(minutes=-10),
        **AC,
    )

    assert schedule.periods == (
        ChargingSchedulePeriod(0, 4000.0),
        ChargingSchedulePeriod(300, 6000.0),
    )


def test_composite_schedule_with_daily_recurrence_spanning_midnight() -> None:
    store = ChargingProfileStore()
    store.install(
        0,
        profile(
            1,
            periods=[(0, 3000)],
            kind="Recurring",
            recurrency="Daily",
            start=datetime(2024, 1, 1, 22, tzinfo=UTC),
            duration=8 * 3600,
        ),
    )

    schedule = store.composite_schedule(
        1,
        datetime(2024, 1, 5, 20, tzinfo=UTC),
        27 * 3600,
        unit="W",
        transaction_id=None,
        transaction_start=None,
        connector_max_kw=11.0,
        **AC,
    )

    assert schedule.periods == (
        ChargingSchedulePeriod(0, 11000.0),
        ChargingSchedulePeriod(2 * 3600, 3000.0),
        ChargingSchedulePeriod(10 * 3600, 11000.0),
        ChargingSchedulePeriod(26 * 3600, 3000.0),
    )


def test_composite_schedule_without_profiles_is_empty_or_the_connector_max() -> None:
    store = ChargingProfileStore()
    kwargs: dict[str, Any] = {"unit": "W", "transaction_id": None, "transaction_start": None}

    assert store.composite_schedule(1, T0, 3600, **kwargs, **AC).periods == ()
    capped = store.composite_schedule(1, T0, 3600, connector_max_kw=7.4, **kwargs, **AC)
    assert capped.periods == (ChargingSchedulePeriod(0, 7400.0),)


# -- install and clear -----------------------------------------------------------------


def test_install_replaces_same_id_and_same_level_and_purpose() -> None:
    store = ChargingProfileStore()
    store.install(1, profile(1, level=0))
    store.install(2, profile(1, level=0, periods=[(0, 5000)]))
    assert [(cid, p.id) for cid, p in store.profiles()] == [(2, 1)]

    store.install(2, profile(2, level=0, periods=[(0, 6000)]))
    store.install(1, profile(3, level=0))
    assert [(cid, p.id) for cid, p in store.profiles()] == [(1, 3), (2, 2)]
    assert [p.id for _, p in store.profiles(2)] == [2]
    assert len(store) == 2


def test_install_rejects_what_the_specification_rejects() -> None:
    store = ChargingProfileStore()

    with pytest.raises(ValueError, match="TxProfile"):
        store.install(0, profile(1, "TxProfile"))
    with pytest.raises(ValueError, match="connector 0"):
        store.install(1, profile(1, "ChargePointMaxProfile"))
    assert len(store) == 0


def filled_store() -> ChargingProfileStore:
    store = ChargingProfileStore()
    store.install(0, profile(1, "ChargePointMaxProfile", level=0))
    store.install(0, profile(2, "TxDefaultProfile", level=1))
    store.install(1, profile(3, "TxDefaultProfile", level=1))
    store.install(1, profile(4, "TxProfile", level=2))
    store.install(2, profile(5, "TxProfile", level=2))
    return store


@pytest.mark.parametrize(
    ("criteria", "removed", "left"),
    [
        ({"profile_id": 3}, 1, [1, 2, 4, 5]),
        ({"profile_id": 3, "connector_id": 2}, 1, [1, 2, 4, 5]),
        ({"profile_id": 99}, 0, [1, 2, 3, 4, 5]),
        ({"connector_id": 1}, 2, [1, 2, 5]),
        ({"purpose": "TxProfile"}, 2, [1, 2, 3]),
        ({"purpose": "ChargingStationMaxProfile"}, 1, [2, 3, 4, 5]),
        ({"stack_level": 1}, 2, [1, 4, 5]),
        ({"connector_id": 0, "stack_level": 1}, 1, [1, 3, 4, 5]),
        ({}, 5, []),
    ],
)
def test_clear_by_each_criterion(criteria: dict[str, Any], removed: int, left: list[int]) -> None:
    store = filled_store()

    assert store.clear(**criteria) == removed
    assert sorted(p.id for _, p in store.profiles()) == left
    assert len(store) == len(left)


def test_clear_transaction_profiles_only_touches_that_connector() -> None:
    store = filled_store()

    store.clear_transaction_profiles(1)
    store.clear_transaction_profiles(3)

    assert sorted(p.id for _, p in store.profiles()) == [1, 2, 3, 5]


# -- wire formats ----------------------------------------------------------------------

OCPP16 = {
    "chargingProfileId": 12,
    "transactionId": 345,
    "stackLevel": 2,
    "chargingProfilePurpose": "TxProfile",
    "chargingProfileKind": "Recurring",
    "recurrencyKind": "Daily",
    "validFrom": "2024-01-01T00:00:00Z",
    "validTo": "2024-02-01T00:00:00Z",
    "chargingSchedule": {
        "startSchedule": "2024-01-01T22:00:00Z",
        "duration": 28800,
        "chargingRateUnit": "A",
        "chargingSchedulePeriod": [
            {"startPeriod": 0, "limit": 6.0, "numberPhases": 1},
            {"startPeriod": 3600, "limit": 16.0},
        ],
        "minChargingRate": 6.0,
    },
}

OCPP201 = {
    "id": 7,
    "stackLevel": 0,
    "chargingProfilePurpose": "ChargingStationMaxProfile",
    "chargingProfileKind": "Absolute",
    "validFrom": "2024-01-01T00:00:00Z",
    "chargingSchedule": [
        {
            "id": 3,
            "startSchedule": "2024-01-01T12:00:00Z",
            "chargingRateUnit": "W",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 22000.0}],
        }
    ],
}


def test_ocpp16_round_trip() -> None:
    parsed = ChargingProfile.from_ocpp16(OCPP16)

    assert parsed.transaction_id == "345"
    assert parsed.kind == "Recurring"
    assert parsed.schedule.periods[0] == ChargingSchedulePeriod(0, 6.0, 1)
    assert parsed.schedule.start_schedule == datetime(2024, 1, 1, 22, tzinfo=UTC)
    assert parsed.to_ocpp16() == OCPP16


def test_ocpp201_round_trip_and_purpose_mapping() -> None:
    parsed = ChargingProfile.from_ocpp201(OCPP201)

    assert parsed.purpose == "ChargePointMaxProfile"
    assert parsed.schedule.id == 3
    assert parsed.to_ocpp201() == OCPP201


def test_ocpp201_tx_profile_round_trip() -> None:
    payload = {
        "id": 8,
        "stackLevel": 1,
        "chargingProfilePurpose": "TxProfile",
        "chargingProfileKind": "Relative",
        "transactionId": "tx-abc",
        "chargingSchedule": [
            {
                "id": 1,
                "duration": 3600,
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 10.0, "numberPhases": 3}],
            }
        ],
    }

    assert ChargingProfile.from_ocpp201(payload).to_ocpp201() == payload


def test_snake_case_keys_from_the_ocpp_library_are_accepted() -> None:
    snake = {
        "charging_profile_id": 1,
        "stack_level": 0,
        "charging_profile_purpose": "TxDefaultProfile",
        "charging_profile_kind": "Absolute",
        "charging_schedule": {
            "charging_rate_unit": "A",
            "charging_schedule_period": [{"start_period": 0, "limit": 6, "number_phases": 3}],
        },
    }

    parsed = ChargingProfile.from_ocpp16(snake)

    assert parsed.schedule.periods == (ChargingSchedulePeriod(0, 6.0, 3),)


def test_bad_wire_payloads_say_what_is_wrong() -> None:
    missing = {k: v for k, v in OCPP16.items() if k != "stackLevel"}
    with pytest.raises(ValueError, match="stackLevel is required"):
        ChargingProfile.from_ocpp16(missing)
    with pytest.raises(ValueError, match="chargingProfileKind"):
        ChargingProfile.from_ocpp16(OCPP16 | {"chargingProfileKind": "Sometimes"})
    bad_periods = OCPP16["chargingSchedule"] | {
        "chargingSchedulePeriod": [{"startPeriod": 60, "limit": 1}, {"startPeriod": 0, "limit": 2}]
    }
    with pytest.raises(ValueError, match="ascending"):
        ChargingProfile.from_ocpp16(OCPP16 | {"chargingSchedule": bad_periods})
    with pytest.raises(ValueError, match="date-time"):
        ChargingProfile.from_ocpp16(OCPP16 | {"validFrom": "yesterday"})


def test_composite_schedule_agrees_with_limit_at_every_minute() -> None:
    store = ChargingProfileStore()
    store.install(0, profile(1, "ChargePointMaxProfile", [(0, 20000), (5000, 9000)], duration=9000))
    store.install(0, profile(2, periods=[(0, 16), (2000, 8)], unit="A", level=0))
    store.install(
        0,
        profile(
            3,
            periods=[(0, 6)],
            unit="A",
            level=2,
            kind="Recurring",
            recurrency="Daily",
            start=at(minutes=50),
            duration=1800,
        ),
    )
    store.install(1, profile(4, "TxProfile", [(0, 10), (700, 12)], unit="A", kind="Relative"))
    tx = {"transaction_id": "9", "transaction_start": at(minutes=30)}

    schedule = store.composite_schedule(
        1, T0, 4 * 3600, unit="W", connector_max_kw=22.0, **tx, **AC
    )

    starts = [p.start_period for p in schedule.periods]
    for minute in range(4 * 60):
        expected = limit(store, at(minutes=minute), **tx)
        expected_w = 22000.0 if expected is None else min(expected * 1000, 22000.0)
        period = schedule.periods[max(i for i, s in enumerate(starts) if s <= minute * 60)]
        assert period.limit == pytest.approx(expected_w, abs=0.05), minute
