"""Fleets against the bundled CSMSs: what the fleet counts is what the CSMS recorded."""

from __future__ import annotations

import asyncio
import csv
import io
import statistics
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from public_api.app import create_app as create_public_app
from shared.settings import Settings
from tests.builders import create_account
from tests.csms.server import RunningCsms
from tests.stack import Stack, eventually, running_stack

#: Wait until stopped (by default, a stop answers after 5 s, maybe still stopping).
STOP = {"timeout": 120}


def fleet_body(stack: Stack, count: int = 24, **scenario: Any) -> dict[str, Any]:
    return {
        "name": "load",
        "charge_points": {
            "count": count,
            "csms_url": stack.csms_v16.ws_url + "/{cid}",
            "identity_prefix": f"T{id(stack) % 10_000}-",
            "speed_factor": 600,
        },
        "vehicles": {"battery_capacity": {"kind": "uniform", "low": 40, "high": 80}},
        "scenario": {
            "seed": 7,
            "mean_arrival_interval": 1800,
            "dwell_time": {"kind": "uniform", "low": 600, "high": 1200},
            "connect_rate": 20,
        }
        | scenario,
    }


async def _fleet(stack: Stack, headers: dict[str, str], fleet_id: str) -> dict[str, Any]:
    answer = await stack.public.get(f"/twin/fleet/{fleet_id}", headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json()


async def _csms_json(csms: RunningCsms, path: str) -> Any:
    answer = await csms.api.get(path)
    assert answer.status_code == 200, answer.text
    return answer.json()


async def test_a_fleet_counts_what_the_csms_recorded(stack: Stack) -> None:
    headers = await stack.account()
    created = await stack.public.post(
        "/twin/fleet/", headers=headers, json=fleet_body(stack), timeout=60
    )
    assert created.status_code == 200, created.text
    fleet = created.json()
    assert fleet["counts"]["charge_points"] == 24

    running = await eventually(
        lambda: _fleet(stack, headers, fleet["id"]),
        lambda f: f["counts"]["sessions_started"] >= 10 and f["counts"]["sessions_ended"] >= 3,
        timeout=60,
    )
    assert running["status"] == "running"
    assert running["counts"]["booted"] == 24
    assert running["counts"]["connected"] == 24

    stopped = await stack.public.post(
        f"/twin/fleet/{fleet['id']}/stop", headers=headers, params=STOP, timeout=120
    )
    assert stopped.status_code == 200, stopped.text
    assert stopped.json()["status"] == "stopped"
    counts = stopped.json()["counts"]

    prefix = fleet_body(stack)["charge_points"]["identity_prefix"]
    charge_points = await _csms_json(stack.csms_v16, "/api/charge-points")
    ours = [cp for cp in charge_points["data"] if cp["id"].startswith(prefix)]
    assert len(ours) == 24
    assert sum(1 for cp in ours if cp["boot_status"] == "Accepted") == counts["booted"]
    assert not any(cp["connected"] for cp in ours)
    transactions = await _csms_json(stack.csms_v16, "/api/transactions")
    mine = [tx for tx in transactions["data"] if tx["charge_point_id"].startswith(prefix)]
    assert len(mine) == counts["sessions_started"], counts
    open_ones = [tx for tx in mine if tx["stopped_at"] is None]
    assert not open_ones, (open_ones, counts)
    assert counts["sessions_ended"] == counts["sessions_started"]
    assert counts["messages"]["StartTransaction"]["sent"] == len(mine)
    # At least once: a twin whose connection dropped sends an unanswered stop again.
    assert counts["messages"]["StopTransaction"]["sent"] >= len(mine)
    meter_values = sum(tx["meter_value_count"] for tx in mine)
    assert meter_values > 0
    assert counts["messages"]["MeterValues"]["sent"] == meter_values
    assert counts["latency"]["BootNotification"]["count"] == 24
    assert counts["latency"]["StartTransaction"]["p99_ms"] is not None


@pytest.fixture
async def embedded(settings: Settings, engine: Engine) -> AsyncIterator[Stack]:
    """The embedded stack only: what these tests check does not depend on where twins run."""
    async with running_stack(settings, engine) as running:
        yield running


async def _create(stack: Stack, headers: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
    created = await stack.public.post("/twin/fleet/", headers=headers, json=body, timeout=60)
    assert created.status_code == 200, created.text
    return created.json()


async def _stop(stack: Stack, headers: dict[str, str], fleet_id: str) -> dict[str, Any]:
    stopped = await stack.public.post(
        f"/twin/fleet/{fleet_id}/stop", headers=headers, params=STOP, timeout=120
    )
    assert stopped.status_code == 200, stopped.text
    assert stopped.json()["status"] == "stopped"
    return stopped.json()


async def test_a_quota_too_small_refuses_the_whole_fleet(embedded: Stack) -> None:
    stack = embedded
    headers = await stack.account()
    await stack.charge_point(headers)
    body = fleet_body(stack, count=100)  # with the one above: 101 of the default 100
    refused = await stack.public.post("/twin/fleet/", headers=headers, json=body)
    assert refused.status_code == 403, refused.text
    assert "100 charge points" in refused.json()["detail"]
    assert "nothing was created" in refused.json()["detail"]
    charge_points = await stack.public.get("/twin/charge-point/", headers=headers)
    assert charge_points.json()["count"] == 1
    vehicles = await stack.public.get("/twin/vehicle/", headers=headers)
    assert vehicles.json()["count"] == 0
    assert (await stack.public.get("/twin/fleet/", headers=headers)).json() == []

    # Vehicles count too: 2 connectors each makes 100 vehicles for 50 charge points.
    await stack.vehicle(headers)
    body = fleet_body(stack, count=50)
    body["charge_points"]["connectors_per_evse"] = 2
    refused = await stack.public.post("/twin/fleet/", headers=headers, json=body)
    assert refused.status_code == 403, refused.text
    assert "100 vehicles" in refused.json()["detail"]
    assert (await stack.public.get("/twin/charge-point/", headers=headers)).json()["count"] == 1


async def test_connections_are_paced(embedded: Stack) -> None:
    stack = embedded
    headers = await stack.account()
    body = fleet_body(stack, count=30, connect_rate=5, mean_arrival_interval=10**6)
    fleet = await _create(stack, headers, body)
    await eventually(
        lambda: _fleet(stack, headers, fleet["id"]),
        lambda f: f["status"] == "running",
        timeout=30,
    )
    prefix = body["charge_points"]["identity_prefix"]
    charge_points = await _csms_json(stack.csms_v16, "/api/charge-points")
    times = sorted(
        datetime.fromisoformat(cp["connected_at"])
        for cp in charge_points["data"]
        if cp["id"].startswith(prefix)
    )
    assert len(times) == 30
    # The rate as the CSMS saw it: the slope of connections over time (least squares, so
    # that one connect a busy database held back a little does not decide it), after the
    # first, which connects alone.
    seconds = [(time - times[1]).total_seconds() for time in times[1:]]
    rate = statistics.linear_regression(seconds, list(range(len(seconds)))).slope
    begun = (await _fleet(stack, headers, fleet["id"]))["counts"]["connect_rate"]
    assert rate == pytest.approx(5, rel=0.1), f"connects begun {begun}/s"
    stopped = await _stop(stack, headers, fleet["id"])
    assert stopped["counts"]["connect_rate"] == pytest.approx(5, rel=0.1)
    assert stopped["counts"]["booted"] == 30


def _by_bay(arrivals: list[dict[str, Any]]) -> dict[tuple[int, int], list[tuple[Any, ...]]]:
    bays: dict[tuple[int, int], list[tuple[Any, ...]]] = {}
    for arrival in arrivals:
        key = (arrival["charge_point"], arrival["connector"])
        bays.setdefault(key, []).append(
            (arrival["at"], arrival["kind"], arrival["start_soc"], arrival["dwell_time"])
        )
    return bays


async def test_the_same_seed_draws_the_same_arrivals(embedded: Stack) -> None:
    stack = embedded
    headers = await stack.account()
    runs = []
    for number, seed in enumerate((11, 11, 12)):
        body = fleet_body(stack, count=8, seed=seed, mean_arrival_interval=600, rejected_share=0.3)
        body["charge_points"]["identity_prefix"] = f"SEED{number}-"
        fleet = await _create(stack, headers, body)
        await eventually(
            lambda fleet=fleet: _fleet(stack, headers, fleet["id"]),
            lambda f: f["counts"]["arrivals"] >= 16,
            timeout=60,
        )
        await _stop(stack, headers, fleet["id"])
        summary = await stack.public.get(f"/twin/fleet/{fleet['id']}/summary", headers=headers)
        assert summary.status_code == 200, summary.text
        runs.append(_by_bay(summary.json()["arrivals"]))

    first, again, other = runs
    for bay in first.keys() & again.keys():
        shorter = min(len(first[bay]), len(again[bay]))
        assert first[bay][:shorter] == again[bay][:shorter], bay
    assert sum(len(a) for a in first.values()) >= 16
    assert any(other.get(bay, [])[:1] != first[bay][:1] for bay in first), (
        "another seed draws other arrivals"
    )


async def test_a_mixed_fleet_with_rejected_id_tags(embedded: Stack) -> None:
    stack = embedded
    headers = await stack.account()
    body = fleet_body(
        stack,
        count=12,
        mean_arrival_interval=None,
        # No arrivals in the first simulated hour (6 real s): time to set the allow lists.
        arrivals_per_hour=[0] + [6] * 23,
        dwell_time=300,
        rejected_share=0.4,
    )
    body["charge_points"]["protocol"] = {"ocpp1.6": 0.5, "ocpp2.0.1": 0.5}
    body["charge_points"]["csms_url_v201"] = stack.csms_v201.ws_url
    fleet = await _create(stack, headers, body)
    vehicles = (await stack.public.get("/twin/vehicle/", headers=headers)).json()["data"]
    allowed = {"authorization": "allow_list", "allowed_id_tags": [v["id_tag"] for v in vehicles]}
    for csms in (stack.csms_v16, stack.csms_v201):
        assert (await csms.api.put("/api/settings", json=allowed)).status_code == 200

    await eventually(
        lambda: _fleet(stack, headers, fleet["id"]),
        lambda f: f["counts"]["sessions_rejected"] >= 3 and f["counts"]["sessions_ended"] >= 4,
        timeout=90,
    )
    counts = (await _stop(stack, headers, fleet["id"]))["counts"]
    assert counts["booted"] == 12
    assert counts["errors"] == {}, "every arrival went as drawn"
    summary = (await stack.public.get(f"/twin/fleet/{fleet['id']}/summary", headers=headers)).json()
    kinds = [arrival["kind"] for arrival in summary["arrivals"]]
    assert kinds.count("rejected") == counts["sessions_rejected"]
    assert kinds.count("local") == counts["sessions_started"]
    assert all(arrival["at"] >= 3600 for arrival in summary["arrivals"])

    prefix = body["charge_points"]["identity_prefix"]
    started = 0
    for csms in (stack.csms_v16, stack.csms_v201):
        transactions = await _csms_json(csms, "/api/transactions")
        mine = [tx for tx in transactions["data"] if tx["charge_point_id"].startswith(prefix)]
        assert mine, "both protocols ran sessions"
        assert all(tx["stopped_at"] is not None for tx in mine)
        started += len(mine)
    assert started == counts["sessions_started"] == counts["sessions_ended"]
    assert counts["messages"]["Authorize"]["sent"] >= counts["sessions_rejected"]
    assert counts["latency"]["TransactionEvent"]["count"] > 0


async def test_latency_csv_and_delete(embedded: Stack) -> None:
    stack = embedded
    headers = await stack.account()
    body = fleet_body(stack, count=6, mean_arrival_interval=300, duration_seconds=3)
    fleet = await _create(stack, headers, body)
    stopped = await eventually(
        lambda: _fleet(stack, headers, fleet["id"]),
        lambda f: f["status"] == "stopped",
        timeout=60,
    )
    assert stopped["counts"]["connected"] == 0
    assert stopped["stopped_at"] is not None

    csv_answer = await stack.public.get(f"/twin/fleet/{fleet['id']}/latency.csv", headers=headers)
    assert csv_answer.status_code == 200
    assert csv_answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(csv_answer.text)))
    boots = [row for row in rows if row["action"] == "BootNotification"]
    assert sum(int(row["count"]) for row in boots) == 6
    assert boots[-1]["le_ms"] == ""

    stranger = await stack.account()
    for method, path in (
        ("GET", ""),
        ("GET", "/summary"),
        ("POST", "/stop"),
        ("DELETE", ""),
    ):
        answer = await stack.public.request(
            method, f"/twin/fleet/{fleet['id']}{path}", headers=stranger
        )
        assert answer.status_code == 404, (method, path, answer.text)

    deleted = await stack.public.delete(f"/twin/fleet/{fleet['id']}", headers=headers)
    assert deleted.status_code == 204, deleted.text
    assert (await stack.public.get("/twin/charge-point/", headers=headers)).json()["count"] == 0
    assert (await stack.public.get("/twin/vehicle/", headers=headers)).json()["count"] == 0
    gone = await stack.public.get(f"/twin/fleet/{fleet['id']}", headers=headers)
    assert gone.status_code == 404


async def test_a_fleet_without_message_log_runs_and_keeps_no_frames(embedded: Stack) -> None:
    stack = embedded
    headers = await stack.account()
    body = fleet_body(stack, count=6, mean_arrival_interval=300, duration_seconds=4)
    body["charge_points"]["message_log"] = False
    fleet = await _create(stack, headers, body)
    stopped = await eventually(
        lambda: _fleet(stack, headers, fleet["id"]),
        lambda f: f["status"] == "stopped",
        timeout=60,
    )
    counts = stopped["counts"]
    assert (counts["booted"], counts["connected"]) == (6, 0)
    assert counts["sessions_started"] > 0
    assert counts["sessions_ended"] == counts["sessions_started"]
    assert (counts["messages"], counts["latency"], counts["errors"]) == ({}, {}, {})
    charge_points = await stack.public.get("/twin/charge-point/", headers=headers)
    for charge_point in charge_points.json()["data"]:
        assert charge_point["message_log"] is False
        log = await stack.public.get(
            f"/twin/charge-point/{charge_point['id']}/message-log", headers=headers
        )
        assert log.json()["count"] == 0
    prefix = body["charge_points"]["identity_prefix"]
    transactions = await _csms_json(stack.csms_v16, "/api/transactions")
    mine = [tx for tx in transactions["data"] if tx["charge_point_id"].startswith(prefix)]
    assert len(mine) == counts["sessions_started"]


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"charge_points": {"csms_url": "ws://csms/{cid}/ocpp"}}, "{cid} may only end"),
        ({"charge_points": {"identity_prefix": "has space"}}, "identity_prefix"),
        ({"charge_points": {"protocol": {"ocpp1.6": 0}}}, "must not all be zero"),
        ({"scenario": {"arrivals_per_hour": [1, 2]}}, "at least 24 items"),
        ({"scenario": {"dwell_time": 60, "target_soc": 80}}, "not both"),
        ({"scenario": {"rejected_share": 1.5}}, "rejected_share"),
        ({"vehicles": {"start_soc": {"kind": "uniform", "low": 50, "high": 120}}}, "0..100"),
        ({"vehicles": {"battery_capacity": {"kind": "gamma"}}}, "battery_capacity"),
        ({"scenario": {"seeed": 1}}, "seeed"),
    ],
)
def test_bad_fleets_are_refused_saying_why(
    public_client: TestClient, private_client: TestClient, change: dict[str, Any], says: str
) -> None:
    headers = create_account(private_client, public_client).headers
    body: dict[str, Any] = {"charge_points": {"count": 2, "csms_url": "ws://csms:9000"}}
    for part, values in change.items():
        body[part] = body.get(part, {}) | values
    answer = public_client.post("/twin/fleet/", headers=headers, json=body)
    assert answer.status_code == 422, answer.text
    assert says in answer.text


async def _remote_starter(csms: RunningCsms, prefix: str) -> None:
    """What a driver's app does through the CSMS: start each vehicle that plugs in."""
    started: set[tuple[str, int, str]] = set()
    while True:
        for charge_point in (await _csms_json(csms, "/api/charge-points"))["data"]:
            if not charge_point["id"].startswith(prefix):
                continue
            for connector in charge_point["connectors"]:
                key = (charge_point["id"], connector["connector_id"], connector["received_at"])
                if connector["status"] != "Preparing" or key in started:
                    continue
                started.add(key)
                await csms.api.post(
                    f"/api/charge-points/{charge_point['id']}/calls/RemoteStartTransaction",
                    json={"connectorId": connector["connector_id"], "idTag": "APP-USER"},
                )
        await asyncio.sleep(0.1)


async def test_remote_starts_target_soc_and_faults(embedded: Stack) -> None:
    stack = embedded
    headers = await stack.account()
    body = fleet_body(
        stack,
        count=8,
        mean_arrival_interval=900,
        dwell_time=None,
        target_soc={"kind": "uniform", "low": 30, "high": 40},
        remote_start_share=0.5,
        remote_start_wait=3000,  # simulated: 5 real seconds
        faults_per_hour=1,
        fault_duration=120,
    )
    body["vehicles"]["start_soc"] = 20
    prefix = body["charge_points"]["identity_prefix"]
    starter = asyncio.create_task(_remote_starter(stack.csms_v16, prefix))
    try:
        fleet = await _create(stack, headers, body)
        await eventually(
            lambda: _fleet(stack, headers, fleet["id"]),
            lambda f: f["counts"]["sessions_ended"] >= 6 and f["counts"]["faults_injected"] >= 1,
            timeout=90,
        )
    finally:
        starter.cancel()
    # The app goes quiet before the fleet stops: a remote start that reaches a twin while
    # its driver leaves would start a session the fleet does not count.
    await asyncio.sleep(1)
    counts = (await _stop(stack, headers, fleet["id"]))["counts"]
    assert counts["errors"] == {}
    summary = (await stack.public.get(f"/twin/fleet/{fleet['id']}/summary", headers=headers)).json()
    kinds = [arrival["kind"] for arrival in summary["arrivals"]]
    assert kinds.count("remote") > 0
    transactions = await _csms_json(stack.csms_v16, "/api/transactions")
    mine = [tx for tx in transactions["data"] if tx["charge_point_id"].startswith(prefix)]
    assert len(mine) == counts["sessions_started"]
    remote = sum(1 for tx in mine if tx["id_tag"] == "APP-USER")
    assert remote > 0
    assert counts["messages"]["RemoteStartTransaction"]["received"] >= remote
    # Every arrival started, but a remote one still waiting for its start when the fleet
    # stopped.
    assert len(kinds) - 1 <= counts["sessions_started"] <= len(kinds)
    assert all(tx["stopped_at"] is not None for tx in mine)
    # Stopped at the target: from 20 % to 30-40 % of the battery, not a full charge.
    for tx in mine:
        if tx["stop_reason"] == "Local" and tx["meter_stop"] is not None:
            assert tx["meter_stop"] - tx["meter_start"] < 0.5 * 80_000

    faulted = 0
    for charge_point in (await _csms_json(stack.csms_v16, "/api/charge-points"))["data"]:
        if charge_point["id"].startswith(prefix):
            messages = await stack.csms_v16.messages(charge_point["id"], limit=1000)
            faulted += sum(
                1
                for message in messages["data"]
                if message["action"] == "StatusNotification"
                and message["message_type"] == "CALL"
                and message["payload"]["status"] == "Faulted"
            )
    assert faulted == counts["faults_injected"]


async def test_another_api_process_stops_the_fleet_through_its_row(
    embedded: Stack, settings: Settings, engine: Engine
) -> None:
    """Distributed mode may run several public API processes: any of them stops a fleet."""
    stack = embedded
    headers = await stack.account()
    body = fleet_body(stack, count=6, mean_arrival_interval=300)
    fleet = await _create(stack, headers, body)
    await eventually(
        lambda: _fleet(stack, headers, fleet["id"]),
        lambda f: f["counts"]["sessions_started"] >= 2,
        timeout=60,
    )
    other = create_public_app(settings, engine)
    async with (
        other.router.lifespan_context(other),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=other), base_url="http://b") as b,
    ):
        read = await b.get(f"/twin/fleet/{fleet['id']}", headers=headers)
        assert read.status_code == 200, read.text
        assert read.json()["status"] == "running"
        stopped = await b.post(
            f"/twin/fleet/{fleet['id']}/stop", headers=headers, params=STOP, timeout=120
        )
    assert stopped.status_code == 200, stopped.text
    assert stopped.json()["status"] == "stopped"
    prefix = body["charge_points"]["identity_prefix"]
    transactions = await _csms_json(stack.csms_v16, "/api/transactions")
    mine = [tx for tx in transactions["data"] if tx["charge_point_id"].startswith(prefix)]
    assert len(mine) == stopped.json()["counts"]["sessions_started"]
    assert all(tx["stopped_at"] is not None for tx in mine)
