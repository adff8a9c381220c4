"""Bulk actions (``.../action/<name>/bulk``) end to end against the bundled CSMS: many twins
connected, charging, stopped and disconnected in one request each, one outcome per item."""

from __future__ import annotations

import uuid
from datetime import datetime
from itertools import pairwise
from typing import Any

import httpx

from tests.stack import Stack, eventually


async def _fleet(
    stack: Stack, headers: dict[str, str], count: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``count`` charge points on the 1.6 CSMS and as many vehicles, through the bulk creates."""
    cid = uuid.uuid4().hex[:8]
    charge_points = await stack.public.post(
        "/twin/charge-point/bulk",
        headers=headers,
        json=[
            {
                "name": f"cp{n}",
                "cid": f"bulk-{cid}-{n}",
                "csms_url": stack.csms_v16.ws_url,
                "speed_factor": 600,
                "evses": [{"connectors": [{"connector_type": "cType2"}]}],
            }
            for n in range(count)
        ],
    )
    assert charge_points.status_code == 200, charge_points.text
    vehicles = await stack.public.post(
        "/twin/vehicle/bulk",
        headers=headers,
        json=[{"name": f"car{n}", "battery_capacity": 60} for n in range(count)],
    )
    assert vehicles.status_code == 200, vehicles.text
    return charge_points.json(), vehicles.json()


async def _bulk(stack: Stack, name: str, headers: dict[str, str], **body: Any) -> httpx.Response:
    return await stack.public.post(
        f"/twin/charge-point/action/{name}/bulk", headers=headers, json=body, timeout=120
    )


def _connector(charge_point: dict[str, Any]) -> str:
    return charge_point["evses"][0]["connectors"][0]["id"]


def _outcomes(answer: httpx.Response) -> list[tuple[bool, int, str | None]]:
    assert answer.status_code == 200, answer.text
    return [(item["ok"], item["status_code"], item["code"]) for item in answer.json()["data"]]


async def test_connect_start_stop_disconnect_many_in_one_request_each(stack: Stack) -> None:
    headers = await stack.account()
    charge_points, vehicles = await _fleet(stack, headers, 4)

    connected = await _bulk(
        stack,
        "connect-charger",
        headers,
        items=[{"charge_point_id": cp["id"]} for cp in charge_points],
    )
    assert _outcomes(connected) == [(True, 200, None)] * 4
    assert connected.json()["succeeded"] == 4 and connected.json()["failed"] == 0
    for charge_point in charge_points:
        at_csms = await stack.csms_v16.api.get(f"/api/charge-points/{charge_point['cid']}")
        assert at_csms.json()["connected"] is True
        assert at_csms.json()["boot_status"] == "Accepted"
        ours = await stack.public.get(f"/twin/charge-point/{charge_point['id']}", headers=headers)
        assert ours.json()["connected"] is True
        assert ours.json()["desired_state"] == "connected"

    started = await _bulk(
        stack,
        "start-transaction",
        headers,
        items=[
            {"connector_id": _connector(cp), "vehicle_id": car["id"]}
            for cp, car in zip(charge_points, vehicles, strict=True)
        ],
    )
    assert _outcomes(started) == [(True, 200, None)] * 4
    transaction_ids = [item["transaction_id"] for item in started.json()["data"]]
    for charge_point, car, transaction_id in zip(
        charge_points, vehicles, transaction_ids, strict=True
    ):
        transaction = await stack.public.get(
            f"/operations/charge_point/transaction/{transaction_id}", headers=headers
        )
        assert transaction.json()["status"] == "Charging"
        assert transaction.json()["vehicle_id"] == car["id"]  # plugged in, as the single start
        assert transaction.json()["connector_id"] == _connector(charge_point)
        at_csms = await stack.csms_v16.api.get(
            "/api/transactions", params={"charge_point_id": charge_point["cid"]}
        )
        (csms_transaction,) = at_csms.json()["data"]
        assert csms_transaction["status"] == "active"
        assert csms_transaction["id_tag"] == car["id_tag"]
        assert str(csms_transaction["id"]) == str(transaction.json()["transactionid"])

    stopped = await _bulk(
        stack,
        "stop-transaction",
        headers,
        items=[{"transaction_id": id, "reason": "Remote"} for id in transaction_ids],
    )
    assert _outcomes(stopped) == [(True, 200, None)] * 4
    assert [item["transaction_id"] for item in stopped.json()["data"]] == transaction_ids
    for charge_point in charge_points:
        ended = await eventually(
            lambda cid=charge_point["cid"]: stack.csms_v16.api.get(
                "/api/transactions", params={"charge_point_id": cid}
            ),
            lambda answer: answer.json()["data"][0]["status"] == "ended",
        )
        assert ended.json()["data"][0]["stop_reason"] == "Remote"

    disconnected = await _bulk(
        stack,
        "disconnect-charger",
        headers,
        items=[{"charge_point_id": cp["id"]} for cp in charge_points],
    )
    assert _outcomes(disconnected) == [(True, 200, None)] * 4
    for charge_point in charge_points:
        ours = await stack.public.get(f"/twin/charge-point/{charge_point['id']}", headers=headers)
        assert ours.json()["connected"] is False
        assert ours.json()["desired_state"] == "disconnected"
        await eventually(
            lambda cid=charge_point["cid"]: stack.csms_v16.api.get(f"/api/charge-points/{cid}"),
            lambda answer: answer.json()["connected"] is False,
        )


async def test_one_bad_item_fails_alone_with_the_single_actions_error(stack: Stack) -> None:
    headers = await stack.account()
    (online, offline), (car, other_car) = await _fleet(stack, headers, 2)
    stranger = await stack.account()
    (strangers_point,), (strangers_car,) = await _fleet(stack, stranger, 1)

    connected = await _bulk(
        stack,
        "connect-charger",
        headers,
        items=[
            {"charge_point_id": online["id"]},
            {"charge_point_id": strangers_point["id"]},
            {"charge_point_id": str(uuid.uuid4())},
            {"charge_point_id": online["id"]},
        ],
    )
    assert _outcomes(connected) == [
        (True, 200, None),
        (False, 404, None),  # not yours: as unknown as an id that does not exist
        (False, 404, None),
        (False, 422, "duplicate"),
    ]
    assert connected.json()["data"][1]["detail"] == (
        f"charge point {strangers_point['id']} not found"
    )
    assert "also item 0" in connected.json()["data"][3]["detail"]
    assert (connected.json()["succeeded"], connected.json()["failed"]) == (1, 3)
    at_csms = await stack.csms_v16.api.get(f"/api/charge-points/{strangers_point['cid']}")
    assert at_csms.status_code == 404  # the stranger's charge point never booted

    started = await _bulk(
        stack,
        "start-transaction",
        headers,
        items=[
            {"connector_id": _connector(offline), "vehicle_id": other_car["id"]},
            {"connector_id": _connector(online), "vehicle_id": strangers_car["id"]},
            {"connector_id": _connector(strangers_point), "vehicle_id": car["id"]},
            {"connector_id": _connector(online), "vehicle_id": car["id"]},
        ],
    )
    assert _outcomes(started) == [
        (False, 409, "not_connected"),
        (False, 404, None),
        (False, 404, None),
        (True, 200, None),
    ]
    assert started.json()["data"][0]["charge_point_id"] == offline["id"]
    transaction_id = started.json()["data"][3]["transaction_id"]

    again = await _bulk(
        stack,
        "start-transaction",
        headers,
        items=[{"connector_id": _connector(offline), "vehicle_id": car["id"]}],
    )
    assert _outcomes(again) == [(False, 409, None)]
    assert "at another connector" in again.json()["data"][0]["detail"]

    stopped = await _bulk(
        stack,
        "stop-transaction",
        headers,
        items=[{"transaction_id": transaction_id}, {"transaction_id": transaction_id}],
    )
    assert _outcomes(stopped) == [(True, 200, None), (False, 422, "duplicate")]
    ended = await _bulk(
        stack, "stop-transaction", headers, items=[{"transaction_id": transaction_id}]
    )
    assert _outcomes(ended) == [(False, 409, None)]
    assert ended.json()["data"][0]["detail"] == f"transaction {transaction_id} has already ended"
    strangers = await _bulk(
        stack, "stop-transaction", stranger, items=[{"transaction_id": transaction_id}]
    )
    assert _outcomes(strangers) == [(False, 404, None)]


async def test_paced_connects_reach_the_csms_at_the_rate_asked(stack: Stack) -> None:
    headers = await stack.account()
    charge_points, _ = await _fleet(stack, headers, 6)
    connected = await _bulk(
        stack,
        "connect-charger",
        headers,
        items=[{"charge_point_id": cp["id"]} for cp in charge_points],
        rate=5,
    )
    assert _outcomes(connected) == [(True, 200, None)] * 6
    booted = []
    for charge_point in charge_points:
        at_csms = await stack.csms_v16.api.get(f"/api/charge-points/{charge_point['cid']}")
        booted.append(datetime.fromisoformat(at_csms.json()["booted_at"]))
    # 5 per second: the sixth begins a second after the first (distributed: each host
    # paces its share from when it receives it, so single gaps vary between hosts)
    span = (max(booted) - min(booted)).total_seconds()
    assert span > 0.7, sorted(booted)
    if stack.mode == "embedded":
        gaps = [(later - earlier).total_seconds() for earlier, later in pairwise(sorted(booted))]
        assert min(gaps) > 0.1, gaps


async def test_the_item_limit_and_malformed_bulk_bodies_are_clear_422s(stack: Stack) -> None:
    headers = await stack.account()
    too_many = await _bulk(
        stack,
        "connect-charger",
        headers,
        items=[{"charge_point_id": str(uuid.uuid4())} for _ in range(1001)],
    )
    assert too_many.status_code == 422
    assert "at most 1000 items" in too_many.text
    empty = await _bulk(stack, "disconnect-charger", headers, items=[])
    assert empty.status_code == 422
    assert "at least 1 item" in empty.text
    too_slow = await _bulk(
        stack,
        "start-transaction",
        headers,
        items=[{"connector_id": str(uuid.uuid4()), "vehicle_id": str(uuid.uuid4())}] * 10,
        rate=0.01,
    )
    assert too_slow.status_code == 422
    assert "10 items at 0.01 per second take 1000 s; at most 300 s" in too_slow.text
    typo = await _bulk(
        stack, "stop-transaction", headers, items=[{"transaction": str(uuid.uuid4())}]
    )
    assert typo.status_code == 422
    assert "transaction_id" in typo.text and "extra" in typo.text
    bad_reason = await _bulk(
        stack,
        "stop-transaction",
        headers,
        items=[{"transaction_id": str(uuid.uuid4()), "reason": "Bored"}],
    )
    assert bad_reason.status_code == 422
    unauthenticated = await stack.public.post(
        "/twin/charge-point/action/connect-charger/bulk",
        json={"items": [{"charge_point_id": str(uuid.uuid4())}]},
    )
    assert unauthenticated.status_code == 401
