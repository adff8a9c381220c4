"""The saved state as a value: plain JSON, and what a restore gives back is what was saved."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.twin.scripted_csms import EventLog, make_config, make_vehicle
from worker.twin.authorization import LocalListEntry
from worker.twin.charge_point import ChargePointTwin
from worker.twin.clock import VirtualClock
from worker.twin.config import ChargePointConfig
from worker.twin.events import (
    ChargePointChanged,
    ConnectorChanged,
    TransactionChanged,
    VehicleChanged,
)
from worker.twin.protocol import IdTagInfo
from worker.twin.smart_charging import ChargingProfile
from worker.twin.state import StateError
from worker.twin.vehicle import ChargingCurve, Vehicle

START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def config(protocol: str) -> ChargePointConfig:
    base = make_config(
        "ws://127.0.0.1:9",
        connector_types=("cType2", "cCCS2"),
        ocpp_configuration={"AllowOfflineTxForUnknownId": "true"},
    )
    if protocol == "ocpp1.6":
        return base
    return ChargePointConfig(
        charge_point_id=base.charge_point_id,
        cid=base.cid,
        protocol="ocpp2.0.1",
        csms_url=base.csms_url,
        evses=base.evses,
        ocpp_configuration={"AuthCtrlr/OfflineTxForUnknownIdEnabled": "true"},
    )


def comparable(state: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in state.items() if k != "saved_at"}


@pytest.mark.parametrize("protocol", ["ocpp1.6", "ocpp2.0.1"])
async def test_a_restored_twin_saves_the_state_it_was_given(protocol: str) -> None:
    clock = VirtualClock(start=START)
    twin = ChargePointTwin(config(protocol), clock, EventLog())
    curve = ChargingCurve.from_points([(0, 100), (60, 100), (100, 10)])
    vehicle = Vehicle(capacity_kwh=77.0, soc=31.5, max_ac_kw=11.0, max_dc_kw=120.0, dc_curve=curve)
    await twin.plug_in(2, vehicle, "veh-dc")
    started = await twin.start_transaction(2, "TAG")  # offline: queued
    profile = ChargingProfile.from_ocpp201(
        {
            "id": 3,
            "stackLevel": 1,
            "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Absolute",
            "chargingSchedule": [
                {
                    "id": 3,
                    "chargingRateUnit": "W",
                    "chargingSchedulePeriod": [
                        {"startPeriod": 0, "limit": 40000.0},
                        {"startPeriod": 600, "limit": 20000.0},
                    ],
                }
            ],
        }
    )
    assert twin.handle_set_charging_profile(0, profile)
    assert twin.handle_reserve(1, START + timedelta(hours=1), "TAG-R", None, 9) == "Accepted"
    twin.authorizer.update_list(4, "Full", [LocalListEntry("TAG-L", IdTagInfo("Accepted"))])
    await twin.set_faulted(1, "GroundFailure", "test")
    await clock.advance(300)

    state = twin.save_state()
    stored = json.loads(json.dumps(state))  # plain JSON, no custom encoder
    assert stored == state
    [connector_1, connector_2] = state["connectors"]
    assert connector_2["vehicle"]["dc_curve"] == [list(p) for p in curve.points]
    assert connector_2["transaction_ref"] == started.transaction_ref
    assert connector_2["register_wh"] > 0
    assert connector_1["reservation"]["reservation_id"] == 9
    assert connector_1["error_code"] == "GroundFailure"
    assert [q["kind"] for q in state["queue"]] == ["start"] + ["meter"] * 5
    assert state["authorization"]["list_version"] == 4
    await twin.close()

    events = EventLog()
    restored = ChargePointTwin(config(protocol), clock, events)
    restored.restore_state(stored, resume=True, last_alive=clock.now())
    assert comparable(restored.save_state()) == comparable(state)
    assert restored.find_transaction(started.transaction_ref) is not None
    assert restored.authorizer.listed("TAG-L") == IdTagInfo("Accepted")
    assert [e.status for e in events.of(ConnectorChanged)] == ["Faulted", "Charging"]
    assert events.of(VehicleChanged)[0].vehicle_ref == "veh-dc"
    assert events.of(ChargePointChanged)
    await restored.close()


async def test_a_state_of_another_version_or_charge_point_is_refused() -> None:
    clock = VirtualClock(start=START)
    twin = ChargePointTwin(config("ocpp1.6"), clock, EventLog())
    state = twin.save_state()
    other = ChargePointTwin(config("ocpp1.6"), clock, EventLog())
    with pytest.raises(StateError):
        other.restore_state({**state, "version": 2}, resume=True, last_alive=clock.now())
    with pytest.raises(StateError):
        other.restore_state(
            {**state, "charge_point_id": "elsewhere"}, resume=True, last_alive=clock.now()
        )


async def test_a_power_loss_never_ends_a_transaction_before_it_began() -> None:
    clock = VirtualClock(start=START)
    twin = ChargePointTwin(config("ocpp1.6"), clock, EventLog())
    await clock.advance(300)
    started = await twin.start_transaction(1, "TAG", make_vehicle(), "veh-1")  # offline
    state = json.loads(json.dumps(twin.save_state()))
    await twin.close()

    events = EventLog()
    restored = ChargePointTwin(config("ocpp1.6"), clock, events)
    naive_and_stale = START.replace(tzinfo=None)
    restored.restore_state(state, resume=False, last_alive=naive_and_stale)
    [ended] = [e for e in events.of(TransactionChanged) if e.status == "Ended"]
    assert ended.transaction_ref == started.transaction_ref
    assert ended.end_time == started.start_time == START + timedelta(seconds=300)
    assert [q["kind"] for q in restored.save_state()["queue"]] == ["start", "stop"]
    await restored.close()


async def test_a_state_saved_under_another_ocpp_version_restores_without_its_details() -> None:
    clock = VirtualClock(start=START)
    twin = ChargePointTwin(config("ocpp2.0.1"), clock, EventLog())
    started = await twin.start_transaction(1, "TAG", make_vehicle(), "veh-1")  # offline
    state = json.loads(json.dumps(twin.save_state()))
    assert state["transactions"][0]["adapter"]["seq_no"] == 0
    await twin.close()

    restored = ChargePointTwin(config("ocpp1.6"), clock, EventLog())
    restored.restore_state(state, resume=True, last_alive=clock.now())
    assert restored.find_transaction(started.transaction_ref) is not None
    assert restored.save_state()["transactions"][0]["adapter"] is None
    await restored.close()
