"""OCPP 2.0.1: custom reports (GetReport), display messages and monitoring on the twin."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from ocpp.v201 import call

from tests.twin.scripted_csms201 import (
    EventLog,
    ScriptedCsms201,
    booted_twin,
)
from worker.twin.charge_point import ChargePointTwin

#: The ``csms`` fixture (tests/twin/conftest.py) of this module.
CSMS_TYPE = ScriptedCsms201


@pytest.fixture
async def twin(csms: ScriptedCsms201, events: EventLog) -> AsyncIterator[ChargePointTwin]:
    """Two EVSEs, one connector each."""
    twin = await booted_twin(csms, events, connector_types=("cType2", "cType2"))
    await csms.wait_for("StatusNotification", count=2)
    yield twin
    await twin.close()


def selector(
    name: str,
    variable: str | None = None,
    *,
    evse: dict[str, Any] | None = None,
    instance: str | None = None,
) -> dict[str, Any]:
    component: dict[str, Any] = {"name": name}
    if evse is not None:
        component["evse"] = evse
    out: dict[str, Any] = {"component": component}
    if variable is not None:
        out["variable"] = {"name": variable, **({"instance": instance} if instance else {})}
    return out


async def report(csms: ScriptedCsms201, request_id: int, **request: Any) -> list[tuple[Any, ...]]:
    """Ask for a custom report; (component, evse, variable, instance, value) of each
    reported variable, from every NotifyReport part of ``request_id``."""
    answer = await csms.call("CS1", call.GetReport(request_id=request_id, **request))
    assert answer.status == "Accepted", answer
    await csms.wait_for("NotifyReport", lambda p: p["requestId"] == request_id and "tbc" not in p)
    parts = [r.payload for r in csms.of("NotifyReport") if r.payload["requestId"] == request_id]
    assert [p["seqNo"] for p in parts] == list(range(len(parts)))
    return [
        (
            d["component"]["name"],
            json.dumps(d["component"].get("evse")),
            d["variable"]["name"],
            d["variable"].get("instance"),
            d["variableAttribute"][0].get("value"),
        )
        for p in parts
        for d in p["reportData"]
    ]


# -- GetReport ------------------------------------------------------------------------------------


async def test_get_report_by_component_and_variable(
    twin: ChargePointTwin, csms: ScriptedCsms201
) -> None:
    # A variable by name without an instance: every instance of it.
    assert await report(
        csms, 1, component_variable=[selector("DeviceDataCtrlr", "ItemsPerMessage")]
    ) == [
        ("DeviceDataCtrlr", "null", "ItemsPerMessage", "GetReport", "100"),
        ("DeviceDataCtrlr", "null", "ItemsPerMessage", "GetVariables", "100"),
        ("DeviceDataCtrlr", "null", "ItemsPerMessage", "SetVariables", "100"),
    ]
    # With the instance: that one only; names match whatever their case.
    assert await report(
        csms,
        2,
        component_variable=[selector("devicedatactrlr", "itemspermessage", instance="GetReport")],
    ) == [("DeviceDataCtrlr", "null", "ItemsPerMessage", "GetReport", "100")]
    # A component of every EVSE when no evse is named; of one EVSE when it is.
    assert await report(csms, 3, component_variable=[selector("EVSE", "AvailabilityState")]) == [
        ("EVSE", '{"id": 1}', "AvailabilityState", None, "Available"),
        ("EVSE", '{"id": 2}', "AvailabilityState", None, "Available"),
    ]
    assert await report(
        csms, 4, component_variable=[selector("EVSE", "AvailabilityState", evse={"id": 2})]
    ) == [("EVSE", '{"id": 2}', "AvailabilityState", None, "Available")]
    # A component without a variable: all its variables.
    names = {row[2] for row in await report(csms, 5, component_variable=[selector("TxCtrlr")])}
    assert names == {
        "EVConnectionTimeOut",
        "StopTxOnEVSideDisconnect",
        "StopTxOnInvalidId",
        "MaxEnergyOnInvalidId",
        "TxStartPoint",
        "TxStopPoint",
        "TxBeforeAcceptedEnabled",
    }
    # Nothing matches: EmptyResultSet, and no NotifyReport.
    for request_id, unknown in enumerate(
        (selector("FluxCapacitor"), selector("EVSE", "AvailabilityState", evse={"id": 9})), 6
    ):
        answer = await csms.call(
            "CS1", call.GetReport(request_id=request_id, component_variable=[unknown])
        )
        assert answer.status == "EmptyResultSet"
    assert not [r for r in csms.of("NotifyReport") if r.payload["requestId"] in (6, 7)]
    assert all(r.valid for r in csms.received)


async def test_get_report_by_component_criteria(
    twin: ChargePointTwin, csms: ScriptedCsms201
) -> None:
    # Problem: only components whose Problem is true, so nothing until a fault.
    answer = await csms.call("CS1", call.GetReport(request_id=1, component_criteria=["Problem"]))
    assert answer.status == "EmptyResultSet"
    await twin.set_faulted(0, "PowerMeterFailure")
    rows = await report(csms, 2, component_criteria=["Problem"])
    assert {row[0] for row in rows} == {"ChargingStation"}
    assert ("ChargingStation", "null", "Problem", None, "true") in rows
    await twin.clear_fault(0)

    # Enabled: a component whose Enabled is false drops out; one without Enabled stays.
    answer = await csms.call(
        "CS1",
        call.SetVariables(
            set_variable_data=[
                {
                    "attributeValue": "false",
                    "component": {"name": "SampledDataCtrlr"},
                    "variable": {"name": "Enabled"},
                }
            ]
        ),
    )
    assert answer.set_variable_result[0]["attribute_status"] == "Accepted"
    enabled = {row[0] for row in await report(csms, 3, component_criteria=["Enabled"])}
    assert "SampledDataCtrlr" not in enabled
    assert {"AlignedDataCtrlr", "OCPPCommCtrlr", "EVSE"} <= enabled
    # Criteria and component/variable together: both must hold.
    assert await report(
        csms,
        4,
        component_criteria=["Available"],
        component_variable=[selector("EVSE", "AvailabilityState", evse={"id": 1})],
    ) == [("EVSE", '{"id": 1}', "AvailabilityState", None, "Available")]
    answer = await csms.call(
        "CS1",
        call.GetReport(
            request_id=5,
            component_criteria=["Enabled"],
            component_variable=[selector("SampledDataCtrlr")],
        ),
    )
    assert answer.status == "EmptyResultSet"
    assert all(r.valid for r in csms.received)


async def test_get_report_bad_requests(twin: ChargePointTwin, csms: ScriptedCsms201) -> None:
    too_many = [selector("OCPPCommCtrlr", "HeartbeatInterval")] * 101
    frame = json.dumps([2, "r1", "GetReport", {"requestId": 1, "componentVariable": too_many}])
    await csms.send_raw("CS1", frame)
    assert (await csms.wait_answer("r1"))[:3] == [4, "r1", "OccurrenceConstraintViolation"]
    await csms.send_raw("CS1", '[2, "r2", "GetReport", {"requestId": "one"}]')
    assert (await csms.wait_answer("r2"))[:3] == [4, "r2", "TypeConstraintViolation"]
    shiny = {"requestId": 1, "componentCriteria": ["Shiny"]}
    await csms.send_raw("CS1", json.dumps([2, "r3", "GetReport", shiny]))
    assert (await csms.wait_answer("r3"))[0] == 4
    # Still answering.
    assert await report(csms, 4, component_variable=[selector("ClockCtrlr", "TimeSource")]) == [
        ("ClockCtrlr", "null", "TimeSource", None, "Heartbeat")
    ]
