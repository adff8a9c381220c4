"""Fleet start (issue 14): N twins created, connected and charging through the bulk actions.

Against `elu-twins up` (embedded, SQLite in a fresh data folder or ``--database-url``)
and the counting CSMS, each in its own process (started as benchmarks/fleet.py starts
them), through the public API as a user would:

1. ``create``: ``POST /twin/charge-point/bulk`` and ``/twin/vehicle/bulk``, 1,000 a
   request, for N twins and ``--samples`` more (the fleet.py charge point: one 22 kW
   AC connector, MeterValues every 10 s, speed 1);
2. ``connect``: ``POST .../action/connect-charger/bulk`` for all of them (``--rate``
   connections per second; default all at once), 1,000 items a request,
   ``--concurrency`` requests in flight;
3. ``start``: ``POST .../action/start-transaction/bulk`` for the N (the samples stay
   connected and idle); the fleet is charging when the last answer is in: each item
   answers once the CSMS has accepted its StartTransaction;
4. with the N charging: ``--samples`` single ``start-transaction`` requests, one after
   the other, on the idle twins (latency p50 / p99), then simple reads: ``GET`` one
   charge point and one vehicle, ``--reads`` sequential ones (latency) and for
   ``--read-seconds`` with ``--read-concurrency`` in flight (requests per second).

``--profile`` records the host with py-spy (collapsed stacks, for
benchmarks/profile_shares.py) during connect + start, during the single starts, and during
the concurrent reads run once more after they were measured:
results/profile-{start,api,reads}-<twins>[-<label>].txt.gz.

    python benchmarks/fleet_start.py --twins 1000
    python benchmarks/fleet_start.py --twins 10000 --profile

writes benchmarks/results/fleet_start-<twins>[-<label>].json and prints it.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import psutil
from fleet import (  # benchmarks/ is this script's folder
    RESULTS,
    Services,
    charge_point_body,
    histogram_delta,
    histogram_percentiles,
    percentiles_ms,
    start_services,
    timed_reads,
)

#: Items per bulk request: the API's limit.
BULK = 1000
ACTIONS = "/twin/charge-point/action"


def progress(what: str, seconds: float) -> None:
    """Each phase's time on stderr as it ends: a long run stopped early still tells."""
    print(f"{time.strftime('%H:%M:%S')} {what}: {seconds:.1f} s", file=sys.stderr, flush=True)


def chunks(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[start : start + size] for start in range(0, len(items), size)]


async def bulk(
    client: httpx.AsyncClient,
    path: str,
    requests: list[Any],
    concurrency: int,
) -> tuple[float, list[Any]]:
    """POST each body to ``path``, ``concurrency`` in flight; seconds, and the answers in order."""
    limit = asyncio.Semaphore(concurrency)

    async def post(body: Any) -> Any:
        async with limit:
            answer = await client.post(path, json=body)
            answer.raise_for_status()
            return answer.json()

    began = time.perf_counter()
    answers = await asyncio.gather(*(post(body) for body in requests))
    return time.perf_counter() - began, list(answers)


def failures(answers: list[dict[str, Any]]) -> dict[str, int]:
    """Failed items of bulk actions, by status and code."""
    counted = Counter(
        f"{item['status_code']} {item['code']}"
        for answer in answers
        for item in answer["data"]
        if not item["ok"]
    )
    return dict(counted)


class Spy:
    """py-spy recording the host's stacks (raw, per thread) until stopped."""

    def __init__(self, pid: int, target: Path) -> None:
        self.target = target
        spy = Path(sys.executable).parent / "py-spy"
        command = [str(spy) if spy.exists() else "py-spy", "record", "--pid", str(pid)]
        # --gil: only the thread holding the GIL is sampled; without it a thread waiting
        # for the GIL counts as busy wherever it waits (benchmarks/README.md).
        self.process = subprocess.Popen(
            [*command, "--gil", "--threads", "--format", "raw", "-o", str(target)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )

    def stop(self) -> str:
        """Stop and gzip the stacks; the file's name (or what went wrong)."""
        self.process.send_signal(signal.SIGINT)
        _, errors = self.process.communicate(timeout=60)
        if not self.target.exists():
            return f"py-spy failed: {errors[-500:]}"
        packed = self.target.parent / f"{self.target.name}.gz"
        packed.write_bytes(gzip.compress(self.target.read_bytes()))
        self.target.unlink()
        return packed.name


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


async def meter_lateness(stats_url: str) -> dict[str, int]:
    """The counting CSMS's histogram of meter lateness so far ({ms: count})."""
    async with httpx.AsyncClient(timeout=60) as client:
        return (await client.get(stats_url)).json()["meter_lateness_ms"]


async def read_throughput(
    public: str,
    headers: dict[str, str],
    path: str,
    seconds: float,
    concurrency: int,
    host: psutil.Process,
    stats_url: str,
) -> dict[str, Any]:
    """GET ``path`` for ``seconds`` with ``concurrency`` requests in flight, and what each
    costs the host in CPU: its CPU in the window minus what it spent in as long a window
    just before without requests (the fleet's own work), per request. One core serves
    1,000 / that many requests per second, whatever else the machine runs.

    ``meter_lateness``: the fleet's meter values as the CSMS saw them arrive in the quiet
    window and in the window of the reads (the API shares the twins' event loop)."""
    stats = [await meter_lateness(stats_url)]
    quiet = cpu_seconds(host)
    await asyncio.sleep(seconds)
    background = cpu_seconds(host) - quiet
    stats.append(await meter_lateness(stats_url))
    took: list[float] = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=public, headers=headers, timeout=60, limits=limits
    ) as client:
        deadline = time.perf_counter() + seconds

        async def reader() -> None:
            while time.perf_counter() < deadline:
                asked = time.perf_counter()
                (await client.get(path)).raise_for_status()
                took.append(time.perf_counter() - asked)

        began, cpu_before = time.perf_counter(), cpu_seconds(host)
        await asyncio.gather(*(reader() for _ in range(concurrency)))
        elapsed, cpu = time.perf_counter() - began, cpu_seconds(host) - cpu_before
    stats.append(await meter_lateness(stats_url))
    per_request_ms = (cpu - background * elapsed / seconds) / len(took) * 1000
    return percentiles_ms(took) | {
        "requests_per_second": round(len(took) / elapsed, 1),
        "concurrency": concurrency,
        "host_cpu_ms_per_request": round(per_request_ms, 3),
        "host_cpu_share_quiet": round(background / seconds, 3),
        "host_cpu_share_reads": round(cpu / elapsed, 3),
        "requests_per_second_per_core": round(1000 / per_request_ms)
        if per_request_ms > 0
        else None,
        "meter_lateness": {
            "quiet": histogram_percentiles(histogram_delta(stats[1], stats[0])),
            "reads": histogram_percentiles(histogram_delta(stats[2], stats[1])),
        },
    }


async def run(services: Services, arguments: argparse.Namespace) -> dict[str, Any]:
    twins, samples = arguments.twins, arguments.samples
    suffix = f"-{arguments.label}" if arguments.label else ""
    headers = services.login()
    host_pid = services.host_process.pid
    limits = httpx.Limits(max_connections=arguments.concurrency + 2)
    result: dict[str, Any] = {}
    profiles: dict[str, str] = {}
    async with httpx.AsyncClient(
        base_url=services.public, headers=headers, timeout=900, limits=limits
    ) as client:
        numbers = list(range(twins + samples))
        began = time.perf_counter()
        charge_points: list[dict[str, Any]] = []
        vehicles: list[dict[str, Any]] = []
        for part in chunks(numbers, BULK):
            bodies = [charge_point_body(n, "ocpp1.6", services.csms_url) for n in part]
            charge_points += (
                (await client.post("/twin/charge-point/bulk", json=bodies))
                .raise_for_status()
                .json()
            )
            cars = [
                {"name": f"car{n}", "battery_capacity": 100, "maximum_ac_charging_rate": 22}
                for n in part
            ]
            vehicles += (
                (await client.post("/twin/vehicle/bulk", json=cars)).raise_for_status().json()
            )
        result["create_seconds"] = round(time.perf_counter() - began, 2)
        progress(f"created {len(numbers)}", result["create_seconds"])

        spy = (
            Spy(host_pid, arguments.results / f"profile-start-{twins}{suffix}.txt")
            if arguments.profile
            else None
        )
        connect_seconds, connected = await bulk(
            client,
            f"{ACTIONS}/connect-charger/bulk",
            [
                {"items": [{"charge_point_id": cp["id"]} for cp in part], "rate": arguments.rate}
                for part in chunks(charge_points, BULK)
            ],
            arguments.concurrency,
        )
        progress(f"connected {sum(a['succeeded'] for a in connected)}", connect_seconds)
        start_seconds, started = await bulk(
            client,
            f"{ACTIONS}/start-transaction/bulk",
            [
                {
                    "items": [
                        {
                            "connector_id": cp["evses"][0]["connectors"][0]["id"],
                            "vehicle_id": car["id"],
                        }
                        for cp, car in part
                    ],
                    "rate": arguments.rate,
                }
                for part in chunks(
                    list(zip(charge_points[:twins], vehicles[:twins], strict=True)), BULK
                )
            ],
            arguments.concurrency,
        )
        progress(f"started {sum(a['succeeded'] for a in started)}", start_seconds)
        if spy is not None:
            profiles["connect_and_start"] = spy.stop()
        stats = (await client.get(services.stats_url)).json()
        result |= {
            "connect_seconds": round(connect_seconds, 2),
            "start_seconds": round(start_seconds, 2),
            "connect_and_start_seconds": round(connect_seconds + start_seconds, 2),
            "create_connect_and_start_seconds": round(time.perf_counter() - began, 2),
            "connected": sum(answer["succeeded"] for answer in connected),
            "charging": sum(answer["succeeded"] for answer in started),
            "connect_failures": failures(connected),
            "start_failures": failures(started),
            "csms_connected": stats["connected"],
            "csms_boots": stats["calls"].get("BootNotification", 0),
            "csms_start_transactions": stats["calls"].get("StartTransaction", 0),
        }

        spy = (
            Spy(host_pid, arguments.results / f"profile-api-{twins}{suffix}.txt")
            if arguments.profile
            else None
        )
        latency: list[float] = []
        start_errors: Counter[int] = Counter()
        for cp, car in zip(charge_points[twins:], vehicles[twins:], strict=True):
            asked = time.perf_counter()
            answer = await client.post(
                f"{ACTIONS}/start-transaction",
                json={
                    "connector_id": cp["evses"][0]["connectors"][0]["id"],
                    "vehicle_id": car["id"],
                },
            )
            latency.append(time.perf_counter() - asked)
            if answer.status_code != 200:
                start_errors[answer.status_code] += 1
        result["start_transaction_latency"] = percentiles_ms(latency) | {
            "errors": dict(start_errors),
            "charging_meanwhile": result["charging"],
        }
    if spy is not None:
        profiles["api"] = spy.stop()
    paths = {
        "get_charge_point": f"/twin/charge-point/{charge_points[0]['id']}",
        "get_vehicle": f"/twin/vehicle/{vehicles[0]['id']}",
    }
    with httpx.Client(base_url=services.public, headers=headers, timeout=60) as sync_client:
        result["sequential_reads"] = {
            name: timed_reads(sync_client, path, arguments.reads) for name, path in paths.items()
        }
    result["concurrent_reads"] = {
        name: await read_throughput(
            services.public,
            headers,
            path,
            arguments.read_seconds,
            arguments.read_concurrency,
            psutil.Process(host_pid),
            services.stats_url,
        )
        for name, path in paths.items()
    }
    if arguments.profile:
        # The reads again, profiled: py-spy pauses the host to sample it, so the CPU per
        # request above is measured without it.
        spy = Spy(host_pid, arguments.results / f"profile-reads-{twins}{suffix}.txt")
        for path in paths.values():
            await read_throughput(
                services.public,
                headers,
                path,
                arguments.read_seconds,
                arguments.read_concurrency,
                psutil.Process(host_pid),
                services.stats_url,
            )
        profiles["reads"] = spy.stop()
    result["profile"] = profiles
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--twins", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=200, help="single starts timed")
    parser.add_argument("--rate", type=float, default=None, help="connections/s; default all")
    parser.add_argument("--concurrency", type=int, default=2, help="bulk requests in flight")
    parser.add_argument("--reads", type=int, default=200, help="sequential GETs of each kind")
    parser.add_argument("--read-seconds", type=float, default=10, help="concurrent GETs, s")
    parser.add_argument("--read-concurrency", type=int, default=8, help="GETs in flight")
    parser.add_argument("--database-url", help="run the host on this database (default SQLite)")
    parser.add_argument("--profile", action="store_true", help="py-spy the host's phases")
    parser.add_argument("--results", type=Path, default=RESULTS, help="folder for the output")
    parser.add_argument("--label", default="", help="appended to the file name: -LABEL")
    arguments = parser.parse_args()
    arguments.results.mkdir(parents=True, exist_ok=True)

    services = start_services(arguments.twins + arguments.samples, arguments.database_url)
    try:
        result = asyncio.run(run(services, arguments))
        host = psutil.Process(services.host_process.pid)
        result["host_rss_mb"] = round(host.memory_info().rss / 2**20, 1)
    finally:
        result_stop = services.stop()
    result = (
        {
            "twins": arguments.twins,
            "samples": arguments.samples,
            "rate": arguments.rate,
            "database": "postgres" if arguments.database_url else "sqlite",
            "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "machine": {
                "cores": os.cpu_count(),
                "python": platform.python_version(),
                "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
            },
        }
        | result
        | {
            "stop_seconds": round(result_stop, 2),
            "host_exit_code": services.host_process.returncode,
        }
    )
    suffix = f"-{arguments.label}" if arguments.label else ""
    (arguments.results / f"fleet_start-{arguments.twins}{suffix}.json").write_text(
        json.dumps(result, indent=2) + "\n"
    )
    print(json.dumps(result, indent=2))
    if result["connect_failures"] or result["start_failures"] or result["host_exit_code"]:
        print(f"kept {services.data_dir} (up.log, database) to look into it", file=sys.stderr)
    else:
        shutil.rmtree(services.data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
