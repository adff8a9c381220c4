"""The core on its own (no CSMS: an offline twin that starts with LocalAuthorizeOffline),
driven by a virtual clock so that every number is exact."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.twin.scripted_csms import EventLog, make_config, make_vehicle
from worker.twin.charge_point import ChargePointTwin
from worker.twin.clock import VirtualClock
from worker.twin.errors import InvalidState, NotConnected
from worker.twin.events import (
    ConnectorChanged,
    MeterSampled,
    TransactionChanged,
    VehicleChanged,
)
from worker.twin.smart_charging import ChargingProfile
from worker.twin.vehicle import Vehicle

OFFLINE_OK = {"AllowOfflineTxForUnknownId": "true", "MeterValueSampleInterval": "60"}


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
async def twin(clock: VirtualClock, events: EventLog) -> AsyncIterator[ChargePointTwin]:
    config = make_config(
        "ws://127.0.0.1:9", connector_types=("cType2", "cCCS2"), ocpp_configuration=OFFLINE_OK
    )
    twin = ChargePointTwin(config, clock, events)
    yield twin
    await twin.close()


def statuses(events: EventLog, connector_id: int) -> list[str]:
    seen: list[str] = []
    for event in events.of(ConnectorChanged):
        if event.connector_id == connector_id and (not seen or seen[-1] != event.status):
            seen.append(event.status)
    return seen


async def test_energy_is_exact_and_meter_samples_follow_the_interval(
    twin: ChargePointTwin, clock: VirtualClock, events: EventLog
) -> None:
    vehicle = make_vehicle(soc=20.0, capacity_kwh=60.0)
    started = await twin.start_transaction(1, "TAG", vehicle, "veh-1")
    assert started.csms_transaction_id is None  # queued: the twin is offline
    await clock.advance(1800)
    samples = events.of(MeterSampled)
    assert len(samples) == 30
    assert samples[-1].energy_wh == pytest.approx(11000.0)
    assert samples[-1].power_w == pytest.approx(22000.0)
    assert samples[-1].current_a == pytest.approx(22000 / (3 * 230))
    stopped = await twin.stop_transaction(started.transaction_ref)
    assert stopped.energy_kwh == pytest.approx(11.0)
    assert stopped.meter_stop_wh == 11000
    assert vehicle.soc == pytest.approx(20.0 + 11.0 / 60 * 100)
    assert twin.snapshot()["queued_messages"] == 1 + 30 + 1


async def test_dc_connector_current_uses_dc_voltage(
    twin: ChargePointTwin, clock: VirtualClock, events: EventLog
) -> None:
    await twin.start_transaction(2, "TAG", make_vehicle(soc=20.0), "veh-2")
    await clock.advance(60)
    sample = events.of(MeterSampled)[-1]
    assert sample.power_w == pytest.approx(50000.0)  # the charge point's DC maximum
    assert sample.current_a == pytest.approx(50000.0 / 400.0)
    assert sample.voltage_v == 400.0


async def test_full_vehicle_suspends_ev(
    twin: ChargePointTwin, clock: VirtualClock, events: EventLog
) -> None:
    vehicle = Vehicle(capacity_kwh=10.0, soc=99.0, max_ac_kw=11.0, max_dc_kw=50.0)
    await twin.start_transaction(1, "TAG", vehicle, "veh-1")
    await clock.advance(600)
    assert vehicle.is_full
    assert statuses(events, 1)[-1] == "SuspendedEV"
    assert events.of(VehicleChanged)[-1].status == "full"
    assert events.of(TransactionChanged)[-1].status == "SuspendedEV"
    assert events.of(MeterSampled)[-1].power_w == 0.0


async def test_zero_limit_suspends_evse_and_profile_changes_integrate_first(
    twin: ChargePointTwin, clock: VirtualClock, events: EventLog
) -> None:
    started = await twin.start_transaction(1, "TAG", make_vehicle(soc=20.0), "veh-1")
    await clock.advance(30)
    zero = ChargingProfile.from_ocpp16(
        {
            "chargingProfileId": 1,
            "stackLevel": 0,
            "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Relative",
            "chargingSchedule": {
                "chargingRateUnit": "W",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 0}],
            },
        }
    )
    assert twin.handle_set_charging_profile(0, zero)
    assert statuses(events, 1)[-1] == "SuspendedEVSE"
    await clock.advance(600)
    assert twin.handle_clear_charging_profile(None, None, None, None)
    await clock.advance(30)
    stopped = await twin.stop_transaction(started.transaction_ref)
    assert stopped.energy_kwh == pytest.approx(22.0 * 60 / 3600)


async def test_fault_stops_power_and_clearing_it_resumes(
    twin: ChargePointTwin, clock: VirtualClock, events: EventLog
) -> None:
    started = await twin.start_transaction(1, "TAG", make_vehicle(soc=20.0), "veh-1")
    await clock.advance(60)
    await twin.set_faulted(1, "GroundFailure")
    assert statuses(events, 1)[-1] == "Faulted"
    await clock.advance(600)
    await twin.clear_fault(1)
    assert statuses(events, 1)[-1] == "Charging"
    await clock.advance(60)
    stopped = await twin.stop_transaction(started.transaction_ref)
    assert stopped.energy_kwh == pytest.approx(22.0 * 120 / 3600)
    with pytest.raises(InvalidState, match="not faulted"):
        await twin.clear_fault(1)


async def test_unplug_ends_the_transaction_finishing_then_available(
    twin: ChargePointTwin, clock: VirtualClock, events: EventLog
) -> None:
    await twin.start_transaction(1, "TAG", make_vehicle(), "veh-1")
    await clock.advance(60)
    await twin.unplug(1)
    assert statuses(events, 1) == ["Preparing", "Charging", "Finishing", "Available"]
    ended = events.of(TransactionChanged)[-1]
    assert (ended.status, ended.stop_reason) == ("Ended", "EVDisconnected")
    assert events.of(VehicleChanged)[-1].status == "ready-to-charge"
    assert twin.snapshot()["transactions"] == []


async def test_one_transaction_per_connector(twin: ChargePointTwin, clock: VirtualClock) -> None:
    await twin.start_transaction(1, "TAG", make_vehicle(), "veh-1")
    with pytest.raises(InvalidState, match="already has transaction"):
        await twin.start_transaction(1, "TAG")
    with pytest.raises(InvalidState, match="already has vehicle"):
        await twin.plug_in(1, make_vehicle(), "veh-2")


async def test_offline_without_local_authorisation(clock: VirtualClock, events: EventLog) -> None:
    config = make_config("ws://127.0.0.1:9", ocpp_configuration={"LocalAuthorizeOffline": "false"})
    twin = ChargePointTwin(config, clock, events)
    with pytest.raises(NotConnected, match="LocalAuthorizeOffline"):
        await twin.start_transaction(1, "TAG", make_vehicle(), "veh-1")
    assert statuses(events, 1) == ["Preparing", "Available"]  # the failed start unplugs
    await twin.close()


async def test_idle_twin_runs_no_timer(twin: ChargePointTwin, clock: VirtualClock) -> None:
    await twin.plug_in(1, make_vehicle(), "veh-1")
    assert clock.pending_sleepers == 0


async def test_offline_queue_keeps_bounded_meter_values(
    twin: ChargePointTwin, clock: VirtualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(type(twin.queue), "MAX_METER_VALUES", 5)
    started = await twin.start_transaction(1, "TAG", make_vehicle(), "veh-1")
    await clock.advance(60 * 20)
    await twin.stop_transaction(started.transaction_ref)
    kinds = [item.kind for item in twin.queue.durable_items()]
    assert kinds == ["start"] + ["meter"] * 5 + ["stop"]
    offsets = [
        (item.sample.at - started.start_time).total_seconds()
        for item in twin.queue.durable_items()
        if item.sample is not None
    ]
    assert offsets == [960, 1020, 1080, 1140, 1200]  # the newest are kept


async def test_energy_follows_a_schedule_period_that_starts_between_samples(
    twin: ChargePointTwin, clock: VirtualClock, events: EventLog
) -> None:
    profile = ChargingProfile.from_ocpp16(
        {
            "chargingProfileId": 1,
            "stackLevel": 0,
            "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Relative",
            "chargingSchedule": {
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [
                    {"startPeriod": 0, "limit": 16},
                    {"startPeriod": 90, "limit": 6},
                ],
            },
        }
    )
    assert twin.handle_set_charging_profile(0, profile)
    await twin.start_transaction(1, "TAG", make_vehicle(soc=20.0), "veh-1")
    await clock.advance(120)
    first, second = events.of(MeterSampled)
    assert first.power_w == pytest.approx(11040.0)
    assert first.energy_wh == pytest.approx(11040.0 * 60 / 3600)
    assert second.power_w == pytest.approx(4140.0)
    assert second.energy_wh == pytest.approx((11040.0 * 90 + 4140.0 * 30) / 3600)
    # The power changed when the period began, not at the next sample.
    changes = [(e.at, e.power_kw) for e in events.of(ConnectorChanged) if e.connector_id == 1]
    lowered = next(at for at, power in changes if power == pytest.approx(4.14))
    assert (lowered - first.at).total_seconds() == 30
