"""The bundled CSMSs' live streams of what they exchange with charge points, watched
while a real twin connects, charges and disconnects."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine

from shared.settings import Settings
from tests.event_stream import open_stream, status_of
from tests.stack import running_stack

START = {"ocpp1.6": "StartTransaction", "ocpp2.0.1": "TransactionEvent"}


def _seen(events: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    return [
        ("connection", str(event["connected"]))
        if event["kind"] == "connection"
        else (event["direction"], event["message_type"], event["action"])
        for event in events
    ]


def _in_order(seen: list[Any], expected: list[Any]) -> bool:
    position = 0
    for item in seen:
        if position < len(expected) and item == expected[position]:
            position += 1
    return position == len(expected)


@pytest.mark.parametrize("protocol", ["ocpp1.6", "ocpp2.0.1"])
async def test_a_csms_streams_what_it_receives_and_answers(
    settings: Settings, engine: Engine, protocol: str
) -> None:
    async with running_stack(settings, engine) as stack:
        csms = stack.csms_v16 if protocol == "ocpp1.6" else stack.csms_v201
        url = str(csms.api.base_url)
        headers = await stack.account()
        vehicle = await stack.vehicle(headers)
        charge_point = await stack.charge_point(headers, protocol)
        cid = charge_point["cid"]
        async with (
            open_stream(url, f"/api/charge-points/{cid}/events") as stream,
            open_stream(url, "/api/events", params={"kinds": "connection"}) as connections,
        ):
            answer = await stack.action(
                "connect-charger", headers, charge_point_id=charge_point["id"]
            )
            assert answer.status_code == 200, answer.text
            started = await stack.action(
                "start-transaction",
                headers,
                connector_id=charge_point["evses"][0]["connectors"][0]["id"],
                vehicle_id=vehicle["id"],
            )
            assert started.status_code == 200, started.text
            await stream.until(
                lambda event: (
                    event["kind"] == "frame"
                    and event["direction"] == "received"
                    and event["message_type"] == "CALL"
                    and event["action"] == START[protocol]
                )
            )
            answer = await stack.action(
                "disconnect-charger", headers, charge_point_id=charge_point["id"]
            )
            assert answer.status_code == 200, answer.text
            await stream.until(
                lambda event: event["kind"] == "connection" and not event["connected"]
            )
            await connections.until(lambda event: not event["connected"])

    assert {event["charge_point_id"] for event in stream.received} == {cid}
    assert _in_order(
        _seen(stream.received),
        [
            ("connection", "True"),
            ("received", "CALL", "BootNotification"),
            ("sent", "CALLRESULT", "BootNotification"),
            ("received", "CALL", "StatusNotification"),
            ("sent", "CALLRESULT", "StatusNotification"),
            ("received", "CALL", START[protocol]),
            ("sent", "CALLRESULT", START[protocol]),
            ("connection", "False"),
        ],
    )
    boot = next(event for event in stream.received if event["kind"] == "frame")
    assert boot["payload"]["chargePointVendor" if protocol == "ocpp1.6" else "reason"]
    assert [(event["kind"], event["connected"]) for event in connections.received] == [
        ("connection", True),
        ("connection", False),
    ]
    assert connections.received[0]["subprotocol"] == protocol


async def test_a_csms_stream_refuses_an_unknown_kind(settings: Settings, engine: Engine) -> None:
    async with running_stack(settings, engine) as stack:
        answer = await status_of(str(stack.csms_v16.api.base_url), "/api/events", kinds="frames")
    assert answer.status_code == 422
    assert "frames" in answer.json()["detail"]
