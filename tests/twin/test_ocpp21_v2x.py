"""OCPP 2.1 V2X: setpoints in charging profiles discharge a bidirectional vehicle."""

from __future__ import annotations

from typing import Any

import pytest
from ocpp.v21 import call

from tests.twin.scripted_csms import EventLog, make_vehicle
from tests.twin.scripted_csms21 import ScriptedCsms21, booted_twin21
from tests.twin.scripted_csms201 import sampled
from worker.twin.charge_point import ChargePointTwin
from worker.twin.vehicle import Vehicle

#: The ``csms`` fixture (tests/twin/conftest.py) of this module.
CSMS_TYPE = ScriptedCsms21
EXPORT = "Energy.Active.Export.Register"
IMPORT = "Energy.Active.Import.Register"
POWER = "Power.Active.Import"


def bidirectional_vehicle(soc: float = 60.0) -> Vehicle:
    return Vehicle(
        capacity_kwh=60.0,
        soc=soc,
        max_ac_kw=22.0,
        max_dc_kw=150.0,
        bidirectional=True,
        max_discharge_kw=11.0,
        min_soc=45.0,
    )


def setpoint_profile(setpoint_w: float, profile_id: int = 5, **period: Any) -> dict[str, Any]:
    return {
        "id": profile_id,
        "stackLevel": 0,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Relative",
        "chargingSchedule": [
            {
                "id": 1,
                "chargingRateUnit": "W",
                "chargingSchedulePeriod": [
                    {
                        "startPeriod": 0,
                        "operationMode": "CentralSetpoint",
                        "setpoint": setpoint_w,
                        **period,
                    }
                ],
            }
        ],
    }


def power(payload: dict[str, Any]) -> float | None:
    """The power of a periodic TransactionEvent, None for other events."""
    if payload["eventType"] != "Updated" or not payload.get("meterValue"):
        return None
    return sampled(payload).get(POWER)


def updates_after(csms: ScriptedCsms21, index: int) -> list[dict[str, Any]]:
    return [p for p in csms.transaction_events()[index:] if p["eventType"] == "Updated"]


async def set_profile(csms: ScriptedCsms21, profile: dict[str, Any]) -> str:
    result = await csms.call("CS1", call.SetChargingProfile(evse_id=1, charging_profile=profile))
    return result.status


async def test_a_negative_setpoint_discharges_down_to_the_minimum_soc(
    twin: ChargePointTwin, csms: ScriptedCsms21
) -> None:
    await twin.plug_in(1, bidirectional_vehicle(), "veh-1")
    started = await twin.start_transaction(1, "TAG-1")
    await csms.wait_for("TransactionEvent", lambda p: p["eventType"] == "Updated")
    charging = sampled(updates_after(csms, 0)[-1])
    assert charging[POWER] == pytest.approx(22000.0)
    assert charging[EXPORT] == 0.0  # a bidirectional vehicle: the export register is shown

    # Asked for 15 kW back; the vehicle gives at most 11 kW.
    assert await set_profile(csms, setpoint_profile(-15000.0)) == "Accepted"
    mark = len(csms.transaction_events())
    await csms.wait_for("TransactionEvent", lambda p: (power(p) or 0) < 0, timeout=10)
    discharging = [sampled(p) for p in updates_after(csms, mark) if (power(p) or 0) < 0]
    assert discharging[0][POWER] == pytest.approx(-11000.0)
    connector = twin.connector(1)
    assert connector.power_kw == pytest.approx(-11.0)
    assert connector.vehicle_status == "discharging"

    # A dischargeLimit bounds it further.
    limited = setpoint_profile(-15000.0, dischargeLimit=-4000.0)
    assert await set_profile(csms, limited) == "Accepted"
    mark = len(csms.transaction_events())
    await csms.wait_for(
        "TransactionEvent",
        lambda p: power(p) == pytest.approx(-4000.0),
        timeout=10,
    )
    composite = await csms.call(
        "CS1", call.GetCompositeSchedule(duration=600, evse_id=1, charging_rate_unit="W")
    )
    period = composite.schedule["charging_schedule_period"][0]
    assert (period["operation_mode"], period["setpoint"]) == ("CentralSetpoint", -4000.0)

    back_to_11 = setpoint_profile(-15000.0)
    assert await set_profile(csms, back_to_11) == "Accepted"
    await csms.wait_for(
        "TransactionEvent",
        lambda p: power(p) is not None and sampled(p)["SoC"] == pytest.approx(45.0),
        timeout=30,
    )
    await csms.wait_for(
        "TransactionEvent",
        lambda p: power(p) == 0.0,
        timeout=10,
    )
    samples = [sampled(p) for p in updates_after(csms, 0) if power(p) is not None]
    exports = [s[EXPORT] for s in samples]
    socs = [s["SoC"] for s in samples]
    imports = [s[IMPORT] for s in samples]
    assert exports == sorted(exports)
    assert socs.index(max(socs)) < socs.index(45.0)
    assert min(socs) == pytest.approx(45.0)  # never below the minimum SoC
    # Energy is conserved: 60 % + imported - exported = 45 % of 60 kWh.
    assert exports[-1] == pytest.approx(imports[-1] + 0.15 * 60_000, abs=1)
    assert exports[-1] > 9000
    assert imports[-1] == max(imports)
    assert twin.connector(1).vehicle.soc == pytest.approx(45.0)

    stopped = await twin.stop_transaction(started.transaction_ref)
    ended = await csms.wait_for("TransactionEvent", lambda p: p["eventType"] == "Ended")
    assert sampled(ended.payload, -1)[IMPORT] == stopped.meter_stop_wh
    assert all(r.valid for r in csms.received)


async def test_a_vehicle_that_cannot_discharge_stays_suspended(
    twin: ChargePointTwin, csms: ScriptedCsms21
) -> None:
    await twin.plug_in(1, make_vehicle(soc=60.0), "veh-1")
    await twin.start_transaction(1, "TAG-1")
    assert await set_profile(csms, setpoint_profile(-7000.0)) == "Accepted"
    update = await csms.wait_for(
        "TransactionEvent",
        lambda p: p.get("transactionInfo", {}).get("chargingState") == "SuspendedEV",
    )
    assert update.payload["eventType"] == "Updated"
    assert twin.connector(1).power_kw == 0.0
    soc = twin.connector(1).vehicle.soc
    mark = len(csms.transaction_events())
    await csms.wait_for(
        "TransactionEvent", lambda p: power(p) is not None, count=len(updates_after(csms, 0)) + 2
    )
    values = updates_after(csms, mark)[-1]
    assert sampled(values)[POWER] == 0.0
    assert twin.connector(1).vehicle.soc == soc  # neither charged nor discharged
    assert EXPORT not in sampled(values)  # nothing exported, none to export
    assert all(r.valid for r in csms.received)


async def test_a_positive_setpoint_charges_at_it(
    twin: ChargePointTwin, csms: ScriptedCsms21
) -> None:
    await twin.plug_in(1, bidirectional_vehicle(), "veh-1")
    await twin.start_transaction(1, "TAG-1")
    assert await set_profile(csms, setpoint_profile(5000.0)) == "Accepted"
    await csms.wait_for(
        "TransactionEvent",
        lambda p: power(p) == pytest.approx(5000.0),
    )
    assert all(r.valid for r in csms.received)


async def test_a_setpoint_mode_without_a_setpoint_is_rejected(
    twin: ChargePointTwin, csms: ScriptedCsms21
) -> None:
    profile = setpoint_profile(-1000.0)
    del profile["chargingSchedule"][0]["chargingSchedulePeriod"][0]["setpoint"]
    assert await set_profile(csms, profile) == "Rejected"
    only_limit = setpoint_profile(-1000.0)
    period = only_limit["chargingSchedule"][0]["chargingSchedulePeriod"][0]
    del period["setpoint"]
    period["operationMode"] = "ChargingOnly"
    assert await set_profile(csms, only_limit) == "Rejected"  # ChargingOnly needs a limit
    assert len(twin.profiles) == 0
    assert twin.online


async def test_export_power_on_request_and_idle_mode(
    csms: ScriptedCsms21, events: EventLog
) -> None:
    measurands = "Energy.Active.Import.Register,Power.Active.Import,Power.Active.Export"
    twin = await booted_twin21(
        csms, events, ocpp_configuration={"SampledDataCtrlr/TxUpdatedMeasurands": measurands}
    )
    try:
        await twin.plug_in(1, bidirectional_vehicle(), "veh-1")
        await twin.start_transaction(1, "TAG-1")
        assert await set_profile(csms, setpoint_profile(-7000.0)) == "Accepted"
        update = await csms.wait_for(
            "TransactionEvent", lambda p: power(p) == pytest.approx(-7000.0)
        )
        assert sampled(update.payload)["Power.Active.Export"] == pytest.approx(7000.0)
        assert EXPORT in sampled(update.payload)

        idle = setpoint_profile(0.0)
        idle["chargingSchedule"][0]["chargingSchedulePeriod"] = [
            {"startPeriod": 0, "operationMode": "Idle"}
        ]
        assert await set_profile(csms, idle) == "Accepted"
        update = await csms.wait_for(
            "TransactionEvent",
            lambda p: p.get("transactionInfo", {}).get("chargingState") == "SuspendedEVSE",
        )
        assert twin.connector(1).power_kw == 0.0
        assert all(r.valid for r in csms.received)
    finally:
        await twin.close()
