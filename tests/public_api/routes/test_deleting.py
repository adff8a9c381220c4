"""Deleting what runs stops it the way a user expects: sessions end towards the CSMS,
websockets close, vehicles are released, and only then are the rows deleted."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from tests.stack import Stack, eventually


async def _charging(
    stack: Stack, headers: dict[str, str], protocol: str = "ocpp1.6"
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A connected charge point charging a new vehicle: (charge point, vehicle)."""
    vehicle = await stack.vehicle(headers, soc=20)
    charge_point = await stack.charge_point(headers, protocol=protocol)
    connected = await stack.action("connect-charger", headers, charge_point_id=charge_point["id"])
    assert connected.status_code == 200, connected.text
    started = await stack.action(
        "start-transaction",
        headers,
        connector_id=charge_point["evses"][0]["connectors"][0]["id"],
        vehicle_id=vehicle["id"],
    )
    assert started.status_code == 200, started.text
    return charge_point, vehicle


async def _csms_record(stack: Stack, protocol: str, cid: str) -> dict[str, Any]:
    """What the CSMS knows of the charge point: whether it is connected, its transactions
    and how many frames it has received."""
    csms = stack.csms_v16 if protocol == "ocpp1.6" else stack.csms_v201
    charge_point = (await csms.api.get(f"/api/charge-points/{cid}")).json()
    transactions = await csms.api.get("/api/transactions", params={"charge_point_id": cid})
    frames = await csms.messages(cid, limit=1)
    return {
        "connected": charge_point["connected"],
        "transactions": [(t["status"], t["stop_reason"]) for t in transactions.json()["data"]],
        "frames": frames["count"] + frames["dropped"],
    }


async def _quiet(stack: Stack, protocol: str, cid: str) -> dict[str, Any]:
    """The CSMS's record once the charge point is gone, after checking that nothing
    arrives any more (a running twin with speed 600 sends MeterValues every 0.1 s)."""
    record = await eventually(
        lambda: _csms_record(stack, protocol, cid), lambda r: r["connected"] is False
    )
    await asyncio.sleep(1.0)
    later = await _csms_record(stack, protocol, cid)
    assert later == record, "the deleted charge point still talks to its CSMS"
    return record


@pytest.mark.parametrize("protocol", ["ocpp1.6", "ocpp2.0.1"])
async def test_deleting_a_charging_charge_point_ends_its_session_first(
    stack: Stack, protocol: str
) -> None:
    headers = await stack.account()
    charge_point, vehicle = await _charging(stack, headers, protocol)

    deleted = await stack.public.delete(f"/twin/charge-point/{charge_point['id']}", headers=headers)

    assert deleted.status_code == 204, deleted.text
    record = await _quiet(stack, protocol, charge_point["cid"])
    stop_reason = "Other"  # 1.6 StopTransaction reason / 2.0.1 stoppedReason
    assert record["transactions"] == [("ended", stop_reason)]
    read = await stack.public.get(f"/twin/vehicle/{vehicle['id']}", headers=headers)
    assert read.status_code == 200
    released = read.json()
    assert released["status"] == "ready-to-charge"
    assert (released["connector_id"], released["transaction_id"]) == (None, None)
    gone = await stack.public.get(f"/twin/charge-point/{charge_point['id']}", headers=headers)
    assert gone.status_code == 404
    assert charge_point["id"] not in await stack.hosted_twins()
    # The vehicle is free to charge elsewhere.
    other = await stack.charge_point(headers, protocol=protocol)
    await stack.action("connect-charger", headers, charge_point_id=other["id"])
    again = await stack.action(
        "start-transaction",
        headers,
        connector_id=other["evses"][0]["connectors"][0]["id"],
        vehicle_id=vehicle["id"],
    )
    assert again.status_code == 200, again.text


async def test_deleting_a_user_stops_all_their_twins(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    headers = await stack.account()
    user = (await stack.public.get("/user/me", headers=headers)).json()
    charging_16, _ = await _charging(stack, headers, "ocpp1.6")
    charging_201, _ = await _charging(stack, headers, "ocpp2.0.1")
    idle = await stack.charge_point(headers)
    connected = await stack.action("connect-charger", headers, charge_point_id=idle["id"])
    assert connected.status_code == 200, connected.text

    deleted = await stack.private.delete(f"/user/{user['id']}")

    assert deleted.status_code == 204, deleted.text
    for charge_point in (charging_16, charging_201, idle):
        record = await _quiet(stack, charge_point["ocpp_protocol"], charge_point["cid"])
        if charge_point is not idle:
            assert record["transactions"] == [("ended", "Other")]
    hosted = await stack.hosted_twins()
    assert not {charging_16["id"], charging_201["id"], idle["id"]} & set(hosted)
    assert (await stack.private.get(f"/user/{user['id']}")).status_code == 404
    # Embedded, the host logs here: no twin wrote rows of the deleted user.
    assert not [r for r in caplog.records if "FOREIGN KEY" in r.getMessage()]
    assert not [r for r in caplog.records if r.name.startswith("worker.persistence")]


async def test_a_plugged_in_vehicle_is_not_deleted_until_unplugged(stack: Stack) -> None:
    headers = await stack.account()
    charge_point, vehicle = await _charging(stack, headers)

    refused = await stack.public.delete(f"/twin/vehicle/{vehicle['id']}", headers=headers)

    assert refused.status_code == 409
    assert "unplug it before deleting it" in refused.json()["detail"]
    record = await _csms_record(stack, "ocpp1.6", charge_point["cid"])
    assert record["transactions"] == [("active", None)]
    unplugged = await stack.action(
        "unplug", headers, connector_id=charge_point["evses"][0]["connectors"][0]["id"]
    )
    assert unplugged.status_code == 200, unplugged.text
    deleted = await stack.public.delete(f"/twin/vehicle/{vehicle['id']}", headers=headers)
    assert deleted.status_code == 204
    await eventually(
        lambda: _csms_record(stack, "ocpp1.6", charge_point["cid"]),
        lambda record: record["transactions"] == [("ended", "EVDisconnected")],
    )
    schema = (await stack.public.get("/openapi.json")).json()
    assert "409" in schema["paths"]["/twin/vehicle/{id}"]["delete"]["responses"]
