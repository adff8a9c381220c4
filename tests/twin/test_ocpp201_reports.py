"""OCPP 2.0.1: custom reports (GetReport), display messages and monitoring on the twin."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from ocpp.v201 import call

from tests.twin.scripted_csms201 import (
    EventLog,
    ScriptedCsms201,
    booted_twin,
    make_config,
    make_vehicle,
)
from worker.twin.charge_point import ChargePointTwin
from worker.twin.clock import SystemClock
from worker.twin.smart_charging import format_time

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


# -- display messages -----------------------------------------------------------------------------


def message(
    message_id: int, text: str = "Hello", priority: str = "NormalCycle", **info: Any
) -> dict[str, Any]:
    content = {"format": info.pop("format", "UTF8"), "content": text}
    return {"id": message_id, "priority": priority, "message": content, **info}


async def set_message(csms: ScriptedCsms201, info: dict[str, Any], cid: str = "CS1") -> str:
    return (await csms.call(cid, call.SetDisplayMessage(message=info))).status


async def get_messages(csms: ScriptedCsms201, request_id: int, **filters: Any) -> list[Any]:
    """The messageInfo of every NotifyDisplayMessages part of ``request_id``, or the
    status when it is not Accepted."""
    answer = await csms.call("CS1", call.GetDisplayMessages(request_id=request_id, **filters))
    if answer.status != "Accepted":
        return answer.status
    await csms.wait_for(
        "NotifyDisplayMessages", lambda p: p["requestId"] == request_id and "tbc" not in p
    )
    return [
        info
        for r in csms.of("NotifyDisplayMessages")
        if r.payload["requestId"] == request_id
        for info in r.payload["messageInfo"]
    ]


async def test_display_messages_set_get_clear(twin: ChargePointTwin, csms: ScriptedCsms201) -> None:
    assert await get_messages(csms, 1) == "Unknown"
    assert await set_message(csms, message(1, "Welcome", "AlwaysFront", state="Idle")) == "Accepted"
    assert await set_message(csms, message(2, "Tariff 0.39/kWh", "InFront")) == "Accepted"
    assert await set_message(csms, message(3, "Charging...", state="Charging")) == "Accepted"
    later = format_time(twin.now() + timedelta(days=1))
    assert await set_message(csms, message(4, "Tomorrow", start_date_time=later)) == "Accepted"
    # The same id replaces the message.
    assert await set_message(csms, message(2, "Tariff 0.35/kWh", "InFront")) == "Accepted"

    everything = await get_messages(csms, 2)
    assert [(m["id"], m["message"]["content"]) for m in everything] == [
        (1, "Welcome"),
        (2, "Tariff 0.35/kWh"),
        (3, "Charging..."),
        (4, "Tomorrow"),
    ]
    assert everything[0] == {
        "id": 1,
        "priority": "AlwaysFront",
        "state": "Idle",
        "message": {"format": "UTF8", "content": "Welcome"},
    }
    assert [m["id"] for m in await get_messages(csms, 3, priority="InFront")] == [2]
    assert [m["id"] for m in await get_messages(csms, 4, state="Charging")] == [3]
    assert [m["id"] for m in await get_messages(csms, 5, id=[1, 4, 9])] == [1, 4]
    assert await get_messages(csms, 6, id=[1], priority="InFront") == "Unknown"
    # What the display shows now: in its window and state, most prominent first.
    shown = [m["id"] for m in twin.adapter.shown_messages()]  # type: ignore[attr-defined]
    assert shown == [1, 2]

    answer = await csms.call("CS1", call.ClearDisplayMessage(id=2))
    assert answer.status == "Accepted"
    answer = await csms.call("CS1", call.ClearDisplayMessage(id=2))
    assert answer.status == "Unknown"
    assert [m["id"] for m in await get_messages(csms, 7)] == [1, 3, 4]
    variables = await csms.call(
        "CS1",
        call.GetVariables(
            get_variable_data=[
                {
                    "component": {"name": "DisplayMessageCtrlr"},
                    "variable": {"name": "NumberOfDisplayMessages"},
                }
            ]
        ),
    )
    assert variables.get_variable_result[0]["attribute_value"] == "3"
    assert all(r.valid for r in csms.received)


async def test_display_messages_in_parts_and_their_limit(
    twin: ChargePointTwin, csms: ScriptedCsms201
) -> None:
    for n in range(1, 21):
        assert await set_message(csms, message(n, f"Message {n}")) == "Accepted"
    assert await set_message(csms, message(21)) == "Rejected"  # NumberOfDisplayMessages max
    assert await set_message(csms, message(20, "Replaced")) == "Accepted"
    infos = await get_messages(csms, 1)
    assert [m["id"] for m in infos] == list(range(1, 21))
    parts = [r.payload for r in csms.of("NotifyDisplayMessages")]
    assert [len(p["messageInfo"]) for p in parts] == [10, 10]
    assert [p.get("tbc") for p in parts] == [True, None]
    assert all(r.valid for r in csms.received)


async def test_display_message_statuses(csms: ScriptedCsms201, events: EventLog) -> None:
    twin = await booted_twin(
        csms,
        events,
        ocpp_configuration={"DisplayMessageCtrlr/SupportedPriorities": "InFront,NormalCycle"},
    )
    try:
        assert await set_message(csms, message(1, format="HTML")) == "NotSupportedMessageFormat"
        assert await set_message(csms, message(1, priority="AlwaysFront")) == (
            "NotSupportedPriority"
        )
        assert await set_message(csms, message(1, transaction_id="nope")) == "UnknownTransaction"
        assert await set_message(csms, message(1, end_date_time="yesterday")) == "Rejected"
        answer = await csms.call(
            "CS1",
            call.SetVariables(
                set_variable_data=[
                    {
                        "attributeValue": "false",
                        "component": {"name": "DisplayMessageCtrlr"},
                        "variable": {"name": "Enabled"},
                    }
                ]
            ),
        )
        assert answer.set_variable_result[0]["attribute_status"] == "Accepted"
        assert await set_message(csms, message(1)) == "Rejected"
        await csms.send_raw("CS1", '[2, "d1", "SetDisplayMessage", {"message": {"id": 1}}]')
        assert (await csms.wait_answer("d1"))[:3] == [4, "d1", "ProtocolError"]
        await csms.send_raw("CS1", '[2, "d2", "ClearDisplayMessage", {"id": "x"}]')
        assert (await csms.wait_answer("d2"))[:3] == [4, "d2", "TypeConstraintViolation"]
        assert await get_messages(csms, 1) == "Unknown"
        assert all(r.valid for r in csms.received)
    finally:
        await twin.close()


async def test_transaction_message_goes_when_its_transaction_ends_and_others_survive_a_restart(
    csms: ScriptedCsms201, events: EventLog
) -> None:
    twin = await booted_twin(csms, events)
    try:
        await twin.plug_in(1, make_vehicle(), "veh-1")
        started = await twin.start_transaction(1, "TAG")
        bound = message(1, "Your session", transaction_id=started.transaction_ref)
        assert await set_message(csms, bound) == "Accepted"
        assert await set_message(csms, message(2, "Welcome")) == "Accepted"
        assert [m["id"] for m in await get_messages(csms, 1)] == [1, 2]
        await twin.stop_transaction(started.transaction_ref)
        assert [m["id"] for m in await get_messages(csms, 2)] == [2]
        state = json.loads(json.dumps(twin.save_state()))
    finally:
        await twin.close()

    restored = ChargePointTwin(make_config(csms.url), SystemClock(speed=600), EventLog())
    restored.restore_state(state, resume=True, last_alive=restored.now())
    try:
        await restored.start()
        await restored.connected(timeout=5)
        assert [m["message"]["content"] for m in await get_messages(csms, 3)] == ["Welcome"]
    finally:
        await restored.close()
