"""A charge point's message_log switch, as a user meets it: off, the twin's OCPP frames are
neither stored nor streamed, and everything else goes on."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi.testclient import TestClient

from tests.builders import charge_point_body, create_account, create_charge_point
from tests.stack import Stack, eventually


async def _log(stack: Stack, headers: dict[str, str], charge_point_id: str) -> httpx.Response:
    return await stack.public.get(
        f"/twin/charge-point/{charge_point_id}/message-log",
        headers=headers,
        params={"limit": 1000},
    )


def _actions(log: httpx.Response) -> list[tuple[str, str, str]]:
    return [(m["direction"], m["message_type"], m["action"]) for m in log.json()["data"]]


async def _connect(stack: Stack, headers: dict[str, str], charge_point_id: str) -> Any:
    answer = await stack.action("connect-charger", headers, charge_point_id=charge_point_id)
    assert answer.status_code == 200, answer.text
    assert (answer.json()["connected"], answer.json()["status"]) == (True, "Available")
    return answer.json()


async def test_off_stores_no_frame_while_the_rest_goes_on_and_a_patch_turns_it_on(
    stack: Stack,
) -> None:
    headers = await stack.account()
    vehicle = await stack.vehicle(headers, soc=20)
    charge_point = await stack.charge_point(headers, message_log=False)
    assert charge_point["message_log"] is False
    await _connect(stack, headers, charge_point["id"])
    connector_id = charge_point["evses"][0]["connectors"][0]["id"]
    started = await stack.action(
        "start-transaction", headers, connector_id=connector_id, vehicle_id=vehicle["id"]
    )
    assert started.status_code == 200, started.text
    transaction = started.json()
    assert transaction["status"] == "Charging"
    samples_url = f"/operations/charge_point/transaction/{transaction['id']}/meter-values"
    await eventually(
        lambda: stack.public.get(samples_url, headers=headers),
        lambda answer: answer.json()["count"] >= 2,
    )
    connector = await stack.public.get(
        f"/twin/charge-point/connector/{connector_id}", headers=headers
    )
    assert connector.json()["status"] == "Charging"
    stopped = await stack.action("stop-transaction", headers, transaction_id=transaction["id"])
    assert stopped.json()["status"] == "Ended"
    await eventually(  # the CSMS got the frames the log did not keep
        lambda: stack.csms_v16.api.get(f"/api/transactions/{transaction['transactionid']}"),
        lambda answer: answer.json().get("meter_stop") == stopped.json()["meter_stop"],
    )
    log = await _log(stack, headers, charge_point["id"])
    assert (log.status_code, log.json()) == (200, {"data": [], "count": 0})

    # A change reaches the twin when it connects with no vehicle plugged in.
    unplugged = await stack.action("unplug", headers, connector_id=connector_id)
    assert unplugged.status_code == 200, unplugged.text
    disconnected = await stack.action(
        "disconnect-charger", headers, charge_point_id=charge_point["id"]
    )
    assert disconnected.json()["connected"] is False
    patched = await stack.public.patch(
        f"/twin/charge-point/{charge_point['id']}", headers=headers, json={"message_log": True}
    )
    assert (patched.status_code, patched.json()["message_log"]) == (200, True)
    await _connect(stack, headers, charge_point["id"])
    logged = await eventually(  # a reconnect sends no second boot, but the statuses again
        lambda: _log(stack, headers, charge_point["id"]),
        lambda answer: ("sent", "CALL", "StatusNotification") in _actions(answer),
    )
    assert ("received", "CALLRESULT", "StatusNotification") in _actions(logged)
    read = await stack.public.get(f"/twin/charge-point/{charge_point['id']}", headers=headers)
    assert read.json()["message_log"] is True


async def test_turned_off_the_log_answers_what_was_stored_before(stack: Stack) -> None:
    headers = await stack.account()
    charge_point = await stack.charge_point(headers)
    assert charge_point["message_log"] is True
    await _connect(stack, headers, charge_point["id"])
    before = await eventually(
        lambda: _log(stack, headers, charge_point["id"]),
        lambda answer: ("sent", "CALL", "StatusNotification") in _actions(answer),
    )
    await stack.action("disconnect-charger", headers, charge_point_id=charge_point["id"])
    before = await _log(stack, headers, charge_point["id"])
    patched = await stack.public.patch(
        f"/twin/charge-point/{charge_point['id']}", headers=headers, json={"message_log": False}
    )
    assert patched.json()["message_log"] is False
    await _connect(stack, headers, charge_point["id"])
    vehicle = await stack.vehicle(headers)
    connector_id = charge_point["evses"][0]["connectors"][0]["id"]
    plugged = await stack.action(
        "plug-in", headers, connector_id=connector_id, vehicle_id=vehicle["id"]
    )
    assert plugged.json()["status"] == "Preparing"
    await eventually(  # the CSMS saw the status the log did not keep
        lambda: stack.public.get(f"/twin/charge-point/connector/{connector_id}", headers=headers),
        lambda answer: answer.json()["status"] == "Preparing",
    )
    after = await _log(stack, headers, charge_point["id"])
    assert after.json() == before.json()
    assert after.json()["count"] > 0


def test_the_switch_is_a_strict_boolean_in_every_body(
    public_client: TestClient, private_client: TestClient
) -> None:
    account = create_account(private_client, public_client)
    assert create_charge_point(public_client, account)["message_log"] is True
    bulk = public_client.post(
        "/twin/charge-point/bulk",
        headers=account.headers,
        json=[charge_point_body(name="a", message_log=False), charge_point_body(name="b")],
    )
    assert [cp["message_log"] for cp in bulk.json()] == [False, True]
    charge_point = bulk.json()[0]
    url = f"/twin/charge-point/{charge_point['id']}"
    for value in ("false", 0, 1, "yes", None):
        for method, path, body in (
            ("POST", "/twin/charge-point/", charge_point_body(message_log=value)),
            ("POST", "/twin/charge-point/bulk", [charge_point_body(message_log=value)]),
            ("PATCH", url, {"message_log": value}),
        ):
            answer = public_client.request(method, path, headers=account.headers, json=body)
            assert answer.status_code == 422, (method, path, value, answer.text)
            detail = answer.json()["detail"][0]
            assert "message_log" in detail["loc"] or "message_log" in detail["msg"], detail
    assert public_client.get(url, headers=account.headers).json()["message_log"] is False
    assert public_client.get("/twin/charge-point/", headers=account.headers).json()["count"] == 3
