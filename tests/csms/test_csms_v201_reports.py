"""A 2.0.1 twin's reports, monitors and display messages through the bundled CSMS's
HTTP API: the calls sent with ``POST /api/charge-points/{id}/calls/{action}``, what
came back read from ``GET /api/charge-points/{id}/reports``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from csms_v201.app import create_app
from tests.csms.server import RunningCsms, serve
from tests.twin.scripted_csms201 import EventLog, make_config, make_vehicle
from worker.twin.charge_point import ChargePointTwin
from worker.twin.clock import SystemClock


@pytest.fixture
async def csms() -> AsyncIterator[RunningCsms]:
    async with serve(create_app(heartbeat_interval=120)) as running:
        yield running


@pytest.fixture
async def twin(csms: RunningCsms) -> AsyncIterator[ChargePointTwin]:
    twin = ChargePointTwin(make_config(csms.ws_url), SystemClock(speed=600), EventLog())
    await twin.start()
    await twin.connected(timeout=5)
    yield twin
    await twin.close()


async def send(csms: RunningCsms, action: str, payload: dict[str, Any]) -> dict[str, Any]:
    response = await csms.api.post(f"/api/charge-points/CS1/calls/{action}", json=payload)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()["response"]
    return answer


async def kept(csms: RunningCsms) -> dict[str, Any]:
    response = await csms.api.get("/api/charge-points/CS1/reports")
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


async def test_reports_monitors_and_display_messages_through_the_csms_api(
    csms: RunningCsms, twin: ChargePointTwin
) -> None:
    # A custom report.
    evse = {"name": "EVSE", "evse": {"id": 1}}
    answer = await send(
        csms,
        "GetReport",
        {"requestId": 1, "componentVariable": [{"component": {"name": "ClockCtrlr"}}]},
    )
    assert answer == {"status": "Accepted"}

    # A monitor that reports the EVSE's availability changing, then a monitoring report.
    answer = await send(
        csms,
        "SetVariableMonitoring",
        {
            "setMonitoringData": [
                {
                    "component": evse,
                    "variable": {"name": "AvailabilityState"},
                    "type": "Delta",
                    "value": 0,
                    "severity": 5,
                }
            ]
        },
    )
    assert [(r["status"], r["id"]) for r in answer["setMonitoringResult"]] == [("Accepted", 1000)]
    answer = await send(
        csms, "GetMonitoringReport", {"requestId": 2, "monitoringCriteria": ["DeltaMonitoring"]}
    )
    assert answer == {"status": "Accepted"}

    # A display message, then the messages the station has.
    message = {"id": 7, "priority": "InFront", "message": {"format": "UTF8", "content": "Hi"}}
    assert await send(csms, "SetDisplayMessage", {"message": message}) == {"status": "Accepted"}
    assert await send(csms, "GetDisplayMessages", {"requestId": 3}) == {"status": "Accepted"}

    await twin.plug_in(1, make_vehicle(), "veh-1")

    async def everything_arrived() -> bool:
        body = await kept(csms)
        return (
            any(r["complete"] for r in body["reports"])
            and any(r["complete"] for r in body["monitoring_reports"])
            and any(r["complete"] for r in body["display_messages"])
            and any(e["eventData"][0].get("variableMonitoringId") == 1000 for e in body["events"])
        )

    async with asyncio.timeout(10):
        while not await everything_arrived():  # noqa: ASYNC110 - polls the CSMS over HTTP
            await asyncio.sleep(0.02)
    body = await kept(csms)
    (report,) = body["reports"]
    assert report["request_id"] == 1
    assert {d["variable"]["name"] for d in report["report_data"]} == {"DateTime", "TimeSource"}
    (monitoring,) = body["monitoring_reports"]
    assert monitoring["request_id"] == 2 and monitoring["complete"]
    delta = [m for m in monitoring["report_data"] if m["component"] == evse]
    assert delta[0]["variableMonitoring"] == [
        {"id": 1000, "transaction": False, "value": 0, "type": "Delta", "severity": 5}
    ]
    (display,) = body["display_messages"]
    assert display["request_id"] == 3
    assert display["report_data"] == [message]
    event = next(
        e["eventData"][0]
        for e in body["events"]
        if e["eventData"][0].get("variableMonitoringId") == 1000
    )
    assert (event["component"], event["actualValue"], event["trigger"]) == (
        evse,
        "Occupied",
        "Delta",
    )

    assert await send(csms, "ClearDisplayMessage", {"id": 7}) == {"status": "Accepted"}
    answer = await send(csms, "ClearVariableMonitoring", {"id": [1000]})
    assert answer["clearMonitoringResult"] == [{"status": "Accepted", "id": 1000}]
    assert await send(csms, "SetMonitoringLevel", {"severity": 3}) == {"status": "Accepted"}
    assert await send(csms, "SetMonitoringBase", {"monitoringBase": "FactoryDefault"}) == {
        "status": "Accepted"
    }
