"""Live event streams of the twins (server-sent events), watched as a user would: a real
HTTP server, the real bundled CSMS, and (distributed) twins on Celery workers."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
import redis.asyncio as aioredis
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from shared.schemas.event import DroppedEvent
from shared.settings import Settings
from tests.cluster import Cluster
from tests.conftest import ClusterFactory
from tests.event_stream import EventStream, open_stream, status_of
from tests.stack import Stack, eventually, running_distributed_stack, running_stack
from worker.live import LiveEvents, Subscription
from worker.redis_events import user_channel

START = {"ocpp1.6": "StartTransaction", "ocpp2.0.1": "TransactionEvent"}


def _connector_id(charge_point: dict[str, Any]) -> str:
    return charge_point["evses"][0]["connectors"][0]["id"]


def _in_order(seen: list[Any], expected: list[Any]) -> bool:
    """``expected`` appears in ``seen`` in this order (other items may come between)."""
    position = 0
    for item in seen:
        if position < len(expected) and item == expected[position]:
            position += 1
    return position == len(expected)


def _sent_calls(events: list[dict[str, Any]]) -> list[str]:
    return [
        event["action"]
        for event in events
        if event["kind"] == "frame"
        and event["direction"] == "sent"
        and event["message_type"] == "CALL"
    ]


def _ended(events: list[dict[str, Any]]) -> bool:
    """The stream showed the transaction end, and the message that told the CSMS so."""
    told = any(
        event["kind"] == "frame"
        and event["direction"] == "sent"
        and event["message_type"] == "CALL"
        and (
            event["action"] == "StopTransaction"
            or (event["action"] == "TransactionEvent" and event["payload"]["eventType"] == "Ended")
        )
        for event in events
    )
    return told and any(
        event["kind"] == "transaction" and event["status"] == "Ended" for event in events
    )


async def _start(stack: Stack, headers: dict[str, str], connector_id: str, vehicle_id: str) -> str:
    started = await stack.action(
        "start-transaction", headers, connector_id=connector_id, vehicle_id=vehicle_id
    )
    assert started.status_code == 200, started.text
    return started.json()["id"]


@pytest.mark.parametrize("protocol", ["ocpp1.6", "ocpp2.0.1"])
async def test_a_charge_points_stream_shows_its_session_as_it_happens(
    stack: Stack, protocol: str
) -> None:
    headers = await stack.account()
    vehicle = await stack.vehicle(headers, soc=20)
    charge_point = await stack.charge_point(headers, protocol)
    connector_id = _connector_id(charge_point)
    async with (
        stack.served_public() as url,
        open_stream(url, f"/twin/charge-point/{charge_point['id']}/events", headers) as stream,
    ):
        connected = await stack.action(
            "connect-charger", headers, charge_point_id=charge_point["id"]
        )
        assert connected.status_code == 200, connected.text
        transaction_id = await _start(stack, headers, connector_id, vehicle["id"])
        await stream.until(
            lambda event: event["kind"] == "meter" and event["transaction_id"] == transaction_id
        )
        stopped = await stack.action("stop-transaction", headers, transaction_id=transaction_id)
        assert stopped.status_code == 200, stopped.text
        await stream.until(lambda _: _ended(stream.received))
    events = stream.received

    assert {event["charge_point_id"] for event in events} == {charge_point["id"]}
    assert _in_order(_sent_calls(events), ["BootNotification", "StatusNotification"])
    assert _in_order(_sent_calls(events), ["StatusNotification", START[protocol]])
    boot = [event for event in events if event["kind"] == "frame"][:2]
    assert [(f["direction"], f["message_type"], f["action"]) for f in boot] == [
        ("sent", "CALL", "BootNotification"),
        ("received", "CALLRESULT", "BootNotification"),
    ]
    assert boot[1]["payload"]["status"] == "Accepted"
    assert any(
        event["kind"] == "charge_point" and event["connected"] and event["status"] == "Available"
        for event in events
    )

    connector_statuses = [
        event["status"]
        for event in events
        if event["kind"] == "connector" and event["connector_id"] == connector_id
    ]
    assert _in_order(connector_statuses, ["Available", "Preparing", "Charging", "Finishing"])
    transaction = [event for event in events if event["kind"] == "transaction"]
    assert {event["transaction_id"] for event in transaction} == {transaction_id}
    assert _in_order([event["status"] for event in transaction], ["Charging", "Ended"])
    assert transaction[-1]["transactionid"] is not None
    assert transaction[-1]["stop_reason"] == "Local"

    if protocol == "ocpp1.6":
        assert _in_order(
            _sent_calls(events), ["StartTransaction", "MeterValues", "StopTransaction"]
        )
    else:
        event_types = [
            event["payload"]["eventType"]
            for event in events
            if event["kind"] == "frame"
            and event["direction"] == "sent"
            and event["action"] == "TransactionEvent"
            and event["message_type"] == "CALL"
        ]
        assert _in_order(event_types, ["Started", "Updated", "Ended"])
    samples = [
        (index, event)
        for index, event in enumerate(events)
        if event["kind"] == "meter" and event["transaction_id"] == transaction_id
    ]
    assert samples
    assert samples[0][1]["power_w"] > 0
    assert samples[0][1]["connector_id"] == connector_id
    assert any(event["kind"] == "vehicle" and event["status"] == "charging" for event in events)


async def test_all_twins_stream_filters_kinds_and_takes_the_token_as_query(stack: Stack) -> None:
    headers = await stack.account()
    token = headers["Authorization"].removeprefix("Bearer ")
    first = await stack.charge_point(headers)
    second = await stack.charge_point(headers, "ocpp2.0.1")
    other_user = await stack.account()
    strangers = await stack.charge_point(other_user)
    async with (
        stack.served_public() as url,
        open_stream(
            url, "/twin/events", params={"token": token, "kinds": "charge_point, connector"}
        ) as stream,
    ):
        for charge_point in (strangers, first, second):
            owner = other_user if charge_point is strangers else headers
            answer = await stack.action(
                "connect-charger", owner, charge_point_id=charge_point["id"]
            )
            assert answer.status_code == 200, answer.text
        available: set[str] = set()

        def both_available(event: dict[str, Any]) -> bool:
            if event["kind"] == "connector" and event["status"] == "Available":
                available.add(event["charge_point_id"])
            return available == {first["id"], second["id"]}

        await stream.until(both_available)
    events = stream.received
    assert {event["kind"] for event in events} == {"charge_point", "connector"}
    assert {event["charge_point_id"] for event in events} == {first["id"], second["id"]}


async def test_streams_refuse_strangers_bad_tokens_and_unknown_kinds(stack: Stack) -> None:
    headers = await stack.account()
    charge_point = await stack.charge_point(headers)
    stranger = await stack.account()
    path = f"/twin/charge-point/{charge_point['id']}/events"
    async with stack.served_public() as url:
        answer = await status_of(url, path, stranger)
        assert answer.status_code == 404, answer.text
        assert charge_point["id"] in answer.json()["detail"]
        token = stranger["Authorization"].removeprefix("Bearer ")
        answer = await status_of(url, path, token=token)
        assert answer.status_code == 404, answer.text
        unknown = "/twin/charge-point/00000000-0000-4000-8000-000000000000/events"
        assert (await status_of(url, unknown, headers)).status_code == 404
        answer = await status_of(url, "/twin/events")
        assert answer.status_code == 401
        assert "token" in answer.json()["detail"]
        assert (await status_of(url, "/twin/events", token="not-a-token")).status_code == 401
        answer = await status_of(url, "/twin/events", headers, kinds="frame,framez")
        assert answer.status_code == 422
        assert "framez" in answer.json()["detail"]
        assert (await status_of(url, "/twin/charge-point/abc/events", headers)).status_code == 422


async def test_a_viewer_that_does_not_read_never_slows_the_twin(stack: Stack) -> None:
    headers = await stack.account()
    vehicle = await stack.vehicle(headers, soc=20)
    charge_point = await stack.charge_point(headers, speed_factor=3600)
    connector_id = _connector_id(charge_point)
    async with (
        stack.served_public() as url,
        open_stream(url, "/twin/events", headers) as stalled,
        open_stream(url, "/twin/events", headers, {"kinds": "meter"}) as reading,
    ):
        answer = await stack.action("connect-charger", headers, charge_point_id=charge_point["id"])
        assert answer.status_code == 200, answer.text
        transaction_id = await _start(stack, headers, connector_id, vehicle["id"])
        samples = await _count_samples(reading, transaction_id, 30)
        stopped = await stack.action("stop-transaction", headers, transaction_id=transaction_id)
        assert stopped.status_code == 200, stopped.text
        assert samples == 30
        first = await stalled.next()
        assert first["charge_point_id"] == charge_point["id"]


async def test_a_full_viewer_queue_drops_its_own_events_with_a_marker(
    settings: Settings, engine: Engine
) -> None:
    async with running_stack(settings, engine) as stack:
        live: LiveEvents = stack.public_app.state.events
        headers = await stack.account()
        user_id = uuid.UUID((await stack.public.get("/user/me", headers=headers)).json()["id"])
        vehicle = await stack.vehicle(headers, soc=20)
        charge_point = await stack.charge_point(headers, speed_factor=3600)
        stalled = Subscription(user_id, capacity=5)
        live.watch(stalled)
        reading = await live.subscribe(user_id, charge_point["id"], frozenset({"meter"}))
        answer = await stack.action("connect-charger", headers, charge_point_id=charge_point["id"])
        assert answer.status_code == 200, answer.text
        transaction_id = await _start(stack, headers, _connector_id(charge_point), vehicle["id"])
        samples = 0
        async for event in reading:
            assert event.kind == "meter"
            samples += str(event.transaction_id) == transaction_id
            if samples == 30:
                break
        stopped = await stack.action("stop-transaction", headers, transaction_id=transaction_id)
        assert stopped.status_code == 200, stopped.text
        live.unwatch(stalled)
        stalled.close()
        kept = [event async for event in stalled]
        await live.unsubscribe(reading)
    assert {event.charge_point_id for event in kept[:5]} == {uuid.UUID(charge_point["id"])}
    assert len(kept) == 6
    assert isinstance(kept[-1], DroppedEvent)
    assert kept[-1].count >= 30


async def _count_samples(stream: EventStream, transaction_id: str, wanted: int) -> int:
    count = 0
    while count < wanted:
        event = await asyncio.wait_for(stream.next(), 20)
        if event["kind"] == "meter" and event["transaction_id"] == transaction_id:
            count += 1
    return count


def test_the_stream_and_its_event_schema_are_in_openapi(public_client: TestClient) -> None:
    schema = public_client.get("/openapi.json").json()
    for path in ("/twin/events", "/twin/charge-point/{id}/events"):
        answer = schema["paths"][path]["get"]["responses"]
        stream = answer["200"]["content"]["text/event-stream"]
        data = stream["itemSchema"]["properties"]["data"]["contentSchema"]
        assert data["discriminator"]["propertyName"] == "kind"
        assert {"401", "404", "422"} <= set(answer)
    kinds = {
        name: schema["components"]["schemas"][name]["properties"]["kind"]["const"]
        for name in ("FrameEvent", "ConnectorEvent", "MeterEvent", "DroppedEvent")
    }
    assert kinds == {
        "FrameEvent": "frame",
        "ConnectorEvent": "connector",
        "MeterEvent": "meter",
        "DroppedEvent": "dropped",
    }


async def test_the_stream_follows_a_twin_that_moves_to_another_worker(
    new_cluster: ClusterFactory,
) -> None:
    with new_cluster(2) as cluster:
        async with running_distributed_stack(cluster) as stack:
            headers = await stack.account()
            vehicle = await stack.vehicle(headers, soc=20)
            charge_point = await stack.charge_point(headers)
            async with (
                stack.served_public() as url,
                open_stream(
                    url, "/twin/events", headers, {"kinds": "charge_point,meter"}
                ) as stream,
            ):
                answer = await stack.action(
                    "connect-charger", headers, charge_point_id=charge_point["id"]
                )
                assert answer.status_code == 200, answer.text
                await _start(stack, headers, _connector_id(charge_point), vehicle["id"])
                await stream.until(lambda event: event["kind"] == "meter")
                first_host = (await stack.hosted_twins())[charge_point["id"]]
                worker = next(w for w in cluster.workers if w.name == first_host)
                await asyncio.to_thread(cluster.stop_worker, worker)
                await stream.until(
                    lambda event: event["kind"] == "charge_point" and not event["connected"], 60
                )
                moved = await stream.until(
                    lambda event: event["kind"] == "charge_point" and event["connected"], 60
                )
                after_move = await stream.until(lambda event: event["kind"] == "meter")
            hosts = await stack.hosted_twins()
    assert hosts[charge_point["id"]] != first_host
    assert moved and after_move[-1]["charge_point_id"] == charge_point["id"]


async def test_the_api_listens_to_redis_only_while_a_viewer_watches(
    cluster: Cluster, redis_url: str
) -> None:
    async with running_distributed_stack(cluster) as stack:
        headers = await stack.account()
        me = (await stack.public.get("/user/me", headers=headers)).json()
        channel = user_channel(uuid.UUID(me["id"]))
        client = aioredis.Redis.from_url(redis_url)
        try:
            async with stack.served_public() as url:
                assert await client.pubsub_numsub(channel) == [(channel.encode(), 0)]
                async with open_stream(url, "/twin/events", headers):
                    assert await client.pubsub_numsub(channel) == [(channel.encode(), 1)]
                await eventually(
                    lambda: client.pubsub_numsub(channel),
                    lambda answer: answer == [(channel.encode(), 0)],
                )
        finally:
            await client.aclose()
