"""The OCPP 2.0.1 test CSMS, driven by a scripted charging station over a real websocket."""

import asyncio
import json
from base64 import b64encode
from collections.abc import AsyncIterator
from typing import Any

import pytest
import websockets
from ocpp.routing import on
from ocpp.v201 import ChargePoint, call, call_result
from ocpp.v201.enums import Action

from csms_v201.app import create_app
from tests.csms.server import RunningCsms, connected, eventually, serve

SUBPROTOCOL = "ocpp2.0.1"
ENERGY = "Energy.Active.Import.Register"


class ScriptedStation(ChargePoint):
    """Answers what the tests send it; has no Reset handler, so Reset gets a CALLERROR."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.remote_starts: list[dict[str, Any]] = []
        self.report_requests: list[int] = []

    @on(Action.request_start_transaction)
    def on_request_start_transaction(self, **request: Any) -> call_result.RequestStartTransaction:
        self.remote_starts.append(request)
        return call_result.RequestStartTransaction(status="Accepted", transaction_id="T-REMOTE")

    @on(Action.get_base_report)
    def on_get_base_report(self, request_id: int, **_: Any) -> call_result.GetBaseReport:
        self.report_requests.append(request_id)
        return call_result.GetBaseReport(status="Accepted")

    @on(Action.get_variables)
    async def on_get_variables(self, **_: Any) -> call_result.GetVariables:
        await asyncio.Event().wait()
        raise AssertionError("never answers")

    @on(Action.clear_cache, skip_schema_validation=True)
    def on_clear_cache(self, **_: Any) -> call_result.ClearCache:
        return call_result.ClearCache(status="Perhaps")

    async def boot(self) -> call_result.BootNotification:
        return await self.call(
            call.BootNotification(
                charging_station={"model": "Twin", "vendor_name": "ELU"}, reason="PowerUp"
            )
        )


@pytest.fixture
async def csms() -> AsyncIterator[RunningCsms]:
    async with serve(create_app(heartbeat_interval=42)) as running:
        yield running


def station(csms: RunningCsms, charge_point_id: str = "CS1", **options: Any) -> Any:
    return connected(ScriptedStation, csms.ws_url, charge_point_id, SUBPROTOCOL, **options)


def energy(value: float, timestamp: str, context: str, unit: str = "Wh") -> dict[str, Any]:
    sampled = {"value": value, "context": context, "unit_of_measure": {"unit": unit}}
    return {"timestamp": timestamp, "sampled_value": [{**sampled, "measurand": ENERGY}]}


def transaction_event(
    event_type: str, seq_no: int, trigger_reason: str, **fields: Any
) -> call.TransactionEvent:
    return call.TransactionEvent(
        event_type=event_type,
        timestamp=fields.pop("timestamp", "2025-01-01T10:00:00Z"),
        trigger_reason=trigger_reason,
        seq_no=seq_no,
        transaction_info=fields.pop("transaction_info", {"transaction_id": "T1"}),
        **fields,
    )


@pytest.mark.parametrize(
    ("policy", "status", "interval"),
    [("accept", "Accepted", 42), ("pending", "Pending", 7), ("reject", "Rejected", 7)],
)
async def test_boot_answer_follows_the_boot_policy(
    csms: RunningCsms, policy: str, status: str, interval: int
) -> None:
    await csms.api.put("/api/settings", json={"boot_policy": policy, "boot_retry_interval": 7})
    async with station(csms) as cs:
        answer = await cs.boot()
        await cs.call(call.Heartbeat())
        record = (await csms.api.get("/api/charge-points/CS1")).json()

    assert (answer.status, answer.interval) == (status, interval)
    assert record["boot_status"] == status
    assert record["connected"] is True
    assert record["subprotocol"] == SUBPROTOCOL
    assert record["boot_notification"] == {
        "chargingStation": {"model": "Twin", "vendorName": "ELU"},
        "reason": "PowerUp",
    }
    assert record["last_heartbeat"] is not None


async def test_authorize_with_an_allow_list(csms: RunningCsms) -> None:
    await csms.api.put(
        "/api/settings", json={"authorization": "allow_list", "allowed_id_tags": ["GOOD"]}
    )
    async with station(csms) as cs:
        good = await cs.call(call.Authorize(id_token={"id_token": "GOOD", "type": "ISO14443"}))
        bad = await cs.call(call.Authorize(id_token={"id_token": "BAD", "type": "ISO14443"}))
        free = await cs.call(call.Authorize(id_token={"id_token": "", "type": "NoAuthorization"}))

    assert good.id_token_info["status"] == "Accepted"
    assert bad.id_token_info["status"] == "Invalid"
    assert free.id_token_info["status"] == "Accepted"


async def test_a_transaction_is_recorded_event_by_event(csms: RunningCsms) -> None:
    async with station(csms) as cs:
        await cs.boot()
        await cs.call(
            call.StatusNotification(
                timestamp="2025-01-01T09:59:00Z",
                connector_status="Occupied",
                evse_id=1,
                connector_id=1,
            )
        )
        started = await cs.call(
            transaction_event(
                "Started",
                0,
                "Authorized",
                id_token={"id_token": "ABC", "type": "ISO14443"},
                evse={"id": 1, "connector_id": 1},
                meter_value=[energy(1000.0, "2025-01-01T10:00:00Z", "Transaction.Begin")],
                transaction_info={"transaction_id": "T1", "charging_state": "Charging"},
            )
        )
        updated = await cs.call(
            transaction_event(
                "Updated",
                1,
                "MeterValuePeriodic",
                offline=True,
                timestamp="2025-01-01T10:15:00Z",
                meter_value=[energy(3.5, "2025-01-01T10:15:00Z", "Sample.Periodic", "kWh")],
            )
        )
        await cs.call(
            transaction_event(
                "Ended",
                2,
                "EVCommunicationLost",
                timestamp="2025-01-01T10:30:00Z",
                meter_value=[energy(6000.0, "2025-01-01T10:30:00Z", "Transaction.End")],
                transaction_info={"transaction_id": "T1", "stopped_reason": "EVDisconnected"},
            )
        )

    assert started.id_token_info["status"] == "Accepted"
    assert updated.id_token_info is None
    listed = (await csms.api.get("/api/transactions")).json()
    assert [t["id"] for t in listed["data"]] == ["T1"]
    transaction = (await csms.api.get("/api/transactions/T1")).json()
    assert transaction["status"] == "ended"
    assert (transaction["evse_id"], transaction["connector_id"]) == (1, 1)
    assert (transaction["id_tag"], transaction["id_tag_status"]) == ("ABC", "Accepted")
    assert transaction["started_at"] == "2025-01-01T10:00:00Z"
    assert transaction["stopped_at"] == "2025-01-01T10:30:00Z"
    assert (transaction["meter_start"], transaction["meter_stop"]) == (1000, 6000)
    assert transaction["stop_reason"] == "EVDisconnected"
    assert [
        (e["event_type"], e["seq_no"], e["trigger_reason"], e["offline"])
        for e in transaction["events"]
    ] == [
        ("Started", 0, "Authorized", False),
        ("Updated", 1, "MeterValuePeriodic", True),
        ("Ended", 2, "EVCommunicationLost", False),
    ]
    assert [(v["context"], v["source"]) for v in transaction["meter_values"]] == [
        ("Transaction.Begin", "TransactionEvent.Started"),
        ("Sample.Periodic", "TransactionEvent.Updated"),
        ("Transaction.End", "TransactionEvent.Ended"),
    ]
    record = (await csms.api.get("/api/charge-points/CS1")).json()
    assert [(c["evse_id"], c["connector_id"], c["status"]) for c in record["connectors"]] == [
        (1, 1, "Occupied")
    ]


async def test_the_same_transaction_id_on_two_stations_needs_a_charge_point_id(
    csms: RunningCsms,
) -> None:
    for charge_point_id in ("CS1", "CS2"):
        async with station(csms, charge_point_id) as cs:
            await cs.call(transaction_event("Started", 0, "CablePluggedIn"))

    ambiguous = await csms.api.get("/api/transactions/T1")
    named = await csms.api.get("/api/transactions/T1", params={"charge_point_id": "CS2"})

    assert ambiguous.status_code == 409
    assert named.json()["charge_point_id"] == "CS2"


async def test_reports_and_events_are_kept_per_request(csms: RunningCsms) -> None:
    variable = {
        "component": {"name": "OCPPCommCtrlr"},
        "variable": {"name": "HeartbeatInterval"},
        "variable_attribute": [{"value": "42"}],
    }
    async with station(csms) as cs:
        response = await csms.api.post(
            "/api/charge-points/CS1/calls/GetBaseReport",
            json={"requestId": 7, "reportBase": "FullInventory"},
        )
        for seq_no, tbc in ((0, True), (1, False)):
            await cs.call(
                call.NotifyReport(
                    request_id=7,
                    generated_at="2025-01-01T10:00:00Z",
                    seq_no=seq_no,
                    tbc=tbc,
                    report_data=[variable],
                )
            )
        await cs.call(
            call.NotifyEvent(
                generated_at="2025-01-01T10:00:00Z",
                seq_no=0,
                event_data=[
                    {
                        "event_id": 1,
                        "timestamp": "2025-01-01T10:00:00Z",
                        "trigger": "Delta",
                        "actual_value": "Faulted",
                        "event_notification_type": "HardWiredNotification",
                        "component": {"name": "Connector"},
                        "variable": {"name": "AvailabilityState"},
                    }
                ],
            )
        )

    assert response.json()["response"] == {"status": "Accepted"}
    assert cs.report_requests == [7]
    reports = (await csms.api.get("/api/charge-points/CS1/reports")).json()
    (report,) = reports["reports"]
    assert (report["request_id"], report["parts"], report["complete"]) == (7, 2, True)
    assert report["report_data"][0]["variable"] == {"name": "HeartbeatInterval"}
    assert report["report_data"][0]["variableAttribute"] == [{"value": "42"}]
    assert reports["events"][0]["eventData"][0]["actualValue"] == "Faulted"


async def test_request_start_through_the_api_returns_the_station_answer(
    csms: RunningCsms,
) -> None:
    request = {"idToken": {"idToken": "ABC", "type": "Central"}, "remoteStartId": 1, "evseId": 1}
    async with station(csms) as cs:
        await cs.boot()
        response = await csms.api.post(
            "/api/charge-points/CS1/calls/RequestStartTransaction", json=request
        )
        log = await csms.messages("CS1", offset=2, limit=2)

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["action"], body["request"]) == ("RequestStartTransaction", request)
    assert body["response"] == {"status": "Accepted", "transactionId": "T-REMOTE"}
    assert cs.remote_starts[0]["id_token"] == {"id_token": "ABC", "type": "Central"}
    assert log["count"] == 4
    assert [
        (m["direction"], m["message_type"], m["action"], m["unique_id"]) for m in log["data"]
    ] == [
        ("sent", "CALL", "RequestStartTransaction", body["unique_id"]),
        ("received", "CALLRESULT", "RequestStartTransaction", body["unique_id"]),
    ]


async def test_call_errors(csms: RunningCsms) -> None:
    async def post(action: str, payload: dict[str, Any], **params: Any) -> Any:
        return await csms.api.post(
            f"/api/charge-points/CS1/calls/{action}", json=payload, params=params
        )

    assert (await post("ClearCache", {})).status_code == 404
    async with station(csms):
        invalid = await post("RequestStopTransaction", {"transactionId": 5})
        frames = (await csms.messages("CS1"))["count"]
        wrong_action = await post("RemoteStartTransaction", {})
        callerror = await post("Reset", {"type": "Immediate"})
        bad_result = await post("ClearCache", {})
        timeout = await post(
            "GetVariables",
            {"getVariableData": [{"component": {"name": "X"}, "variable": {"name": "Y"}}]},
            timeout=0.2,
        )

    assert invalid.status_code == 422
    assert invalid.json()["detail"]["errors"] == ["transactionId: 5 is not of type 'string'"]
    assert frames == 0
    assert wrong_action.status_code == 400
    assert "RequestStartTransaction" in wrong_action.json()["detail"]
    assert callerror.status_code == 502
    assert callerror.json()["detail"]["error_code"] == "NotImplemented"
    assert bad_result.status_code == 502
    assert timeout.status_code == 504


async def test_connection_with_the_1_6_subprotocol_is_refused(csms: RunningCsms) -> None:
    async with websockets.connect(f"{csms.ws_url}/CS1", subprotocols=["ocpp1.6"]) as ws:
        with pytest.raises(websockets.ConnectionClosedError) as closed:
            await ws.recv()

    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1002
    assert "ocpp2.0.1" in closed.value.rcvd.reason


async def test_basic_auth_is_recorded_and_checked(csms: RunningCsms) -> None:
    await csms.api.put("/api/settings", json={"charge_point_passwords": {"CS1": "s3cret"}})

    def auth(password: str) -> dict[str, str]:
        token = b64encode(f"CS1:{password}".encode()).decode()
        return {"Authorization": f"Basic {token}"}

    with pytest.raises(websockets.InvalidStatus) as refused:
        async with station(csms, additional_headers=auth("wrong")):
            pass
    async with station(csms, additional_headers=auth("s3cret")) as cs:
        await cs.boot()
        record = (await csms.api.get("/api/charge-points/CS1")).json()

    assert refused.value.response.status_code == 401
    assert record["basic_auth_user"] == "CS1"


async def test_reconnect_replaces_the_old_connection(csms: RunningCsms) -> None:
    async with station(csms) as old, station(csms) as new:
        await asyncio.wait_for(old._connection.wait_closed(), 2)
        response = await csms.api.post(
            "/api/charge-points/CS1/calls/GetBaseReport",
            json={"requestId": 1, "reportBase": "SummaryInventory"},
        )

        assert old._connection.close_code == 4000
        assert response.status_code == 200
        assert (new.report_requests, old.report_requests) == ([1], [])

    await eventually(lambda: not csms.state.charge_points["CS1"].connected)


async def test_transaction_event_answers_are_compact_camel_case_and_bad_times_refused(
    csms: RunningCsms,
) -> None:
    event = {
        "eventType": "Started",
        "timestamp": "2026-11-26T10:00:00.000Z",
        "triggerReason": "Authorized",
        "seqNo": 0,
        "transactionInfo": {"transactionId": "T1", "chargingState": "Charging"},
        "idToken": {"idToken": "TAG", "type": "ISO14443"},
        "evse": {"id": 1, "connectorId": 1},
    }
    async with websockets.connect(f"{csms.ws_url}/RAW", subprotocols=[SUBPROTOCOL]) as raw:
        await raw.send(json.dumps([2, "e1", "TransactionEvent", event]))
        answer = await raw.recv()
        late = {**event, "eventType": "Updated", "seqNo": 1, "timestamp": "10:00"}
        await raw.send(json.dumps([2, "e2", "TransactionEvent", late]))
        refused = json.loads(await raw.recv())

    assert answer == '[3,"e1",{"idTokenInfo":{"status":"Accepted"}}]'
    assert refused[:3] == [4, "e2", "FormatViolation"]
    (transaction,) = csms.state.transactions.values()
    assert [e.seq_no for e in transaction.events] == [0]
