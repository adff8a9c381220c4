"""The fleet benchmark (issue 14): N charging twins in one host process, against a counting CSMS.

The twins' host is one `elu-twins up` process (embedded mode; SQLite in a fresh data
folder, or ``--database-url``) on free ports, with its quotas raised; the CSMS is
benchmarks/counting_csms.py in another process. Through the public API, as a user
would, it creates ``--twins`` charge points (one 22 kW AC EVSE with one cType2
connector, MeterValues every 10 s with Energy.Active.Import.Register,
Power.Active.Import and SoC, Heartbeat at the CSMS's 60 s, speed factor 1) and as many
vehicles, connects each charge point and starts a transaction on it. Once all charge,
it measures a steady-state window of ``--duration`` seconds: messages per second, CPU
seconds per 1,000 messages for the host and for the CSMS, RSS per twin, lateness of
the periodic messages at the CSMS; then times simple reads (GET one charge point / one
vehicle) while the fleet still charges, and stops the host with SIGTERM:

    python benchmarks/fleet.py --twins 1000 --protocol ocpp1.6 --duration 120

writes benchmarks/results/fleet-<protocol>-<twins>.json, appends a Markdown row to
benchmarks/results/fleet.md and prints both. ``--profile 60`` also records the host
with py-spy (an SVG flame graph and collapsed stacks) after the window.
``--message-log off`` creates the charge points with their message log off (no frame
stored or streamed); its files are named ``...-message-log-off``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gzip
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).parents[1]))
from tests.embedded import embedded_env, free_port

RESULTS = Path(__file__).parent / "results"
HERE = Path(__file__).parent
MEASURANDS = "Energy.Active.Import.Register,Power.Active.Import,SoC"
PROTOCOLS = ("ocpp1.6", "ocpp2.0.1")
PASSWORD = "bench-password"
#: The host's garbage collections (benchmarks/gc_probe), in the run's data folder.
GC_LOG = "gc.log"
#: Collections of at least this many ms are listed one by one in the result.
GC_PAUSE_MS = 20
#: Items per bulk action request with ``--bulk`` (the API's limit), and such requests
#: in flight (as benchmarks/fleet_start.py: 2,000 connects at once are what the counting
#: CSMS takes without missing handshakes).
BULK_ITEMS = 1000
BULK_IN_FLIGHT = 2


def meter_configuration(protocol: str, interval: int = 10) -> dict[str, str]:
    """The OCPP configuration of the benchmark's message mix: MEASURANDS every
    ``interval`` s during a session."""
    if protocol == "ocpp1.6":
        return {"MeterValueSampleInterval": str(interval), "MeterValuesSampledData": MEASURANDS}
    return {
        "SampledDataCtrlr/TxUpdatedInterval": str(interval),
        "SampledDataCtrlr/TxUpdatedMeasurands": MEASURANDS,
    }


def host_collections(log: Path, start: float, end: float) -> dict[str, Any]:
    """The host's garbage collections between unix times ``start`` and ``end``, from the
    probe's log: count and milliseconds per generation, and each of GC_PAUSE_MS or more
    as ``[second of the window, generation, ms]``."""
    by_generation: dict[str, dict[str, float]] = {}
    pauses: list[list[float]] = []
    lines = log.read_text().splitlines() if log.exists() else []
    for line in lines:
        at, generation, took_ms, _collected = line.split()
        if not start <= float(at) <= end:
            continue
        total = by_generation.setdefault(generation, {"count": 0, "ms": 0.0})
        total["count"] += 1
        total["ms"] = round(total["ms"] + float(took_ms), 1)
        if float(took_ms) >= GC_PAUSE_MS:
            pauses.append([round(float(at) - start, 1), int(generation), float(took_ms)])
    return {"by_generation": dict(sorted(by_generation.items())), "pauses": pauses}


def percentiles_ms(samples: list[float]) -> dict[str, float | int]:
    """p50 / p90 / p99 / max in milliseconds of durations in seconds."""
    if not samples:
        return {"count": 0}
    ordered = sorted(samples)
    if len(ordered) == 1:
        ordered = ordered * 2
    cut = statistics.quantiles(ordered, n=100, method="inclusive")
    return {
        "p50_ms": round(cut[49] * 1000, 1),
        "p90_ms": round(cut[89] * 1000, 1),
        "p99_ms": round(cut[98] * 1000, 1),
        "max_ms": round(ordered[-1] * 1000, 1),
        "count": len(samples),
    }


def histogram_percentiles(histogram: dict[int, int]) -> dict[str, float | int | None]:
    """p50 / p99 / max of a histogram {milliseconds: count}."""
    total = sum(histogram.values())
    if total == 0:
        return {"count": 0, "p50_ms": None, "p99_ms": None, "max_ms": None}
    answer: dict[str, float | int | None] = {"count": total}
    wanted = [("p50_ms", 0.50 * total), ("p99_ms", 0.99 * total)]
    seen = 0
    for value in sorted(histogram):
        seen += histogram[value]
        while wanted and seen >= wanted[0][1]:
            answer[wanted.pop(0)[0]] = value
    answer["max_ms"] = max(histogram)
    answer["min_ms"] = min(histogram)
    return answer


def histogram_delta(end: dict[str, int], start: dict[str, int]) -> dict[int, int]:
    delta = Counter({int(k): v for k, v in end.items()})
    delta.subtract({int(k): v for k, v in start.items()})
    return {k: v for k, v in delta.items() if v > 0}


class Usage:
    """CPU seconds (user + system, per thread too) and RSS of one process at one moment."""

    def __init__(self, process: psutil.Process) -> None:
        with process.oneshot():
            times = process.cpu_times()
            self.cpu = times.user + times.system
            self.rss = process.memory_info().rss
            self.threads = {t.id: t.user_time + t.system_time for t in process.threads()}
        self.pid = process.pid


def database_cpu(database_url: str | None) -> dict[int, float]:
    """CPU seconds of each local Postgres backend serving the benchmark's database."""
    if not database_url or not database_url.startswith("postgresql"):
        return {}
    name = database_url.rsplit("/", 1)[-1].split("?")[0]
    answer = {}
    for process in psutil.process_iter(["cmdline"]):
        command = " ".join(process.info["cmdline"] or [])
        if command.startswith("postgres:") and f" {name} " in command:
            with contextlib.suppress(psutil.Error):
                times = process.cpu_times()
                answer[process.pid] = times.user + times.system
    return answer


def thread_split(start: Usage, end: Usage) -> dict[str, float]:
    """CPU seconds of the main thread (the event loop) and of all other threads."""
    main = end.threads.get(end.pid, 0.0) - start.threads.get(start.pid, 0.0)
    others = sum(
        cpu - start.threads.get(tid, 0.0) for tid, cpu in end.threads.items() if tid != end.pid
    )
    return {"main_thread": round(main, 2), "other_threads": round(others, 2)}


def wait_for(url: str, process: subprocess.Popen[Any], what: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}")
        try:
            httpx.get(url, timeout=1).raise_for_status()
            return
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@dataclass
class Services:
    """`elu-twins up` (the twins' host, embedded) and the counting CSMS, each its own process."""

    data_dir: Path
    host_process: subprocess.Popen[Any]
    csms_process: subprocess.Popen[Any]
    csms_port: int
    ports: dict[str, int]
    log: IO[str]

    @property
    def stats_url(self) -> str:
        return f"http://127.0.0.1:{self.csms_port}/stats"

    @property
    def csms_url(self) -> str:
        return f"ws://127.0.0.1:{self.csms_port}"

    @property
    def public(self) -> str:
        return f"http://127.0.0.1:{self.ports['PUBLIC_API']}"

    @property
    def private(self) -> str:
        return f"http://127.0.0.1:{self.ports['PRIVATE_API']}"

    def login(self) -> dict[str, str]:
        """A new user's Authorization header."""
        operator = {"X-Operator-Key": (self.data_dir / "operator_key").read_text().strip()}
        httpx.post(
            f"{self.private}/user/", headers=operator, json={"username": "b", "password": PASSWORD}
        ).raise_for_status()
        answer = httpx.post(f"{self.public}/token", data={"username": "b", "password": PASSWORD})
        return {"Authorization": f"Bearer {answer.json()['access_token']}"}

    def stop(self) -> float:
        """SIGTERM to the host (it saves its twins), then to the CSMS; the host's stop time."""
        asked = time.monotonic()
        self.host_process.send_signal(signal.SIGTERM)
        try:
            self.host_process.wait(300)
        except subprocess.TimeoutExpired:
            self.host_process.kill()
        stop_seconds = time.monotonic() - asked
        self.csms_process.send_signal(signal.SIGTERM)
        try:
            self.csms_process.wait(10)
        except subprocess.TimeoutExpired:
            self.csms_process.kill()
        self.log.close()
        return stop_seconds


def start_services(twins: int, database_url: str | None) -> Services:
    """Start the counting CSMS and `elu-twins up` (quotas raised to ``twins``) in a fresh
    data folder on free ports; answers once both answer HTTP."""
    data_dir = Path(tempfile.mkdtemp(prefix="elu-fleet-"))
    csms_port = free_port()
    csms_process = subprocess.Popen(
        [sys.executable, str(HERE / "counting_csms.py"), "--port", str(csms_port)],
        stdout=subprocess.DEVNULL,
        stderr=(data_dir / "csms.log").open("w"),
    )
    ports = {name: free_port() for name in ("PUBLIC_API", "PRIVATE_API", "CSMS_V16", "CSMS_V201")}
    settings = {
        "ELU_DEFAULT_MAX_CHARGE_POINTS": str(twins),
        "ELU_DEFAULT_MAX_VEHICLES": str(twins),
        # One user runs the whole fleet: each 1-connector twin counts 2 messages a second.
        "ELU_MAX_USER_MESSAGES_PER_SECOND": str(max(2000, 2 * twins)),
    }
    if database_url:
        settings["ELU_DATABASE_URL"] = database_url
    log = (data_dir / "up.log").open("w")
    # benchmarks/gc_probe/sitecustomize.py logs the host's garbage collections
    settings["ELU_BENCH_GC_LOG"] = str(data_dir / GC_LOG)
    python_path = [str(HERE / "gc_probe"), *filter(None, [os.environ.get("PYTHONPATH")])]
    settings["PYTHONPATH"] = os.pathsep.join(python_path)
    host_process = subprocess.Popen(
        [sys.executable, "-m", "elu_twins", "up"],
        env=os.environ | embedded_env(data_dir, ports) | settings,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    services = Services(data_dir, host_process, csms_process, csms_port, ports, log)
    try:
        wait_for(services.stats_url, csms_process, "the counting CSMS")
        wait_for(f"{services.public}/openapi.json", host_process, "elu-twins up")
        wait_for(f"{services.private}/openapi.json", host_process, "elu-twins up")
    except BaseException:
        services.stop()
        raise
    return services


def charge_point_body(n: int, protocol: str, csms: str, message_log: bool = True) -> dict[str, Any]:
    return {
        "name": f"cp{n}",
        "cid": f"bench{n}",
        "csms_url": csms,
        "ocpp_protocol": protocol,
        "maximum_ac_power": 22,
        "evses": [{"connectors": [{"connector_type": "cType2"}]}],
        "speed_factor": 1,
        "message_log": message_log,
        "ocpp_configuration": meter_configuration(protocol),
    }


async def create_and_start(
    public: str,
    headers: dict[str, str],
    csms: str,
    protocols: list[str],
    chunk: int,
    concurrency: int,
    bulk: bool = False,
    message_log: bool = True,
) -> dict[str, Any]:
    """Create the fleet in bulk chunks, then connect and start every twin (one request
    each, or with ``bulk`` the bulk actions, BULK_ITEMS a request); answers timings."""
    twins = len(protocols)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=public, headers=headers, timeout=600, limits=limits
    ) as client:
        created_at = time.monotonic()
        charge_points: list[dict[str, Any]] = []
        vehicles: list[dict[str, Any]] = []
        for start in range(0, twins, chunk):
            numbers = range(start, min(start + chunk, twins))
            answer = await client.post(
                "/twin/charge-point/bulk",
                json=[charge_point_body(n, protocols[n], csms, message_log) for n in numbers],
            )
            answer.raise_for_status()
            charge_points += answer.json()
            answer = await client.post(
                "/twin/vehicle/bulk",
                json=[
                    {"name": f"car{n}", "battery_capacity": 100, "maximum_ac_charging_rate": 22}
                    for n in numbers
                ],
            )
            answer.raise_for_status()
            vehicles += answer.json()
        create_seconds = time.monotonic() - created_at

        limit = asyncio.Semaphore(concurrency)
        connect_latency: list[float] = []
        start_latency: list[float] = []
        failures: Counter[str] = Counter()

        async def connect_and_start(charge_point: dict[str, Any], vehicle: dict[str, Any]) -> None:
            async with limit:
                asked = time.perf_counter()
                answer = await client.post(
                    "/twin/charge-point/action/connect-charger",
                    json={"charge_point_id": charge_point["id"]},
                )
                connect_latency.append(time.perf_counter() - asked)
                if answer.status_code != 200:
                    failures[f"connect-charger {answer.status_code}"] += 1
                    return
                asked = time.perf_counter()
                answer = await client.post(
                    "/twin/charge-point/action/start-transaction",
                    json={
                        "connector_id": charge_point["evses"][0]["connectors"][0]["id"],
                        "vehicle_id": vehicle["id"],
                    },
                )
                start_latency.append(time.perf_counter() - asked)
                if answer.status_code != 200:
                    failures[f"start-transaction {answer.status_code}"] += 1

        async def bulk_action(action: str, items: list[dict[str, Any]]) -> int:
            """One bulk request per BULK_ITEMS items; answers how many succeeded."""
            succeeded = 0
            in_flight = asyncio.Semaphore(BULK_IN_FLIGHT)

            async def post(part: list[dict[str, Any]]) -> None:
                nonlocal succeeded
                async with in_flight:
                    answer = await client.post(
                        f"/twin/charge-point/action/{action}/bulk", json={"items": part}
                    )
                    if answer.status_code != 200:
                        failures[f"{action} {answer.status_code}"] += len(part)
                        return
                    for item in answer.json()["data"]:
                        if item["ok"]:
                            succeeded += 1
                        else:
                            failures[f"{action} {item['status_code']} {item['code']}"] += 1

            parts = [items[i : i + BULK_ITEMS] for i in range(0, len(items), BULK_ITEMS)]
            await asyncio.gather(*(post(part) for part in parts))
            return succeeded

        started_at = time.monotonic()
        if bulk:
            await bulk_action(
                "connect-charger", [{"charge_point_id": cp["id"]} for cp in charge_points]
            )
            charging = await bulk_action(
                "start-transaction",
                [
                    {
                        "connector_id": cp["evses"][0]["connectors"][0]["id"],
                        "vehicle_id": vehicle["id"],
                    }
                    for cp, vehicle in zip(charge_points, vehicles, strict=True)
                ],
            )
        else:
            await asyncio.gather(
                *(connect_and_start(cp, v) for cp, v in zip(charge_points, vehicles, strict=True))
            )
            charging = len(start_latency) - sum(
                n for k, n in failures.items() if k.startswith("start")
            )
        return {
            "create_seconds": round(create_seconds, 1),
            "connect_and_start_seconds": round(time.monotonic() - started_at, 1),
            "connect_charger_latency": percentiles_ms(connect_latency),
            "start_transaction_latency": percentiles_ms(start_latency),
            "failures": dict(failures),
            "charging": charging,
            "charge_point": charge_points[0]["id"],
            "vehicle": vehicles[0]["id"],
        }


def timed_reads(client: httpx.Client, path: str, count: int) -> dict[str, Any]:
    took: list[float] = []
    began = time.perf_counter()
    for _ in range(count):
        asked = time.perf_counter()
        client.get(path).raise_for_status()
        took.append(time.perf_counter() - asked)
    elapsed = time.perf_counter() - began
    return percentiles_ms(took) | {"requests_per_second": round(count / elapsed, 1)}


def profile(pid: int, seconds: int, prefix: Path) -> dict[str, str]:
    """py-spy the host: an SVG flame graph, then collapsed stacks per thread (raw,
    gzipped) for benchmarks/profile_shares.py."""
    spy = Path(sys.executable).parent / "py-spy"
    command = [str(spy) if spy.exists() else "py-spy", "record", "--pid", str(pid)]
    command += ["--duration", str(seconds)]  # idle stacks are left out by default
    # Only the thread holding the GIL: without it a thread waiting for the GIL counts as
    # busy wherever it waits, which inflated random functions of the other thread.
    command += ["--gil"]
    files = {}
    for kind, suffix, extra in (("flamegraph", "svg", []), ("raw", "txt", ["--threads"])):
        target = prefix.parent / f"{prefix.name}.{suffix}"
        run = subprocess.run(
            [*command, *extra, "--format", kind, "-o", str(target)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        if run.returncode != 0:
            files[kind] = f"py-spy failed: {run.stderr}"
        elif kind == "raw":  # collapsed stacks compress ~20 times
            packed = target.parent / f"{target.name}.gz"
            packed.write_bytes(gzip.compress(target.read_bytes()))
            target.unlink()
            files[kind] = packed.name
        else:
            files[kind] = target.name
    return files


def late_by_second(before: dict[str, Any], after: dict[str, Any]) -> dict[str, int]:
    """Meter values at least counting_csms.LATE_MS late, per second of the window they
    arrived in (seconds from its start): bursts point at something holding the loop."""
    start = int(before["at"])
    late = histogram_delta(after["late_meter_seconds"], before["late_meter_seconds"])
    return {str(second - start): count for second, count in sorted(late.items())}


def markdown_row(result: dict[str, Any]) -> str:
    late = result["lateness"]["meter"]
    return (
        f"| {result['protocol']} | {result['twins']:,} | {result['database']} "
        f"| {'on' if result['message_log'] else 'off'} "
        f"| {result['twins_connected']:,} | {result['connect_and_start_seconds']} "
        f"| {result['messages_per_second']} "
        f"| {result['host']['cpu_seconds_per_1000_messages']} "
        f"| {result['host']['cpu_share_of_a_core']:.0%} "
        f"| {result['csms']['cpu_seconds_per_1000_messages']} "
        f"| {result['host']['rss_kb_per_twin']:,} "
        f"| {late['p50_ms']} / {late['p99_ms']} / {late['max_ms']} "
        f"| {result['api']['start_transaction_latency'].get('p50_ms')} / "
        f"{result['api']['start_transaction_latency'].get('p99_ms')} "
        f"| {result['api']['get_charge_point']['requests_per_second']} / "
        f"{result['api']['get_vehicle']['requests_per_second']} |"
    )


MARKDOWN_HEADER = (
    "| protocol | twins | database | message log | connected | connect+start s | msgs/s "
    "| host CPU s / 1k msgs | host CPU | CSMS CPU s / 1k msgs | host KB RSS / twin "
    "| meter lateness p50 / p99 / max ms | start-transaction p50 / p99 ms "
    "| GET cp / vehicle req/s |\n"
    "|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|---|\n"
)


def append_row(table: Path, row: str) -> None:
    """Append ``row`` to the Markdown table in ``table``, under a new header when the
    file's last one has other columns (rows of earlier versions stay as they were)."""
    headers = (
        [line for line in table.read_text().splitlines() if line.startswith("| protocol |")]
        if table.exists()
        else []
    )
    with table.open("a") as out:
        if not headers:
            out.write(MARKDOWN_HEADER)
        elif headers[-1] != MARKDOWN_HEADER.splitlines()[0]:
            out.write("\n" + MARKDOWN_HEADER)
        out.write(row + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--twins", type=int, default=100)
    parser.add_argument("--protocol", choices=[*PROTOCOLS, "mix"], default="ocpp1.6")
    parser.add_argument("--duration", type=float, default=120, help="steady-state window, s")
    parser.add_argument(
        "--settle", type=float, default=15, help="wait after all charge, before the window, s"
    )
    parser.add_argument("--database-url", help="run the host on this database (default SQLite)")
    parser.add_argument("--chunk", type=int, default=500, help="twins per bulk create")
    parser.add_argument("--concurrency", type=int, default=50, help="API requests in flight")
    parser.add_argument(
        "--bulk",
        action="store_true",
        help="connect and start through the bulk actions (for thousands of twins)",
    )
    parser.add_argument("--reads", type=int, default=200, help="timed GETs of each kind")
    parser.add_argument("--profile", type=int, default=0, help="py-spy the host for N s")
    parser.add_argument("--results", type=Path, default=RESULTS, help="folder for the output")
    parser.add_argument("--label", default="", help="appended to the file names: -LABEL")
    parser.add_argument(
        "--message-log",
        choices=["on", "off"],
        default="on",
        help="the charge points' message log (off: no OCPP frame stored or streamed)",
    )
    arguments = parser.parse_args()
    twins = arguments.twins
    message_log = arguments.message_log == "on"
    suffix = ("" if message_log else "-message-log-off") + (
        f"-{arguments.label}" if arguments.label else ""
    )
    if arguments.protocol == "mix":
        protocols = ["ocpp1.6" if n % 2 == 0 else "ocpp2.0.1" for n in range(twins)]
    else:
        protocols = [arguments.protocol] * twins

    services = start_services(twins, arguments.database_url)
    data_dir, host_process, csms_process = (
        services.data_dir,
        services.host_process,
        services.csms_process,
    )
    stats_url, public = services.stats_url, services.public
    try:
        host = psutil.Process(host_process.pid)
        csms = psutil.Process(csms_process.pid)
        headers = services.login()
        time.sleep(2)
        baseline = Usage(host)

        fleet = asyncio.run(
            create_and_start(
                public,
                headers,
                services.csms_url,
                protocols,
                arguments.chunk,
                arguments.concurrency,
                arguments.bulk,
                message_log,
            )
        )
        time.sleep(arguments.settle)

        before = httpx.get(stats_url).json()
        host_start, csms_start = Usage(host), Usage(csms)
        database_start = database_cpu(arguments.database_url)
        began = time.monotonic()
        time.sleep(arguments.duration)
        host_end, csms_end = Usage(host), Usage(csms)
        database_end = database_cpu(arguments.database_url)
        elapsed = time.monotonic() - began
        after = httpx.get(stats_url).json()

        with httpx.Client(base_url=public, headers=headers, timeout=60) as client:
            reads = {
                "get_charge_point": timed_reads(
                    client, f"/twin/charge-point/{fleet['charge_point']}", arguments.reads
                ),
                "get_vehicle": timed_reads(
                    client, f"/twin/vehicle/{fleet['vehicle']}", arguments.reads
                ),
            }
            logged = client.get(f"/twin/charge-point/{fleet['charge_point']}/message-log")
            logged.raise_for_status()
        profiles = {}
        if arguments.profile:
            kind = "" if arguments.protocol == "ocpp1.6" else f"-{arguments.protocol}"
            name = f"profile-{twins}{kind}{suffix}"
            profiles = profile(host.pid, arguments.profile, arguments.results / name)
    finally:
        stop_seconds = services.stop()

    calls = Counter(after["calls"])
    calls.subtract(before["calls"])
    messages = sum(calls.values())
    per_second = messages / elapsed

    def cost(start: Usage, end: Usage) -> dict[str, Any]:
        cpu = end.cpu - start.cpu
        return {
            "cpu_seconds": round(cpu, 2),
            "cpu_share_of_a_core": round(cpu / elapsed, 3),
            "cpu_seconds_per_1000_messages": round(cpu / messages * 1000, 3) if messages else None,
            # every CALL the CSMS counted is answered: two frames on the wire
            "cpu_seconds_per_1000_frames": round(cpu / messages * 500, 3) if messages else None,
            "rss_mb_start": round(start.rss / 2**20, 1),
            "rss_mb_end": round(end.rss / 2**20, 1),
        }

    host_cost = cost(host_start, host_end) | {
        "rss_mb_no_twins": round(baseline.rss / 2**20, 1),
        "rss_kb_per_twin": round((host_end.rss - baseline.rss) / 1024 / twins),
        "cpu_by_thread": thread_split(host_start, host_end),
        "threads": len(host_end.threads),
    }
    result = {
        "twins": twins,
        "protocol": arguments.protocol,
        "bulk_start": arguments.bulk,
        "message_log": message_log,
        "frames_logged_by_one_twin": logged.json()["count"],
        "database": "postgres" if arguments.database_url else "sqlite",
        "duration_seconds": round(elapsed, 1),
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {
            "cores": os.cpu_count(),
            "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "python": platform.python_version(),
            "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        },
        "twins_connected": after["connected"],
        "twins_charging": fleet["charging"],
        "create_seconds": fleet["create_seconds"],
        "connect_and_start_seconds": fleet["connect_and_start_seconds"],
        "messages": messages,
        "messages_per_second": round(per_second, 1),
        "messages_by_action": {k: v for k, v in sorted(calls.items()) if v},
        "csms_errors_received": after["errors_received"] - before["errors_received"],
        "host": host_cost
        | {"gc": host_collections(services.data_dir / GC_LOG, before["at"], after["at"])},
        "csms": cost(csms_start, csms_end),
        # Postgres backends on this machine serving the database (not in the host's CPU)
        "database_server_cpu_seconds": round(
            sum(cpu - database_start.get(pid, 0.0) for pid, cpu in database_end.items()), 2
        )
        if database_end
        else None,
        "lateness": {
            "meter": histogram_percentiles(
                histogram_delta(after["meter_lateness_ms"], before["meter_lateness_ms"])
            ),
            "meter_interval": histogram_percentiles(
                histogram_delta(
                    after["meter_interval_lateness_ms"], before["meter_interval_lateness_ms"]
                )
            ),
            "heartbeat": histogram_percentiles(
                histogram_delta(after["heartbeat_lateness_ms"], before["heartbeat_lateness_ms"])
            ),
            "late_meter_values_by_second": late_by_second(before, after),
            "csms_gc_pauses": [
                [round(at - before["at"], 1), ms]
                for at, ms in after["gc_pauses"]
                if before["at"] <= at <= after["at"]
            ],
        },
        "api": {
            "connect_charger_latency": fleet["connect_charger_latency"],
            "start_transaction_latency": fleet["start_transaction_latency"],
            "failures": fleet["failures"],
        }
        | reads,
        "stop_seconds": round(stop_seconds, 2),
        "host_exit_code": host_process.returncode,
        "data_dir": str(data_dir),
        "profile": profiles,
    }
    arguments.results.mkdir(parents=True, exist_ok=True)
    name = f"fleet-{arguments.protocol}-{twins}{suffix}"
    (arguments.results / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    row = markdown_row(result)
    append_row(arguments.results / "fleet.md", row)
    print(json.dumps(result, indent=2))
    print(MARKDOWN_HEADER + row)
    if result["api"]["failures"] or result["csms_errors_received"] or host_process.returncode:
        print(f"kept {data_dir} (up.log, database) to look into the failures", file=sys.stderr)
    else:
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
