"""Fleets against the bundled CSMSs: what the fleet counts is what the CSMS recorded."""

from __future__ import annotations

from typing import Any

from tests.csms.server import RunningCsms
from tests.stack import Stack, eventually


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
        f"/twin/fleet/{fleet['id']}/stop", headers=headers, timeout=120
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
    assert len(mine) == counts["sessions_started"]
    open_ones = [tx for tx in mine if tx["stopped_at"] is None]
    assert not open_ones, (open_ones, counts)
    assert counts["sessions_ended"] == counts["sessions_started"]
    assert counts["messages"]["StartTransaction"]["sent"] == len(mine)
    assert counts["latency"]["BootNotification"]["count"] == 24
    assert counts["latency"]["StartTransaction"]["p99_ms"] is not None
