"""Steps 4-6 of the README and the other actions, against the real bundled CSMS."""

from __future__ import annotations

import httpx
import pytest

from tests.stack import Stack, eventually


async def _connected(stack: Stack, headers: dict[str, str], **overrides):  # type: ignore[no-untyped-def]
    charge_point = await stack.charge_point(headers, **overrides)
    answer = await stack.action("connect-charger", headers, charge_point_id=charge_point["id"])
    assert answer.status_code == 200, answer.text
    return answer.json()


def _connector_id(charge_point: dict) -> str:  # type: ignore[type-arg]
    return charge_point["evses"][0]["connectors"][0]["id"]


async def test_steps_4_to_6_connect_start_watch_stop(stack: Stack) -> None:
    headers = await stack.account()
    vehicle = await stack.vehicle(headers, soc=20)
    charge_point = await _connected(stack, headers)
    assert charge_point["connected"] is True
    assert charge_point["status"] == "Available"
    assert charge_point["desired_state"] == "connected"
    connector_id = _connector_id(charge_point)

    started = await stack.action(
        "start-transaction", headers, connector_id=connector_id, vehicle_id=vehicle["id"]
    )
    assert started.status_code == 200, started.text
    transaction = started.json()
    assert transaction["status"] == "Charging"
    assert transaction["transactionid"] is not None
    assert transaction["vehicle_id"] == vehicle["id"]
    assert transaction["connector_id"] == connector_id
    assert transaction["id_tag"] == vehicle["id_tag"]

    async def read_transaction():  # type: ignore[no-untyped-def]
        answer = await stack.public.get(
            f"/operations/charge_point/transaction/{transaction['id']}", headers=headers
        )
        return answer.json()

    growing = await eventually(read_transaction, lambda tx: tx["energy"] > 0.5)
    connector = (
        await stack.public.get(f"/twin/charge-point/connector/{connector_id}", headers=headers)
    ).json()
    assert connector["status"] == "Charging"
    assert connector["current_ac_power"] == pytest.approx(22, rel=0.01)  # the AC point's limit
    assert connector["transaction_id"] == transaction["id"]
    assert connector["vehicle_id"] == vehicle["id"]
    car = (await stack.public.get(f"/twin/vehicle/{vehicle['id']}", headers=headers)).json()
    assert car["soc"] > 20
    assert car["status"] == "charging"
    assert car["transaction_id"] == transaction["id"]
    assert growing["energy"] > 0

    listed = await stack.public.get(
        "/operations/charge_point/transaction/", headers=headers, params={"active": True}
    )
    assert [tx["id"] for tx in listed.json()["data"]] == [transaction["id"]]

    stopped = await stack.action("stop-transaction", headers, transaction_id=transaction["id"])
    assert stopped.status_code == 200, stopped.text
    ended = stopped.json()
    assert ended["status"] == "Ended"
    assert ended["stop_reason"] == "Local"
    assert ended["end_time"] is not None
    assert ended["meter_stop"] == round(ended["meter_start"] + ended["energy"] * 1000)

    samples = await stack.public.get(
        f"/operations/charge_point/transaction/{transaction['id']}/meter-values", headers=headers
    )
    assert samples.json()["count"] > 0
    first = samples.json()["data"][0]
    assert first["power_w"] > 0
    assert first["voltage_v"] == 230

    csms_tx = await eventually(
        lambda: stack.csms_v16.api.get(f"/api/transactions/{transaction['transactionid']}"),
        lambda answer: answer.json().get("meter_stop") is not None,
    )
    assert csms_tx.json()["meter_stop"] == ended["meter_stop"]
    assert csms_tx.json()["id_tag"] == vehicle["id_tag"]

    def actions_of(log: httpx.Response) -> list[tuple[str, str, str]]:
        return [(m["direction"], m["message_type"], m["action"]) for m in log.json()["data"]]

    # The log is written in batches: the StopTransaction the CSMS has is there a moment later.
    log = await eventually(
        lambda: stack.public.get(
            f"/twin/charge-point/{charge_point['id']}/message-log",
            headers=headers,
            params={"limit": 1000},
        ),
        lambda answer: ("sent", "CALL", "StopTransaction") in actions_of(answer),
    )
    actions = actions_of(log)
    assert actions[0] == ("sent", "CALL", "BootNotification")
    assert ("received", "CALLRESULT", "BootNotification") in actions
    for action in ("Authorize", "StartTransaction", "MeterValues", "StopTransaction"):
        assert ("sent", "CALL", action) in actions
    only_boots = await stack.public.get(
        f"/twin/charge-point/{charge_point['id']}/message-log",
        headers=headers,
        params={"action": "BootNotification"},
    )
    assert {m["action"] for m in only_boots.json()["data"]} == {"BootNotification"}

    disconnected = await stack.action(
        "disconnect-charger", headers, charge_point_id=charge_point["id"]
    )
    assert disconnected.json()["connected"] is False
    assert disconnected.json()["desired_state"] == "disconnected"


async def test_plug_in_then_the_csms_starts_remotely(stack: Stack) -> None:
    headers = await stack.account()
    vehicle = await stack.vehicle(headers)
    charge_point = await _connected(stack, headers)
    connector_id = _connector_id(charge_point)
    plugged = await stack.action(
        "plug-in", headers, connector_id=connector_id, vehicle_id=vehicle["id"]
    )
    assert plugged.status_code == 200, plugged.text
    assert plugged.json()["status"] == "Preparing"
    assert plugged.json()["vehicle_id"] == vehicle["id"]

    remote = await stack.csms_v16.api.post(
        f"/api/charge-points/{charge_point['cid']}/calls/RemoteStartTransaction",
        json={"connectorId": 1, "idTag": vehicle["id_tag"]},
    )
    assert remote.json()["response"] == {"status": "Accepted"}

    transactions = await eventually(
        lambda: stack.public.get("/operations/charge_point/transaction/", headers=headers),
        lambda answer: (
            answer.json()["count"] == 1 and answer.json()["data"][0]["status"] == "Charging"
        ),
    )
    assert transactions.json()["data"][0]["vehicle_id"] == vehicle["id"]

    unplugged = await stack.action("unplug", headers, connector_id=connector_id)
    assert unplugged.status_code == 200
    ended = await eventually(
        lambda: stack.public.get("/operations/charge_point/transaction/", headers=headers),
        lambda answer: answer.json()["data"][0]["status"] == "Ended",
    )
    assert ended.json()["data"][0]["stop_reason"] == "EVDisconnected"
    car = (await stack.public.get(f"/twin/vehicle/{vehicle['id']}", headers=headers)).json()
    assert car["connector_id"] is None
    assert car["transaction_id"] is None


async def test_a_vehicle_plugged_in_without_authorisation_times_out(stack: Stack) -> None:
    """ConnectionTimeOut (60 simulated seconds, 1 real second here): the CSMS sees the
    connector Available again, the vehicle stays plugged in, and a start still works."""
    headers = await stack.account()
    vehicle = await stack.vehicle(headers)
    charge_point = await _connected(stack, headers, speed_factor=60)
    connector_id = _connector_id(charge_point)

    def csms_status(answer: httpx.Response) -> str:
        return next(c["status"] for c in answer.json()["connectors"] if c["connector_id"] == 1)

    async def csms_read() -> httpx.Response:
        return await stack.csms_v16.api.get(f"/api/charge-points/{charge_point['cid']}")

    plugged = await stack.action(
        "plug-in", headers, connector_id=connector_id, vehicle_id=vehicle["id"]
    )
    assert plugged.json()["status"] == "Preparing"
    await eventually(csms_read, lambda answer: csms_status(answer) == "Preparing")
    await eventually(csms_read, lambda answer: csms_status(answer) == "Available")
    read = await eventually(
        lambda: stack.public.get(f"/twin/charge-point/connector/{connector_id}", headers=headers),
        lambda answer: answer.json()["status"] == "Available",
    )
    assert read.json()["vehicle_id"] == vehicle["id"]
    car = (await stack.public.get(f"/twin/vehicle/{vehicle['id']}", headers=headers)).json()
    assert car["status"] == "plugged-in"

    started = await stack.action(
        "start-transaction", headers, connector_id=connector_id, vehicle_id=vehicle["id"]
    )
    assert started.status_code == 200, started.text
    assert started.json()["status"] == "Charging"
    await eventually(csms_read, lambda answer: csms_status(answer) == "Charging")


async def test_fault_and_clear(stack: Stack) -> None:
    headers = await stack.account()
    charge_point = await _connected(stack, headers)
    connector_id = _connector_id(charge_point)
    faulted = await stack.action(
        "set-faulted", headers, connector_id=connector_id, error_code="GroundFailure"
    )
    assert faulted.json()["status"] == "Faulted"
    assert faulted.json()["error_code"] == "GroundFailure"
    seen = await eventually(
        lambda: stack.csms_v16.api.get(f"/api/charge-points/{charge_point['cid']}"),
        lambda answer: any(
            c["status"] == "Faulted" and c["error_code"] == "GroundFailure"
            for c in answer.json()["connectors"]
        ),
    )
    assert seen.status_code == 200
    vehicle = await stack.vehicle(headers)
    refused = await stack.action(
        "start-transaction", headers, connector_id=connector_id, vehicle_id=vehicle["id"]
    )
    assert refused.status_code == 409
    assert "Faulted" in refused.json()["detail"]
    cleared = await stack.action("clear-fault", headers, connector_id=connector_id)
    assert cleared.json()["status"] == "Available"
    assert cleared.json()["error_code"] is None


async def test_errors_say_what_happened(stack: Stack) -> None:
    headers = await stack.account()
    vehicle = await stack.vehicle(headers)
    idle = await stack.charge_point(headers)
    not_connected = await stack.action(
        "start-transaction", headers, connector_id=_connector_id(idle), vehicle_id=vehicle["id"]
    )
    assert not_connected.status_code == 409
    assert not_connected.json()["code"] == "not_connected"
    car = (await stack.public.get(f"/twin/vehicle/{vehicle['id']}", headers=headers)).json()
    assert car["connector_id"] is None, "a start that failed must not leave the vehicle plugged in"

    unreachable = await stack.charge_point(headers, csms_url="ws://127.0.0.1:9")
    refused = await stack.action(
        "connect-charger", headers, charge_point_id=unreachable["id"], timeout=2
    )
    assert refused.status_code == 502, refused.text
    assert refused.json()["code"] == "csms_unreachable"
    assert unreachable["cid"] in refused.json()["detail"]

    await stack.csms_v16.api.put(
        "/api/settings", json={"authorization": "allow_list", "allowed_id_tags": ["SOMEONE-ELSE"]}
    )
    try:
        charge_point = await _connected(stack, headers)
        rejected = await stack.action(
            "start-transaction",
            headers,
            connector_id=_connector_id(charge_point),
            vehicle_id=vehicle["id"],
        )
        assert rejected.status_code == 403, rejected.text
        assert rejected.json()["code"] == "rejected"
        assert vehicle["id_tag"] in rejected.json()["detail"]
        attempts = await stack.public.get(
            "/operations/charge_point/transaction/",
            headers=headers,
            params={"charge_point_id": charge_point["id"]},
        )
        (attempt,) = attempts.json()["data"]
        assert attempt["status"] == "Rejected"
        assert attempt["end_time"] is not None
        running = await stack.public.get(
            "/operations/charge_point/transaction/", headers=headers, params={"active": True}
        )
        assert running.json()["count"] == 0
    finally:
        await stack.csms_v16.api.put("/api/settings", json={"authorization": "accept_all"})

    unknown = await stack.action(
        "start-transaction",
        headers,
        connector_id="00000000-0000-0000-0000-000000000000",
        vehicle_id=vehicle["id"],
    )
    assert unknown.status_code == 404
    malformed = await stack.action("start-transaction", headers, connector_id="nope")
    assert malformed.status_code == 422
    assert {e["loc"][-1] for e in malformed.json()["detail"]} == {"connector_id", "vehicle_id"}


async def test_a_stranger_cannot_act_on_your_twins(stack: Stack) -> None:
    owner = await stack.account()
    stranger = await stack.account()
    vehicle = await stack.vehicle(owner)
    charge_point = await _connected(stack, owner)
    connector_id = _connector_id(charge_point)
    started = await stack.action(
        "start-transaction", owner, connector_id=connector_id, vehicle_id=vehicle["id"]
    )
    transaction_id = started.json()["id"]
    own_vehicle = await stack.vehicle(stranger)
    for name, body in [
        ("connect-charger", {"charge_point_id": charge_point["id"]}),
        ("disconnect-charger", {"charge_point_id": charge_point["id"]}),
        ("start-transaction", {"connector_id": connector_id, "vehicle_id": own_vehicle["id"]}),
        ("plug-in", {"connector_id": connector_id, "vehicle_id": own_vehicle["id"]}),
        ("unplug", {"connector_id": connector_id}),
        ("set-faulted", {"connector_id": connector_id}),
        ("clear-fault", {"connector_id": connector_id}),
        ("stop-transaction", {"transaction_id": transaction_id}),
    ]:
        answer = await stack.action(name, stranger, **body)
        assert answer.status_code == 404, (name, answer.text)
    for path in (
        f"/operations/charge_point/transaction/{transaction_id}",
        f"/operations/charge_point/transaction/{transaction_id}/meter-values",
        f"/twin/charge-point/{charge_point['id']}/message-log",
    ):
        assert (await stack.public.get(path, headers=stranger)).status_code == 404
    still = await stack.public.get(
        f"/operations/charge_point/transaction/{transaction_id}", headers=owner
    )
    assert still.json()["status"] == "Charging"


async def test_deleting_a_connected_charge_point_stops_its_twin(stack: Stack) -> None:
    headers = await stack.account()
    charge_point = await _connected(stack, headers)
    deleted = await stack.public.delete(f"/twin/charge-point/{charge_point['id']}", headers=headers)
    assert deleted.status_code == 204
    assert charge_point["id"] not in await stack.hosted_twins()
    gone = await eventually(
        lambda: stack.csms_v16.api.get(f"/api/charge-points/{charge_point['cid']}"),
        lambda answer: answer.json()["connected"] is False,
    )
    assert gone.status_code == 200


@pytest.mark.parametrize("protocol", ["ocpp1.6", "ocpp2.0.1"])
async def test_data_transfer_to_the_csms(stack: Stack, protocol: str) -> None:
    headers = await stack.account()
    charge_point = await stack.charge_point(headers, protocol=protocol)
    offline = await stack.action(
        "data-transfer", headers, charge_point_id=charge_point["id"], vendor_id="com.example"
    )
    assert offline.status_code == 409
    await stack.action("connect-charger", headers, charge_point_id=charge_point["id"])
    answer = await stack.action(
        "data-transfer",
        headers,
        charge_point_id=charge_point["id"],
        vendor_id="com.example",
        message_id="hello",
        data={"any": ["json"]},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "Accepted"
    csms = stack.csms_v16 if protocol == "ocpp1.6" else stack.csms_v201
    frames = (await csms.messages(charge_point["cid"], limit=1000))["data"]
    sent = [f for f in frames if f["action"] == "DataTransfer" and f["message_type"] == "CALL"]
    assert sent[-1]["payload"]["vendorId"] == "com.example"
    assert sent[-1]["payload"]["messageId"] == "hello"


async def test_stored_configuration_is_what_the_csms_reads(stack: Stack) -> None:
    headers = await stack.account()
    charge_point = await stack.charge_point(
        headers, ocpp_configuration={"MeterValueSampleInterval": "17"}
    )
    await stack.action("connect-charger", headers, charge_point_id=charge_point["id"])
    read = await stack.csms_v16.api.post(
        f"/api/charge-points/{charge_point['cid']}/calls/GetConfiguration",
        json={"key": ["MeterValueSampleInterval"]},
    )
    assert read.json()["response"]["configurationKey"][0]["value"] == "17"
    changed = await stack.csms_v16.api.post(
        f"/api/charge-points/{charge_point['cid']}/calls/ChangeConfiguration",
        json={"key": "HeartbeatInterval", "value": "450"},
    )
    assert changed.json()["response"] == {"status": "Accepted"}
    stored = await eventually(
        lambda: stack.public.get(f"/twin/charge-point/{charge_point['id']}", headers=headers),
        lambda answer: "HeartbeatInterval" in answer.json()["ocpp_configuration"],
    )
    assert stored.json()["ocpp_configuration"]["HeartbeatInterval"] == "450"
    assert stored.json()["ocpp_configuration"]["MeterValueSampleInterval"] == "17"
    refused = await stack.public.patch(
        f"/twin/charge-point/{charge_point['id']}",
        headers=headers,
        json={"ocpp_configuration": {"HeartbeatInterval": "10"}},
    )
    assert refused.status_code == 409
