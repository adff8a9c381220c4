"""OCPP 2.1: a discharging twin saved in one process and restored in another carries on
discharging, with its export register, vehicle and setpoint profile."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from ocpp.v21 import call

from tests.twin.scripted_csms import EventLog
from tests.twin.scripted_csms21 import ScriptedCsms21
from tests.twin.scripted_csms201 import make_config, sampled
from tests.twin.test_ocpp21_v2x import EXPORT, POWER, bidirectional_vehicle, setpoint_profile
from worker.twin.charge_point import ChargePointTwin
from worker.twin.clock import VirtualClock

CSMS_TYPE = ScriptedCsms21
START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
SETTLE = 0.05


def new_twin(csms: ScriptedCsms21, clock: VirtualClock) -> ChargePointTwin:
    config = make_config(
        csms.url,
        protocol="ocpp2.1",
        ocpp_configuration={"SampledDataCtrlr/TxUpdatedInterval": "60"},
    )
    return ChargePointTwin(config, clock, EventLog())


def periodic(csms: ScriptedCsms21, index: int = 0) -> list[dict[str, float]]:
    return [
        sampled(r.payload)
        for r in csms.received[index:]
        if r.action == "TransactionEvent" and r.payload.get("triggerReason") == "MeterValuePeriodic"
    ]


async def test_a_restored_twin_carries_on_discharging(csms: ScriptedCsms21) -> None:
    clock = VirtualClock(start=START)
    old = new_twin(csms, clock)
    await old.start()
    await old.connected(timeout=5)
    await old.plug_in(1, bidirectional_vehicle(soc=60.0), "veh-1")
    await old.start_transaction(1, "TAG")
    result = await csms.call(
        "CS1", call.SetChargingProfile(evse_id=1, charging_profile=setpoint_profile(-6000.0))
    )
    assert result.status == "Accepted"
    await clock.advance(600, settle=SETTLE)
    await csms.wait_for(
        "TransactionEvent", lambda p: p.get("triggerReason") == "MeterValuePeriodic", count=3
    )
    state: dict[str, Any] = json.loads(json.dumps(old.save_state()))
    await old.close()
    saved_export = state["connectors"][0]["export_wh"]
    assert saved_export > 0
    assert state["connectors"][0]["vehicle"]["bidirectional"] is True

    before = len(csms.received)
    sent_before = len(periodic(csms))
    twin = new_twin(csms, clock)
    twin.restore_state(state, resume=True, last_alive=clock.now())
    try:
        await twin.start()
        await twin.connected(timeout=5)
        await clock.advance(600, settle=SETTLE)
        await csms.wait_for(
            "TransactionEvent",
            lambda p: p.get("triggerReason") == "MeterValuePeriodic",
            count=sent_before + 5,
        )
        after = periodic(csms, before)
        assert after[-1][POWER] == pytest.approx(-6000.0)
        assert after[-1][EXPORT] > saved_export
        assert twin.connector(1).vehicle.soc < state["connectors"][0]["vehicle"]["soc"]
        assert twin.connector(1).vehicle.min_soc == 45.0
        assert all(r.valid for r in csms.received)
    finally:
        await twin.close()
