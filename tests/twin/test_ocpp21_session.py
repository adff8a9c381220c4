"""OCPP 2.1: boot, a charging session and its meter values, checked against the 2.1 schemas."""

from __future__ import annotations

import pytest
from ocpp.exceptions import NotSupportedError
from ocpp.v21 import call

from tests.twin.scripted_csms import EventLog, make_vehicle
from tests.twin.scripted_csms21 import ScriptedCsms21, booted_twin21
from tests.twin.scripted_csms201 import sampled
from worker.twin.charge_point import ChargePointTwin
from worker.twin.vehicle import Vehicle

#: The ``csms`` fixture (tests/twin/conftest.py) of this module.
CSMS_TYPE = ScriptedCsms21


async def test_boot_in_2_1(twin: ChargePointTwin, csms: ScriptedCsms21) -> None:
    assert csms.subprotocols == ["ocpp2.1"]
    boot = csms.of("BootNotification")[0].payload
    assert boot["reason"] == "PowerUp"
    assert boot["chargingStation"]["vendorName"] == "Elu Twin"
    await csms.wait_for("StatusNotification", lambda p: p["connectorStatus"] == "Available")
    assert all(r.valid for r in csms.received)


async def test_session_with_meter_values(twin: ChargePointTwin, csms: ScriptedCsms21) -> None:
    await twin.plug_in(1, make_vehicle(soc=20.0, capacity_kwh=60.0), "veh-1")
    started = await twin.start_transaction(1, "TAG-1")
    assert started.status == "Charging"
    first = csms.transaction_events()[0]
    assert first["eventType"] == "Started"
    assert first["transactionInfo"]["transactionId"] == started.transaction_ref
    await csms.wait_for("TransactionEvent", lambda p: p["eventType"] == "Updated", count=2)
    updates = [p for p in csms.transaction_events() if p["eventType"] == "Updated"]
    values = sampled(updates[-1])
    assert values["Power.Active.Import"] == pytest.approx(22000.0)
    assert values["Energy.Active.Import.Register"] > 0
    stopped = await twin.stop_transaction(started.transaction_ref)
    ended = await csms.wait_for("TransactionEvent", lambda p: p["eventType"] == "Ended")
    assert sampled(ended.payload, -1)["Energy.Active.Import.Register"] == stopped.meter_stop_wh
    assert all(r.valid for r in csms.received)


async def test_csms_calls_are_answered_in_2_1(twin: ChargePointTwin, csms: ScriptedCsms21) -> None:
    result = await csms.call(
        "CS1",
        call.GetVariables(
            get_variable_data=[
                {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}
            ]
        ),
    )
    assert result.get_variable_result[0]["attribute_value"] == "300"
    with pytest.raises(NotSupportedError):
        await csms.call(
            "CS1", call.SetDERControl(is_default=False, control_id="c1", control_type="FreqDroop")
        )
    assert twin.online


async def test_charging_needs_of_a_unidirectional_vehicle(
    twin: ChargePointTwin, csms: ScriptedCsms21
) -> None:
    await twin.plug_in(1, make_vehicle(soc=40.0, capacity_kwh=50.0), "veh-1")
    await twin.start_transaction(1, "TAG-1")
    needs = await csms.wait_for("NotifyEVChargingNeeds")
    assert needs.payload["evseId"] == 1
    assert needs.payload["chargingNeeds"] == {
        "requestedEnergyTransfer": "AC_three_phase",
        "acChargingParameters": {
            "energyAmount": 30000.0,  # 60 % of 50 kWh
            "evMinCurrent": 0.0,
            "evMaxCurrent": round(22000 / (230 * 3), 1),
            "evMaxVoltage": 230.0,
        },
    }
    # Sent once the transaction started (the EV is connected and authorised).
    actions = [r.action for r in csms.received]
    assert actions.index("TransactionEvent") < actions.index("NotifyEVChargingNeeds")
    assert all(r.valid for r in csms.received)


async def test_charging_needs_of_a_bidirectional_dc_vehicle(
    csms: ScriptedCsms21, events: EventLog
) -> None:
    twin = await booted_twin21(csms, events, connector_types=("cCCS2",))
    try:
        vehicle = Vehicle(
            capacity_kwh=80.0,
            soc=50.0,
            max_ac_kw=11.0,
            max_dc_kw=100.0,
            bidirectional=True,
            max_discharge_kw=10.0,
            min_soc=30.0,
        )
        await twin.plug_in(1, vehicle, "veh-1")
        await twin.start_transaction(1, "TAG-1")
        needs = (await csms.wait_for("NotifyEVChargingNeeds")).payload["chargingNeeds"]
    finally:
        await twin.close()
    assert needs["requestedEnergyTransfer"] == "DC_BPT"
    assert needs["availableEnergyTransfer"] == ["DC_BPT", "DC"]
    assert needs["dcChargingParameters"]["stateOfCharge"] == 50
    assert needs["dcChargingParameters"]["evEnergyCapacity"] == 80000.0
    assert needs["dcChargingParameters"]["evMaxPower"] == 100000.0
    v2x = needs["v2xChargingParameters"]
    assert v2x["maxDischargePower"] == 10000.0
    assert v2x["evMinV2XEnergyRequest"] == -16000.0  # down to 30 % of 80 kWh
    assert v2x["evMaxV2XEnergyRequest"] == 40000.0
    assert v2x["targetSoC"] == 100
    assert all(r.valid for r in csms.received)


async def test_a_rejected_charging_needs_answer_leaves_the_session_running(
    twin: ChargePointTwin, csms: ScriptedCsms21
) -> None:
    csms.answer("NotifyEVChargingNeeds", {"status": "Rejected"})
    await twin.plug_in(1, make_vehicle(), "veh-1")
    started = await twin.start_transaction(1, "TAG-1")
    await csms.wait_for("NotifyEVChargingNeeds")
    await csms.wait_for("TransactionEvent", lambda p: p["eventType"] == "Updated")
    assert twin.find_transaction(started.transaction_ref).status == "Charging"
