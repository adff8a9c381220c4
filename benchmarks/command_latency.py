"""How long an action takes end to end through a running ELU Twins, embedded or distributed.

Against a running instance (`elu-twins up` or `elu-twins up --distributed`), as a
user: it creates a user (operator key from ELU_DATA_DIR), a charge point that
stays offline and one connected to the bundled 1.6 CSMS, then times

- ``plug-in`` / ``unplug`` on the offline twin: API → command → the twin's host →
  stored outcome → API answer, with no CSMS in the loop (in distributed mode, the
  trip through Redis and Celery to the worker and back);
- ``data-transfer`` on the connected twin: the same plus a round trip to the CSMS.

    python benchmarks/command_latency.py --label distributed --count 300

writes benchmarks/results/command_latency-<label>.json and prints p50/p90/p99 in ms.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from fleet import percentiles_ms  # benchmarks/ is this script's folder

RESULTS = Path(__file__).parent / "results"


def timed(client: httpx.Client, path: str, body: dict[str, Any]) -> float:
    started = time.perf_counter()
    answer = client.post(path, json=body)
    took = time.perf_counter() - started
    answer.raise_for_status()
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label", required=True, help="embedded or distributed (file name)")
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--public", default="http://127.0.0.1:8000")
    parser.add_argument("--private", default="http://127.0.0.1:8800")
    parser.add_argument("--csms", default="ws://127.0.0.1:9000")
    arguments = parser.parse_args()

    data_dir = Path(os.environ.get("ELU_DATA_DIR", ".elu"))
    operator = {"X-Operator-Key": (data_dir / "operator_key").read_text().strip()}
    username = f"bench-{uuid.uuid4().hex[:8]}"
    httpx.post(
        f"{arguments.private}/user/",
        headers=operator,
        json={"username": username, "password": "benchmark-password"},
    ).raise_for_status()
    token = httpx.post(
        f"{arguments.public}/token", data={"username": username, "password": "benchmark-password"}
    ).json()["access_token"]
    client = httpx.Client(
        base_url=arguments.public, headers={"Authorization": f"Bearer {token}"}, timeout=60
    )
    vehicle = client.post("/twin/vehicle/", json={"name": "car", "battery_capacity": 60}).json()
    offline, online = client.post(
        "/twin/charge-point/bulk",
        json=[{"name": name, "csms_url": arguments.csms} for name in ("offline", "online")],
    ).json()
    client.post(
        "/twin/charge-point/action/connect-charger", json={"charge_point_id": online["id"]}
    ).raise_for_status()
    connector = offline["evses"][0]["connectors"][0]["id"]

    offline_actions: list[float] = []
    csms_round_trips: list[float] = []
    for _ in range(arguments.count):
        offline_actions.append(
            timed(
                client,
                "/twin/charge-point/action/plug-in",
                {"connector_id": connector, "vehicle_id": vehicle["id"]},
            )
        )
        offline_actions.append(
            timed(client, "/twin/charge-point/action/unplug", {"connector_id": connector})
        )
        csms_round_trips.append(
            timed(
                client,
                "/twin/charge-point/action/data-transfer",
                {"charge_point_id": online["id"], "vendor_id": "benchmark"},
            )
        )
    result = {
        "label": arguments.label,
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": f"{os.cpu_count()} cores",
        "offline_action": percentiles_ms(offline_actions),
        "data_transfer_via_csms": percentiles_ms(csms_round_trips),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"command_latency-{arguments.label}.json").write_text(
        json.dumps(result, indent=2) + "\n"
    )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
