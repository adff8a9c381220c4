"""The OCPP 1.6 test CSMS, driven by a scripted charge point over a real websocket."""

import asyncio
from base64 import b64encode
from collections.abc import AsyncIterator
from typing import Any

import pytest
import websockets
from ocpp.exceptions import OCPPError
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import Action

from csms_v16.app import create_app
from shared.csms.state import CsmsState
from tests.csms.server import RunningCsms, connected, eventually, serve

SUBPROTOCOL = "ocpp1.6"


class ScriptedChargePoint(ChargePoint):
    """Answers what the tests send it; has no Reset handler, so Reset gets a CALLERROR."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.remote_starts: list[dict[str, Any]] = []

    @on(Action.remote_start_transaction)
    def on_remote_start_transaction(self, **request: Any) -> call_result.RemoteStartTransaction:
        self.remote_starts.append(request)
        return call_result.RemoteStartTransaction(status="Accepted")

    @on(Action.get_configuration)
    async def on_get_configuration(self, **_: Any) -> call_result.GetConfiguration:
        await asyncio.Event().wait()
        raise AssertionError("never answers")

    @on(Action.change_configuration, skip_schema_validation=True)
    def on_change_configuration(self, **_: Any) -> call_result.ChangeConfiguration:
        return call_result.ChangeConfiguration(status="Perhaps")

    async def boot(self) -> call_result.BootNotification:
        return await self.call(
            call.BootNotification(charge_point_model="Twin", charge_point_vendor="ELU")
        )


@pytest.fixture
async def csms() -> AsyncIterator[RunningCsms]:
    async with serve(create_app(heartbeat_interval=42)) as running:
        yield running


def charge_point(csms: RunningCsms, charge_point_id: str = "CP1", **options: Any) -> Any:
    return connected(ScriptedChargePoint, csms.ws_url, charge_point_id, SUBPROTOCOL, **options)


def basic_auth(user: str, password: str) -> dict[str, str]:
    token = b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


async def test_boot_is_accepted_with_the_configured_heartbeat_interval(csms: RunningCsms) -> None:
    async with charge_point(csms) as cp:
        answer = await cp.boot()
        heartbeat = await cp.call(call.Heartbeat())

        listed = (await csms.api.get("/api/charge-points")).json()

    assert answer.status == "Accepted"
    assert answer.interval == 42
    assert heartbeat.current_time.endswith("Z")
    assert listed["count"] == 1
    (record,) = listed["data"]
    assert record["id"] == "CP1"
    assert record["connected"] is True
    assert record["subprotocol"] == SUBPROTOCOL
    assert record["boot_status"] == "Accepted"
    assert record["boot_notification"] == {"chargePointModel": "Twin", "chargePointVendor": "ELU"}
    assert record["last_heartbeat"] is not None


@pytest.mark.parametrize(
    ("policy", "status"), [("accept", "Accepted"), ("pending", "Pending"), ("reject", "Rejected")]
)
async def test_boot_answer_follows_the_boot_policy(
    csms: RunningCsms, policy: str, status: str
) -> None:
    updated = await csms.api.put(
        "/api/settings", json={"boot_policy": policy, "boot_retry_interval": 7}
    )
    assert updated.status_code == 200

    async with charge_point(csms) as cp:
        answer = await cp.boot()

    assert answer.status == status
    assert answer.interval == (42 if status == "Accepted" else 7)
    record = (await csms.api.get("/api/charge-points/CP1")).json()
    assert record["boot_status"] == status


async def test_boot_policy_can_be_given_to_create_app() -> None:
    async with serve(create_app(boot_policy="reject")) as csms, charge_point(csms) as cp:
        assert (await cp.boot()).status == "Rejected"


async def test_authorize_with_an_allow_list(csms: RunningCsms) -> None:
    await csms.api.put(
        "/api/settings", json={"authorization": "allow_list", "allowed_id_tags": ["GOOD"]}
    )
    async with charge_point(csms) as cp:
        await cp.boot()
        good = await cp.call(call.Authorize(id_tag="GOOD"))
        bad = await cp.call(call.Authorize(id_tag="STRANGER"))

    assert good.id_tag_info["status"] == "Accepted"
    assert bad.id_tag_info["status"] == "Invalid"


async def test_a_transaction_is_recorded_with_its_meter_values(csms: RunningCsms) -> None:
    energy = {"measurand": "Energy.Active.Import.Register", "unit": "Wh"}
    async with charge_point(csms) as cp:
        await cp.boot()
        await cp.call(call.StatusNotification(1, "NoError", "Preparing"))
        started = await cp.call(
            call.StartTransaction(
                connector_id=1, id_tag="ABC", meter_start=1000, timestamp="2025-01-01T10:00:00Z"
            )
        )
        await cp.call(call.StatusNotification(1, "NoError", "Charging"))
        await cp.call(
            call.MeterValues(
                connector_id=1,
                transaction_id=started.transaction_id,
                meter_value=[
                    {
                        "timestamp": "2025-01-01T10:15:00Z",
                        "sampledValue": [
                            {"value": "3500", "context": "Sample.Periodic", **energy},
                            {"value": "11000", "measurand": "Power.Active.Import", "unit": "W"},
                        ],
                    }
                ],
            )
        )
        stopped = await cp.call(
            call.StopTransaction(
                transaction_id=started.transaction_id,
                meter_stop=6000,
                timestamp="2025-01-01T10:30:00Z",
                id_tag="ABC",
                reason="EVDisconnected",
                transaction_data=[
                    {
                        "timestamp": "2025-01-01T10:30:00Z",
                        "sampledValue": [{"value": "6000", "context": "Transaction.End", **energy}],
                    }
                ],
            )
        )
        await cp.call(call.StatusNotification(1, "NoError", "Finishing"))
        second = await cp.call(
            call.StartTransaction(
                connector_id=1, id_tag="ABC", meter_start=6000, timestamp="2025-01-01T11:00:00Z"
            )
        )

    assert started.id_tag_info["status"] == "Accepted"
    assert stopped.id_tag_info["status"] == "Accepted"
    assert isinstance(started.transaction_id, int)
    assert second.transaction_id != started.transaction_id

    listed = (await csms.api.get("/api/transactions", params={"charge_point_id": "CP1"})).json()
    assert listed["count"] == 2
    transaction = (await csms.api.get(f"/api/transactions/{started.transaction_id}")).json()
    assert transaction["id"] == started.transaction_id
    assert transaction["status"] == "ended"
    assert transaction["connector_id"] == 1
    assert transaction["id_tag"] == "ABC"
    assert transaction["started_at"] == "2025-01-01T10:00:00Z"
    assert transaction["stopped_at"] == "2025-01-01T10:30:00Z"
    assert (transaction["meter_start"], transaction["meter_stop"]) == (1000, 6000)
    assert transaction["stop_reason"] == "EVDisconnected"
    assert [(v["context"], v["source"]) for v in transaction["meter_values"]] == [
        ("Sample.Periodic", "MeterValues"),
        ("Transaction.End", "StopTransaction"),
    ]
    assert transaction["meter_values"][0]["sampled_value"][1]["measurand"] == (
        "Power.Active.Import"
    )
    record = (await csms.api.get("/api/charge-points/CP1")).json()
    assert [(c["connector_id"], c["status"]) for c in record["connectors"]] == [(1, "Finishing")]
    assert (await csms.api.get("/api/transactions/999")).status_code == 404


async def test_unknown_id_tag_gets_a_transaction_marked_invalid(csms: RunningCsms) -> None:
    await csms.api.put("/api/settings", json={"authorization": "allow_list"})
    async with charge_point(csms) as cp:
        started = await cp.call(
            call.StartTransaction(
                connector_id=1, id_tag="NOPE", meter_start=0, timestamp="2025-01-01T10:00:00Z"
            )
        )
    assert started.id_tag_info["status"] == "Invalid"
    transaction = (await csms.api.get(f"/api/transactions/{started.transaction_id}")).json()
    assert transaction["id_tag_status"] == "Invalid"


async def test_message_log_is_paged_oldest_first(csms: RunningCsms) -> None:
    async with charge_point(csms) as cp:
        await cp.boot()
        for _ in range(3):
            await cp.call(call.Heartbeat())

    first = await csms.messages("CP1", offset=0, limit=3)
    rest = await csms.messages("CP1", offset=3, limit=100)

    assert first["count"] == 8
    assert first["dropped"] == 0
    assert [(m["direction"], m["message_type"], m["action"]) for m in first["data"]] == [
        ("received", "CALL", "BootNotification"),
        ("sent", "CALLRESULT", "BootNotification"),
        ("received", "CALL", "Heartbeat"),
    ]
    assert first["data"][0]["payload"] == {"chargePointModel": "Twin", "chargePointVendor": "ELU"}
    assert first["data"][1]["payload"]["status"] == "Accepted"
    assert first["data"][0]["unique_id"] == first["data"][1]["unique_id"]
    assert [m["seq"] for m in rest["data"]] == [3, 4, 5, 6, 7]
    assert rest["data"][0]["action"] == "Heartbeat"
    assert (await csms.api.get("/api/charge-points/NOBODY/messages")).status_code == 404


async def test_message_log_keeps_only_the_last_frames(csms: RunningCsms) -> None:
    await csms.api.put("/api/settings", json={"message_log_size": 4})
    async with charge_point(csms) as cp:
        for _ in range(5):
            await cp.call(call.Heartbeat())

    log = await csms.messages("CP1")

    assert (log["count"], log["dropped"]) == (4, 6)
    assert [m["seq"] for m in log["data"]] == [6, 7, 8, 9]
    assert [m["action"] for m in log["data"]] == ["Heartbeat"] * 4


async def test_remote_start_through_the_api_returns_the_charge_point_answer(
    csms: RunningCsms,
) -> None:
    async with charge_point(csms) as cp:
        await cp.boot()
        request = {"connectorId": 1, "idTag": "ABC"}
        response = await csms.api.post(
            "/api/charge-points/CP1/calls/RemoteStartTransaction", json=request
        )

        assert response.status_code == 200, response.text
        assert response.json() == {
            "action": "RemoteStartTransaction",
            "unique_id": response.json()["unique_id"],
            "request": request,
            "response": {"status": "Accepted"},
        }
        assert cp.remote_starts == [{"connector_id": 1, "id_tag": "ABC"}]
        log = await csms.messages("CP1", offset=2)
        assert [(m["direction"], m["message_type"], m["action"]) for m in log["data"]] == [
            ("sent", "CALL", "RemoteStartTransaction"),
            ("received", "CALLRESULT", "RemoteStartTransaction"),
        ]


async def test_call_to_an_unknown_or_disconnected_charge_point_is_404(csms: RunningCsms) -> None:
    async with charge_point(csms):
        pass
    await eventually(lambda: not csms.state.charge_points["CP1"].connected)

    for charge_point_id in ("NOBODY", "CP1"):
        response = await csms.api.post(
            f"/api/charge-points/{charge_point_id}/calls/ClearCache", json={}
        )
        assert response.status_code == 404
        assert "not connected" in response.json()["detail"]


async def test_invalid_payload_is_422_and_sends_nothing(csms: RunningCsms) -> None:
    async with charge_point(csms):
        before = (await csms.messages("CP1"))["count"]
        response = await csms.api.post(
            "/api/charge-points/CP1/calls/RemoteStartTransaction", json={"connectorId": "one"}
        )
        after = (await csms.messages("CP1"))["count"]

    assert response.status_code == 422
    errors = response.json()["detail"]["errors"]
    assert any("idTag" in error and "required" in error for error in errors)
    assert any(error.startswith("connectorId:") for error in errors)
    assert after == before == 0


@pytest.mark.parametrize("action", ["BootNotification", "StartTransaction", "FlyToTheMoon"])
async def test_action_that_is_not_csms_initiated_is_400(csms: RunningCsms, action: str) -> None:
    async with charge_point(csms):
        response = await csms.api.post(f"/api/charge-points/CP1/calls/{action}", json={})

    assert response.status_code == 400
    assert "RemoteStartTransaction" in response.json()["detail"]


async def test_callerror_is_502_with_its_code(csms: RunningCsms) -> None:
    async with charge_point(csms):
        response = await csms.api.post("/api/charge-points/CP1/calls/Reset", json={"type": "Soft"})

    assert response.status_code == 502
    detail = response.json()["detail"]
    assert detail["error_code"] == "NotImplemented"
    assert detail["error_description"]


async def test_invalid_callresult_is_502(csms: RunningCsms) -> None:
    async with charge_point(csms):
        response = await csms.api.post(
            "/api/charge-points/CP1/calls/ChangeConfiguration",
            json={"key": "HeartbeatInterval", "value": "30"},
        )

    assert response.status_code == 502
    assert any("Perhaps" in error for error in response.json()["detail"]["errors"])


async def test_no_answer_is_504(csms: RunningCsms) -> None:
    async with charge_point(csms):
        response = await csms.api.post(
            "/api/charge-points/CP1/calls/GetConfiguration", params={"timeout": 0.2}, json={}
        )

    assert response.status_code == 504
    assert "did not answer GetConfiguration" in response.json()["detail"]["message"]


@pytest.mark.parametrize("offered", [["ocpp2.0.1"], []])
async def test_connection_without_the_subprotocol_is_refused(
    csms: RunningCsms, offered: list[str]
) -> None:
    async with websockets.connect(f"{csms.ws_url}/CP1", subprotocols=offered or None) as ws:
        with pytest.raises(websockets.ConnectionClosedError) as closed:
            await ws.recv()

    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1002
    assert "ocpp1.6" in closed.value.rcvd.reason
    assert "CP1" not in csms.state.charge_points


async def test_ocpp_prefixed_path_is_accepted(csms: RunningCsms) -> None:
    async with connected(ScriptedChargePoint, f"{csms.ws_url}/ocpp", "CP9", SUBPROTOCOL) as cp:
        assert (await cp.boot()).status == "Accepted"


async def test_basic_auth_is_recorded(csms: RunningCsms) -> None:
    async with charge_point(csms, additional_headers=basic_auth("CP1", "s3cret")) as cp:
        await cp.boot()
        record = (await csms.api.get("/api/charge-points/CP1")).json()

    assert record["basic_auth_user"] == "CP1"
    assert csms.state.charge_points["CP1"].basic_auth_password == "s3cret"
    assert "s3cret" not in str(record)


async def test_basic_auth_is_checked_when_a_password_is_configured(csms: RunningCsms) -> None:
    await csms.api.put("/api/settings", json={"charge_point_passwords": {"CP1": "s3cret"}})
    settings = (await csms.api.get("/api/settings")).json()
    assert settings["password_protected_charge_points"] == ["CP1"]
    assert "s3cret" not in str(settings)

    for headers in ({}, basic_auth("CP1", "wrong"), basic_auth("CP2", "s3cret")):
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with charge_point(csms, additional_headers=headers):
                pass
        assert refused.value.response.status_code == 401

    async with charge_point(csms, additional_headers=basic_auth("CP1", "s3cret")) as cp:
        assert (await cp.boot()).status == "Accepted"
    async with charge_point(csms, "CP2") as cp:
        assert (await cp.boot()).status == "Accepted"


async def test_reconnect_replaces_the_old_connection(csms: RunningCsms) -> None:
    async with charge_point(csms) as old, charge_point(csms) as new:
        await asyncio.wait_for(old._connection.wait_closed(), 2)
        assert old._connection.close_code == 4000

        response = await csms.api.post(
            "/api/charge-points/CP1/calls/RemoteStartTransaction", json={"idTag": "ABC"}
        )
        assert response.status_code == 200
        assert new.remote_starts == [{"id_tag": "ABC"}]
        assert old.remote_starts == []
        assert csms.state.charge_points["CP1"].connected
        seen = (await csms.api.get("/api/charge-points/CP1")).json()
        assert (seen["connections"], seen["replaced_connections"]) == (2, 1)

    await eventually(lambda: not csms.state.charge_points["CP1"].connected)


async def test_two_csms_in_one_process_do_not_share_anything() -> None:
    first_state = CsmsState()
    async with (
        serve(create_app(first_state, boot_policy="reject")) as first,
        serve(create_app(heartbeat_interval=5)) as second,
    ):
        async with charge_point(first) as cp:
            assert (await cp.boot()).status == "Rejected"
        async with charge_point(second, "OTHER") as cp:
            assert (await cp.boot()).interval == 5

        assert list(first.state.charge_points) == ["CP1"]
        assert list(second.state.charge_points) == ["OTHER"]
        assert first.state is first_state


async def test_settings_can_be_read_and_partially_updated(csms: RunningCsms) -> None:
    before = (await csms.api.get("/api/settings")).json()
    response = await csms.api.put("/api/settings", json={"allowed_id_tags": ["B", "A"]})
    rejected = await csms.api.put("/api/settings", json={"boot_policy": "maybe"})

    assert before["heartbeat_interval"] == 42
    assert before["boot_policy"] == "accept"
    assert response.json() == {**before, "allowed_id_tags": ["A", "B"]}
    assert rejected.status_code == 422


async def test_invalid_or_unexpected_calls_from_the_charge_point_get_a_callerror(
    csms: RunningCsms,
) -> None:
    async with charge_point(csms) as cp:
        with pytest.raises(OCPPError) as invalid:
            await cp.call(call.Authorize(id_tag=123), skip_schema_validation=True, suppress=False)
        with pytest.raises(OCPPError) as unexpected:
            await cp.call(call.ClearCache(), suppress=False)
        assert (await cp.boot()).status == "Accepted"

    assert invalid.value.code == "TypeConstraintViolation"
    assert unexpected.value.code == "NotImplemented"


async def test_a_timestamp_that_is_not_rfc_3339_gets_a_format_violation(
    csms: RunningCsms,
) -> None:
    """The official schemas ask for ``format: date-time``, which the library's validator
    does not check; the CSMS does, and records nothing of the refused message."""
    async with charge_point(csms) as cp:
        await cp.boot()
        with pytest.raises(OCPPError) as invalid:
            await cp.call(
                call.StatusNotification(
                    connector_id=1, error_code="NoError", status="Available", timestamp="today"
                ),
                skip_schema_validation=True,
                suppress=False,
            )
        heartbeat = await cp.call(call.Heartbeat())

    assert invalid.value.code == "FormatViolation"
    assert "today" in str(invalid.value.details)
    assert heartbeat.current_time.endswith("Z")
    assert csms.state.charge_points["CP1"].connectors == {}


async def test_answers_are_compact_camel_case_frames_and_a_frame_that_is_not_json_is_ignored(
    csms: RunningCsms,
) -> None:
    async with websockets.connect(f"{csms.ws_url}/RAW", subprotocols=[SUBPROTOCOL]) as raw:
        await raw.send("not json")
        await raw.send('[2,"a1","Authorize",{"idTag":"TAG"}]')
        answer = await raw.recv()
        await raw.send('[2,"a2","StatusNotification",{"connectorId":1,"errorCode":"NoError"}]')
        missing = await raw.recv()

    assert answer == '[3,"a1",{"idTagInfo":{"status":"Accepted"}}]'
    assert missing.startswith('[4,"a2","ProtocolError",')
    log = await csms.messages("RAW")
    kinds = [message["message_type"] for message in log["data"]]
    assert kinds == ["INVALID", "CALL", "CALLRESULT", "CALL", "CALLERROR"]
