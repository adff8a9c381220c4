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
from worker.twin.events import ConfigurationChanged
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


# -- monitoring -----------------------------------------------------------------------------------


def monitor(
    comp: dict[str, Any], name: str, kind: str, value: float, severity: int = 5, **extra: Any
) -> dict[str, Any]:
    return {
        "component": comp,
        "variable": {"name": name},
        "type": kind,
        "value": value,
        "severity": severity,
        **extra,
    }


EVSE1 = {"name": "EVSE", "evse": {"id": 1}}


async def set_monitors(csms: ScriptedCsms201, *monitors: dict[str, Any]) -> list[tuple[Any, ...]]:
    answer = await csms.call("CS1", call.SetVariableMonitoring(set_monitoring_data=list(monitors)))
    return [(r["status"], r.get("id")) for r in answer.set_monitoring_result]


async def monitoring_report(csms: ScriptedCsms201, request_id: int, **request: Any) -> Any:
    """(component, evse, variable, [(id, type, value, severity)]) per variable, or the
    status when it is not Accepted."""
    answer = await csms.call("CS1", call.GetMonitoringReport(request_id=request_id, **request))
    if answer.status != "Accepted":
        return answer.status
    await csms.wait_for(
        "NotifyMonitoringReport", lambda p: p["requestId"] == request_id and "tbc" not in p
    )
    parts = [
        r.payload for r in csms.of("NotifyMonitoringReport") if r.payload["requestId"] == request_id
    ]
    assert [p["seqNo"] for p in parts] == list(range(len(parts)))
    return [
        (
            m["component"]["name"],
            json.dumps(m["component"].get("evse")),
            m["variable"]["name"],
            [(v["id"], v["type"], v["value"], v["severity"]) for v in m["variableMonitoring"]],
        )
        for p in parts
        for m in p["monitor"]
    ]


HARD_WIRED = [
    ("ChargingStation", "null", "Problem", [(1, "Delta", 0, 1)]),
    ("Connector", '{"id": 1, "connectorId": 1}', "AvailabilityState", [(2, "Delta", 0, 1)]),
    ("Connector", '{"id": 2, "connectorId": 1}', "AvailabilityState", [(3, "Delta", 0, 1)]),
]


async def test_set_clear_and_report_monitors(twin: ChargePointTwin, csms: ScriptedCsms201) -> None:
    assert await monitoring_report(csms, 1) == HARD_WIRED
    statuses = await set_monitors(
        csms,
        monitor(EVSE1, "Power", "UpperThreshold", 7000),
        monitor(EVSE1, "Power", "LowerThreshold", 100),
        monitor({"name": "OCPPCommCtrlr"}, "HeartbeatInterval", "Delta", 10),
        monitor({"name": "ClockCtrlr"}, "DateTime", "Periodic", 3600, severity=8),
        monitor(EVSE1, "Power", "UpperThreshold", 8000),  # same type and severity
        monitor({"name": "FluxCapacitor"}, "Power", "Delta", 1),
        monitor(EVSE1, "Warp", "Delta", 1),
        monitor({"name": "EVSE", "evse": {"id": 9}}, "Power", "Delta", 1),
        monitor({"name": "ChargingStation"}, "VendorName", "UpperThreshold", 1),
        monitor({"name": "ClockCtrlr"}, "DateTime", "Periodic", 0),
        monitor(EVSE1, "Power", "Delta", 100, id=4711),  # replaces an unknown id
        monitor(EVSE1, "Power", "Delta", 100, severity=12),
    )
    assert statuses == [
        ("Accepted", 1000),
        ("Accepted", 1001),
        ("Accepted", 1002),
        ("Accepted", 1003),
        ("Duplicate", None),
        ("UnknownComponent", None),
        ("UnknownVariable", None),
        ("UnknownComponent", None),
        ("UnsupportedMonitorType", None),
        ("Rejected", None),
        ("Rejected", None),
        ("Rejected", None),
    ]
    # Replacing monitor 1000 by its id.
    replaced = await set_monitors(csms, monitor(EVSE1, "Power", "UpperThreshold", 9000, id=1000))
    assert replaced == [("Accepted", 1000)]

    everything = await monitoring_report(csms, 2)
    assert everything[:3] == HARD_WIRED
    assert everything[3:] == [
        (
            "EVSE",
            '{"id": 1}',
            "Power",
            [(1000, "UpperThreshold", 9000, 5), (1001, "LowerThreshold", 100, 5)],
        ),
        ("OCPPCommCtrlr", "null", "HeartbeatInterval", [(1002, "Delta", 10, 5)]),
        ("ClockCtrlr", "null", "DateTime", [(1003, "Periodic", 3600, 8)]),
    ]
    thresholds = await monitoring_report(csms, 3, monitoring_criteria=["ThresholdMonitoring"])
    assert [row[2] for row in thresholds] == ["Power"]
    periodic = await monitoring_report(
        csms,
        4,
        monitoring_criteria=["PeriodicMonitoring", "DeltaMonitoring"],
        component_variable=[{"component": {"name": "ClockCtrlr"}}],
    )
    assert periodic == [("ClockCtrlr", "null", "DateTime", [(1003, "Periodic", 3600, 8)])]
    unknown = [{"component": {"name": "EVSE", "evse": {"id": 2}}, "variable": {"name": "Power"}}]
    assert await monitoring_report(csms, 5, component_variable=unknown) == "EmptyResultSet"

    answer = await csms.call("CS1", call.ClearVariableMonitoring(id=[1001, 1001, 1, 77]))
    assert [(r["id"], r["status"]) for r in answer.clear_monitoring_result] == [
        (1001, "Accepted"),
        (1001, "NotFound"),
        (1, "Rejected"),
        (77, "NotFound"),
    ]
    assert [row[3] for row in await monitoring_report(csms, 6)][3] == [
        (1000, "UpperThreshold", 9000, 5)
    ]
    # The device model reports which variables can be monitored.
    await csms.call("CS1", call.GetBaseReport(request_id=7, report_base="FullInventory"))
    await csms.wait_for("NotifyReport", lambda p: p["requestId"] == 7 and "tbc" not in p)
    assert all(
        d["variableCharacteristics"]["supportsMonitoring"]
        for r in csms.of("NotifyReport")
        for d in r.payload["reportData"]
    )
    assert all(r.valid for r in csms.received)


async def test_monitoring_base_and_level(
    twin: ChargePointTwin, csms: ScriptedCsms201, events: EventLog
) -> None:
    assert await set_monitors(csms, monitor(EVSE1, "AvailabilityState", "Delta", 0)) == [
        ("Accepted", 1000)
    ]
    answer = await csms.call("CS1", call.SetMonitoringBase(monitoring_base="All"))
    assert answer.status == "Accepted"
    assert len(await monitoring_report(csms, 1)) == 4  # All keeps custom monitors
    answer = await csms.call("CS1", call.SetMonitoringBase(monitoring_base="HardWiredOnly"))
    assert answer.status == "Accepted"
    assert await monitoring_report(csms, 2) == HARD_WIRED

    answer = await csms.call("CS1", call.SetMonitoringLevel(severity=10))
    assert answer.status == "Rejected"
    answer = await csms.call("CS1", call.SetMonitoringLevel(severity=4))
    assert answer.status == "Accepted"
    values = await csms.call(
        "CS1",
        call.GetVariables(
            get_variable_data=[
                {"component": {"name": "MonitoringCtrlr"}, "variable": {"name": name}}
                for name in ("ActiveMonitoringBase", "ActiveMonitoringLevel")
            ]
        ),
    )
    assert [r["attribute_value"] for r in values.get_variable_result] == ["HardWiredOnly", "4"]
    # Kept with the charge point's configuration, as SetVariables values are.
    assert events.of(ConfigurationChanged)[-1].values == {
        "MonitoringCtrlr/ActiveMonitoringBase": "HardWiredOnly",
        "MonitoringCtrlr/ActiveMonitoringLevel": "4",
    }

    # Severity 5 is above the level: the monitor's events are not sent; severity 4 is.
    await set_monitors(
        csms,
        monitor(EVSE1, "AvailabilityState", "Delta", 0, severity=5),
        monitor({"name": "EVSE", "evse": {"id": 2}}, "AvailabilityState", "Delta", 0, severity=4),
    )
    await twin.plug_in(1, make_vehicle(), "veh-1")
    await twin.plug_in(2, make_vehicle(), "veh-2")
    event = await csms.wait_for("NotifyEvent")
    data = event.payload["eventData"][0]
    assert (data["component"], data["actualValue"], data["trigger"]) == (
        {"name": "EVSE", "evse": {"id": 2}},
        "Occupied",
        "Delta",
    )
    assert data["eventNotificationType"] == "CustomMonitor"
    await twin.adapter.check_monitors()  # type: ignore[attr-defined]
    assert len(csms.of("NotifyEvent")) == 1
    assert all(r.valid for r in csms.received)


async def test_power_threshold_fires_while_charging_and_clears_when_power_drops(
    twin: ChargePointTwin, csms: ScriptedCsms201
) -> None:
    statuses = await set_monitors(
        csms, monitor(EVSE1, "Power", "UpperThreshold", 1000, severity=3, transaction=True)
    )
    assert statuses == [("Accepted", 1000)]
    await twin.plug_in(1, make_vehicle(), "veh-1")
    started = await twin.start_transaction(1, "TAG")
    alert = await csms.wait_for("NotifyEvent", timeout=10)
    data = alert.payload["eventData"][0]
    assert data["trigger"] == "Alerting"
    assert data["variableMonitoringId"] == 1000
    assert data["component"] == EVSE1
    assert data["variable"] == {"name": "Power"}
    assert float(data["actualValue"]) > 1000
    assert data["transactionId"] == started.transaction_ref
    assert "cleared" not in data

    profile = {
        "id": 1,
        "stackLevel": 0,
        "chargingProfilePurpose": "TxProfile",
        "chargingProfileKind": "Relative",
        "transactionId": started.transaction_ref,
        "chargingSchedule": [
            {
                "id": 1,
                "chargingRateUnit": "W",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 0}],
            }
        ],
    }
    answer = await csms.call("CS1", call.SetChargingProfile(evse_id=1, charging_profile=profile))
    assert answer.status == "Accepted"
    cleared = await csms.wait_for("NotifyEvent", count=2, timeout=10)
    data = cleared.payload["eventData"][0]
    assert (data["trigger"], data["cleared"], float(data["actualValue"])) == ("Alerting", True, 0)
    assert len(csms.of("NotifyEvent")) == 2
    assert all(r.valid for r in csms.received)


async def test_periodic_monitor_and_monitors_survive_a_restart(
    csms: ScriptedCsms201, events: EventLog
) -> None:
    twin = await booted_twin(csms, events)
    try:
        statuses = await set_monitors(
            csms, monitor({"name": "OCPPCommCtrlr"}, "HeartbeatInterval", "Periodic", 60)
        )
        assert statuses == [("Accepted", 1000)]
        await csms.wait_for("NotifyEvent", count=3, timeout=10)
        data = [r.payload["eventData"][0] for r in csms.of("NotifyEvent")]
        assert {(d["trigger"], d["actualValue"], d["variableMonitoringId"]) for d in data} == {
            ("Periodic", "300", 1000)
        }
        state = json.loads(json.dumps(twin.save_state()))
    finally:
        await twin.close()

    restored = ChargePointTwin(make_config(csms.url), SystemClock(speed=600), EventLog())
    restored.restore_state(state, resume=True, last_alive=restored.now())
    try:
        await restored.start()
        await restored.connected(timeout=5)
        report = await monitoring_report(csms, 1, monitoring_criteria=["PeriodicMonitoring"])
        assert report == [
            ("OCPPCommCtrlr", "null", "HeartbeatInterval", [(1000, "Periodic", 60, 5)])
        ]
        before = len(csms.of("NotifyEvent"))
        await csms.wait_for("NotifyEvent", count=before + 1, timeout=10)
        assert await set_monitors(
            csms, monitor({"name": "OCPPCommCtrlr"}, "HeartbeatInterval", "Delta", 1)
        ) == [("Accepted", 1001)]
    finally:
        await restored.close()


async def test_monitoring_bad_requests(twin: ChargePointTwin, csms: ScriptedCsms201) -> None:
    garbage = {"setMonitoringData": [{"value": 1, "type": "Sometimes", "severity": 1}]}
    await csms.send_raw("CS1", json.dumps([2, "m1", "SetVariableMonitoring", garbage]))
    assert (await csms.wait_answer("m1"))[0] == 4
    too_many = {"id": list(range(101))}
    await csms.send_raw("CS1", json.dumps([2, "m2", "ClearVariableMonitoring", too_many]))
    assert (await csms.wait_answer("m2"))[:3] == [4, "m2", "OccurrenceConstraintViolation"]
    await csms.send_raw("CS1", '[2, "m3", "SetMonitoringBase", {"monitoringBase": "Most"}]')
    assert (await csms.wait_answer("m3"))[:3] == [4, "m3", "FormatViolation"]
    await csms.send_raw("CS1", '[2, "m4", "GetMonitoringReport", {}]')
    assert (await csms.wait_answer("m4"))[:3] == [4, "m4", "ProtocolError"]
    # Still answering.
    assert await monitoring_report(csms, 1) == HARD_WIRED


async def test_hard_wired_monitors_follow_the_monitoring_level(
    twin: ChargePointTwin, csms: ScriptedCsms201
) -> None:
    await twin.set_faulted(1, "GroundFailure")
    event = await csms.wait_for("NotifyEvent")
    data = event.payload["eventData"][0]
    assert (data["variableMonitoringId"], data["eventNotificationType"]) == (2, "HardWiredMonitor")
    await twin.clear_fault(1)
    await csms.wait_for("NotifyEvent", count=2)

    answer = await csms.call("CS1", call.SetMonitoringLevel(severity=0))
    assert answer.status == "Accepted"
    await twin.set_faulted(2, "GroundFailure")
    await csms.wait_for(
        "StatusNotification", lambda p: p["evseId"] == 2 and p["connectorStatus"] == "Faulted"
    )
    # The twin sends one CALL at a time: a Heartbeat triggered now comes after any
    # NotifyEvent of that fault.
    heartbeats = len(csms.of("Heartbeat"))
    await csms.call("CS1", call.TriggerMessage(requested_message="Heartbeat"))
    await csms.wait_for("Heartbeat", count=heartbeats + 1)
    assert len(csms.of("NotifyEvent")) == 2
    assert all(r.valid for r in csms.received)
