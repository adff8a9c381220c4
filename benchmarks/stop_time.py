"""How long `elu-twins up` takes to stop (SIGTERM) with many twins connected and charging.

Starts `elu-twins up` in a fresh data folder on free ports, creates ``--twins`` charge
points connected to the bundled 1.6 CSMS (half of them charging a vehicle), sends
SIGTERM and times until the process has exited, then checks that every twin's state
was saved for the next start:

    python benchmarks/stop_time.py --twins 2000

writes benchmarks/results/stop_time-<twins>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parents[1]))
from tests.embedded import embedded_env, free_port

RESULTS = Path(__file__).parent / "results"


async def fleet(public: str, headers: dict[str, str], csms: str, twins: int) -> None:
    async with httpx.AsyncClient(base_url=public, headers=headers, timeout=120) as client:
        charge_points = []
        for start in range(0, twins, 500):
            created = await client.post(
                "/twin/charge-point/bulk",
                json=[{"name": f"cp{n}", "csms_url": csms} for n in range(start, start + 500)][
                    : twins - start
                ],
            )
            created.raise_for_status()
            charge_points += created.json()
        vehicles = (
            await client.post(
                "/twin/vehicle/bulk",
                json=[{"name": f"car{n}", "battery_capacity": 80} for n in range(twins // 2)],
            )
        ).json()
        limit = asyncio.Semaphore(50)

        async def connect(index: int, charge_point: dict) -> None:  # type: ignore[type-arg]
            async with limit:
                answer = await client.post(
                    "/twin/charge-point/action/connect-charger",
                    json={"charge_point_id": charge_point["id"]},
                )
                answer.raise_for_status()
                if index < len(vehicles):
                    connector = charge_point["evses"][0]["connectors"][0]["id"]
                    started = await client.post(
                        "/twin/charge-point/action/start-transaction",
                        json={"connector_id": connector, "vehicle_id": vehicles[index]["id"]},
                    )
                    started.raise_for_status()

        await asyncio.gather(*(connect(i, cp) for i, cp in enumerate(charge_points)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--twins", type=int, default=1000)
    arguments = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="elu-stop-"))
    ports = {name: free_port() for name in ("PUBLIC_API", "PRIVATE_API", "CSMS_V16", "CSMS_V201")}
    env = (
        os.environ
        | embedded_env(data_dir, ports)
        | {
            "ELU_DEFAULT_MAX_CHARGE_POINTS": str(arguments.twins),
            "ELU_DEFAULT_MAX_VEHICLES": str(arguments.twins),
            # One user runs every twin: each 1-connector twin at speed 1 counts 2 a second.
            "ELU_MAX_USER_MESSAGES_PER_SECOND": str(max(2000, 2 * arguments.twins)),
        }
    )
    log = (data_dir / "up.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "elu_twins", "up"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    public = f"http://127.0.0.1:{ports['PUBLIC_API']}"
    private = f"http://127.0.0.1:{ports['PRIVATE_API']}"
    for _ in range(200):
        try:
            httpx.get(f"{public}/openapi.json", timeout=1).raise_for_status()
            break
        except httpx.HTTPError:
            time.sleep(0.2)
    operator = {"X-Operator-Key": (data_dir / "operator_key").read_text().strip()}
    httpx.post(
        f"{private}/user/", headers=operator, json={"username": "b", "password": "bench-password"}
    ).raise_for_status()
    token = httpx.post(
        f"{public}/token", data={"username": "b", "password": "bench-password"}
    ).json()["access_token"]
    started = time.monotonic()
    asyncio.run(
        fleet(
            public,
            {"Authorization": f"Bearer {token}"},
            f"ws://127.0.0.1:{ports['CSMS_V16']}",
            arguments.twins,
        )
    )
    connected_in = time.monotonic() - started
    time.sleep(5)
    asked = time.monotonic()
    process.send_signal(signal.SIGTERM)
    process.wait(300)
    stopped_in = time.monotonic() - asked
    database = sqlite3.connect(data_dir / "elu.sqlite3")
    saved = database.execute("select count(*) from twin_states").fetchone()[0]
    result = {
        "twins": arguments.twins,
        "charging": arguments.twins // 2,
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": f"{os.cpu_count()} cores",
        "connect_and_start_seconds": round(connected_in, 1),
        "stop_seconds": round(stopped_in, 2),
        "exit_code": process.returncode,
        "states_saved": saved,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"stop_time-{arguments.twins}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
