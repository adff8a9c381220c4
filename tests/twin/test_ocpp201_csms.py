"""OCPP 2.0.1 twins against the bundled 2.0.1 CSMS, and beside a 1.6 twin on one loop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from csms_v201.app import create_app
from tests.csms.server import RunningCsms, serve
from tests.twin import scripted_csms as v16
from tests.twin.scripted_csms201 import (
    EventLog,
    ScriptedCsms201,
    eventually,
    make_config,
    make_vehicle,
)
from worker.twin.charge_point import ChargePointTwin
from worker.twin.clock import SystemClock
from worker.twin.ocpp16 import Ocpp16Adapter
from worker.twin.ocpp201 import Ocpp201Adapter


@pytest.fixture
async def csms() -> AsyncIterator[RunningCsms]:
    async with serve(create_app(heartbeat_interval=120)) as running:
        yield running


async def transaction(csms: RunningCsms, transaction_id: str) -> dict[str, Any]:
    response = await csms.api.get(f"/api/transactions/{transaction_id}")
    response.raise_for_status()
    return response.json()


async def call(csms: RunningCsms, action: str, payload: dict[str, Any]) -> dict[str, Any]:
    response = await csms.api.post(f"/api/charge-points/CS1/calls/{action}", json=payload)
    assert response.status_code == 200, response.text
    return response.json()["response"]


async def test_session_and_remote_start_against_the_bundled_csms(csms: RunningCsms) -> None:
    twin = ChargePointTwin(make_config(csms.ws_url), SystemClock(speed=600), EventLog())
    try:
        await twin.start()
        await twin.connected(timeout=5)
        assert twin.adapter.settings.heartbeat_interval == 120
        record = (await csms.api.get("/api/charge-points/CS1")).json()
        assert record["boot_status"] == "Accepted"

        await twin.plug_in(1, make_vehicle(), "veh-1")
        started = await twin.start_transaction(1, "TAG-1")
        await asyncio.sleep(0.5)  # ~5 simulated minutes of charging
        stopped = await twin.stop_transaction(started.transaction_ref)
        await eventually(lambda: twin.snapshot()["queued_messages"] == 0)
        seen = await transaction(csms, started.transaction_ref)
        assert seen["status"] == "ended"
        assert (seen["evse_id"], seen["connector_id"], seen["id_tag"]) == (1, 1, "TAG-1")
        assert seen["id_tag_status"] == "Accepted"
        assert seen["meter_start"] == 0
        assert seen["meter_stop"] == stopped.meter_stop_wh
        assert seen["stop_reason"] == "Local"
        seq_nos = [event["seq_no"] for event in seen["events"]]
        assert seq_nos == list(range(len(seq_nos)))
        assert len(seq_nos) >= 3

        answer = await call(
            csms,
            "RequestStartTransaction",
            {"idToken": {"idToken": "APP-7", "type": "Central"}, "remoteStartId": 7, "evseId": 1},
        )
        assert answer == {"status": "Accepted"}
        await eventually(lambda: twin.connector(1).transaction is not None)
        remote = twin.connector(1).transaction
        await eventually(lambda: remote.csms_transaction_id is not None)
        seen = await transaction(csms, remote.ref)
        assert seen["events"][0]["trigger_reason"] == "RemoteStart"
        assert seen["id_tag"] == "APP-7"
        answer = await call(csms, "RequestStopTransaction", {"transactionId": remote.ref})
        assert answer == {"status": "Accepted"}
        await eventually(lambda: twin.connector(1).transaction is None)

        answer = await call(csms, "GetBaseReport", {"requestId": 1, "reportBase": "FullInventory"})
        assert answer == {"status": "Accepted"}

        async def report_complete() -> dict[str, Any]:
            reports = (await csms.api.get("/api/charge-points/CS1/reports")).json()["reports"]
            return reports[0] if reports else {}

        for _ in range(200):
            report = await report_complete()
            if report.get("complete"):
                break
            await asyncio.sleep(0.01)
        assert report.get("complete"), report

        variables = await call(
            csms,
            "GetVariables",
            {
                "getVariableData": [
                    {
                        "component": {"name": "OCPPCommCtrlr"},
                        "variable": {"name": "HeartbeatInterval"},
                    }
                ]
            },
        )
        assert variables["getVariableResult"][0]["attributeValue"] == "120"
    finally:
        await twin.close()


async def test_a_16_and_a_201_twin_side_by_side_on_one_loop() -> None:
    csms16 = await v16.ScriptedCsms().start()
    csms201 = await ScriptedCsms201().start()
    twin16 = ChargePointTwin(v16.make_config(csms16.url), SystemClock(speed=600), EventLog())
    twin201 = ChargePointTwin(make_config(csms201.url), SystemClock(speed=600), EventLog())
    try:
        assert isinstance(twin16.adapter, Ocpp16Adapter)
        assert isinstance(twin201.adapter, Ocpp201Adapter)
        await asyncio.gather(twin16.start(), twin201.start())
        await asyncio.gather(twin16.connected(timeout=5), twin201.connected(timeout=5))
        await asyncio.gather(
            twin16.plug_in(1, make_vehicle(), "veh-16"),
            twin201.plug_in(1, make_vehicle(), "veh-201"),
        )
        started16, started201 = await asyncio.gather(
            twin16.start_transaction(1, "TAG"), twin201.start_transaction(1, "TAG")
        )
        await csms16.wait_for("MeterValues", count=2)
        await csms201.wait_for("TransactionEvent", lambda p: p["eventType"] == "Updated", count=2)
        await asyncio.gather(
            twin16.stop_transaction(started16.transaction_ref),
            twin201.stop_transaction(started201.transaction_ref),
        )
        await csms16.wait_for("StopTransaction")
        await csms201.wait_for("TransactionEvent", lambda p: p["eventType"] == "Ended")

        assert csms16.subprotocols == ["ocpp1.6"]
        assert csms201.subprotocols == ["ocpp2.0.1"]
        assert started16.csms_transaction_id == "1"
        assert started201.csms_transaction_id == started201.transaction_ref
        assert "TransactionEvent" not in {r.action for r in csms16.received}
        assert "StartTransaction" not in {r.action for r in csms201.received}
        assert all(r.valid for r in csms16.received + csms201.received)
    finally:
        await asyncio.gather(twin16.close(), twin201.close())
        await csms16.stop()
        await csms201.stop()
