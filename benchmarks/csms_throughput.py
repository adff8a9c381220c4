"""How many OCPP messages a second the bundled CSMS answers, and at what CPU cost (issue 14).

    python benchmarks/csms_throughput.py --protocol both --connections 1000 --duration 30
    python benchmarks/csms_throughput.py --protocol ocpp1.6 --profile 20   # + py-spy of the CSMS

For each protocol it starts the bundled CSMS in its own process on a free port, as
``elu-twins csms-v16`` / ``csms-v201`` runs it, and this script again as a load generator
in another process (``generate``): asyncio + websockets, ``--connections`` charge points
that each boot once, then send a charging session's messages over and over from frames
encoded once (only the unique id, and the transaction id where it changes, are spliced in),
``--in-flight`` frames at a time per connection. After ``--warmup`` s the generator
measures the ``--duration`` s window: CALLs answered (CALLRESULT or CALLERROR), the CSMS
process's CPU seconds (user + system, psutil) and its own.

The figure that matters is ``csms.cpu_seconds_per_1000_messages``: 5,000 messages per
second per core is 0.20. It writes ``results/csms_throughput-<protocol>[-<label>].json``,
appends a row to ``results/csms_throughput.md`` and prints both.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gzip
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import psutil

HERE = Path(__file__).parent
ROOT = HERE.parent
RESULTS = HERE / "results"
PROTOCOLS = ("ocpp1.6", "ocpp2.0.1")
STAMP = "2026-11-26T10:00:00.000Z"
TOKEN = "BENCH0001"

MARKDOWN_HEADER = (
    "| at (UTC) | label | protocol | connections | in flight | msgs/s answered "
    "| CSMS CPU s / 1,000 msgs | CSMS CPU (of a core) | msgs/s per CSMS core "
    "| answer p50 / p99 ms | generator CPU (of a core) | CALLERRORs | load avg |\n"
    "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
)


# -- the frames ------------------------------------------------------------------------------


def _frame(action: str, payload: dict[str, Any]) -> str:
    """A CALL frame with ``{uid}`` where the unique id goes (no other ``{`` survives)."""
    body = json.dumps(payload, separators=(",", ":"))
    return '[2,"\x00",' + json.dumps(action) + "," + body + "]"


def _meter_value_16(step: int) -> dict[str, Any]:
    energy, power, soc = 1_000 + step * 61, 22_000, 10 + step // 4
    return {
        "timestamp": STAMP,
        "sampledValue": [
            {
                "value": f"{energy:.0f}",
                "context": "Sample.Periodic",
                "measurand": "Energy.Active.Import.Register",
                "unit": "Wh",
            },
            {
                "value": f"{power:.0f}",
                "context": "Sample.Periodic",
                "measurand": "Power.Active.Import",
                "unit": "W",
            },
            {
                "value": f"{soc}",
                "context": "Sample.Periodic",
                "measurand": "SoC",
                "unit": "Percent",
                "location": "EV",
            },
        ],
    }


def _meter_value_201(step: int, context: str = "Sample.Periodic") -> dict[str, Any]:
    energy, power, soc = 1_000 + step * 61, 22_000, 10 + step // 4
    return {
        "timestamp": STAMP,
        "sampledValue": [
            {
                "value": energy,
                "context": context,
                "measurand": "Energy.Active.Import.Register",
                "unitOfMeasure": {"unit": "Wh"},
            },
            {
                "value": power,
                "context": context,
                "measurand": "Power.Active.Import",
                "unitOfMeasure": {"unit": "W"},
            },
            {
                "value": soc,
                "context": context,
                "measurand": "SoC",
                "location": "EV",
                "unitOfMeasure": {"unit": "Percent"},
            },
        ],
    }


METER_VALUES_PER_SESSION = 24
HEARTBEATS_PER_SESSION = 4


def session_16() -> list[tuple[str, str]]:
    """One session of OCPP 1.6 CALLs as (action, frame); ``\\x01`` stands for the transaction
    id, which the CSMS gives in its StartTransaction answer."""

    def status(value: str) -> tuple[str, str]:
        payload = {"connectorId": 1, "errorCode": "NoError", "status": value, "timestamp": STAMP}
        return "StatusNotification", _frame("StatusNotification", payload)

    frames = [
        status("Preparing"),
        (
            "StartTransaction",
            _frame(
                "StartTransaction",
                {"connectorId": 1, "idTag": TOKEN, "meterStart": 1_000, "timestamp": STAMP},
            ),
        ),
        status("Charging"),
    ]
    for step in range(METER_VALUES_PER_SESSION):
        payload = {"connectorId": 1, "transactionId": 0, "meterValue": [_meter_value_16(step)]}
        frame = _frame("MeterValues", payload).replace('"transactionId":0', '"transactionId":\x01')
        frames.append(("MeterValues", frame))
        if step % (METER_VALUES_PER_SESSION // HEARTBEATS_PER_SESSION) == 0:
            frames.append(("Heartbeat", _frame("Heartbeat", {})))
    stop = {"transactionId": 0, "meterStop": 2_500, "timestamp": STAMP, "reason": "EVDisconnected"}
    frame = _frame("StopTransaction", stop).replace('"transactionId":0', '"transactionId":\x01')
    frames += [("StopTransaction", frame), status("Finishing"), status("Available")]
    return frames


def session_201() -> list[tuple[str, str]]:
    """One session of OCPP 2.0.1 CALLs; ``\\x01`` stands for the transaction id (the station
    chooses it, so no answer needs reading)."""

    def status(value: str) -> tuple[str, str]:
        payload = {"timestamp": STAMP, "connectorStatus": value, "evseId": 1, "connectorId": 1}
        return "StatusNotification", _frame("StatusNotification", payload)

    def event(kind: str, trigger: str, seq: int, **extra: Any) -> tuple[str, str]:
        payload = {
            "eventType": kind,
            "timestamp": STAMP,
            "triggerReason": trigger,
            "seqNo": seq,
            "transactionInfo": {"transactionId": "TX", **extra.pop("info", {})},
            **extra,
        }
        frame = _frame("TransactionEvent", payload).replace('"TX"', '"\x01"')
        return "TransactionEvent", frame

    frames = [
        status("Occupied"),
        event(
            "Started",
            "Authorized",
            0,
            info={"chargingState": "Charging"},
            evse={"id": 1, "connectorId": 1},
            idToken={"idToken": TOKEN, "type": "ISO14443"},
            meterValue=[_meter_value_201(0, "Transaction.Begin")],
        ),
    ]
    for step in range(METER_VALUES_PER_SESSION):
        frames.append(
            event("Updated", "MeterValuePeriodic", step + 1, meterValue=[_meter_value_201(step)])
        )
        if step % (METER_VALUES_PER_SESSION // HEARTBEATS_PER_SESSION) == 0:
            frames.append(("Heartbeat", _frame("Heartbeat", {})))
    frames += [
        event(
            "Ended",
            "EVCommunicationLost",
            METER_VALUES_PER_SESSION + 1,
            info={"stoppedReason": "EVDisconnected"},
            meterValue=[_meter_value_201(METER_VALUES_PER_SESSION, "Transaction.End")],
        ),
        status("Available"),
    ]
    return frames


def boot_frame(protocol: str) -> str:
    if protocol == "ocpp1.6":
        return _frame("BootNotification", {"chargePointVendor": "ELU", "chargePointModel": "Bench"})
    station = {"model": "Bench", "vendorName": "ELU"}
    return _frame("BootNotification", {"reason": "PowerUp", "chargingStation": station})


# -- the load generator (its own process) ----------------------------------------------------


class Load:
    """What every connection of the generator counts into (one event loop, no locks)."""

    def __init__(self) -> None:
        self.answered = 0
        self.by_action: Counter[str] = Counter()
        self.errors = 0
        self.error_samples: list[str] = []
        self.latency_ms: Counter[int] = Counter()
        self.running = True
        self.booted = 0


async def run_connection(
    url: str,
    protocol: str,
    name: str,
    in_flight: int,
    load: Load,
    go: asyncio.Event,
    connecting: asyncio.Semaphore,
) -> None:
    from websockets.asyncio.client import connect

    session = session_16() if protocol == "ocpp1.6" else session_201()
    async with contextlib.AsyncExitStack() as stack:
        async with connecting:
            websocket = await stack.enter_async_context(
                connect(f"{url}/{name}", subprotocols=[protocol], compression=None)
            )
            await websocket.send(boot_frame(protocol).replace("\x00", "boot"))
            answer = await websocket.recv()
        if not str(answer).startswith("[3,"):
            raise RuntimeError(f"{name}: boot answered {answer!r}")
        load.booted += 1
        await go.wait()
        sequence = 0
        transaction = "0"
        by_action = load.by_action
        latency = load.latency_ms
        clock = time.perf_counter
        while load.running:
            if protocol == "ocpp2.0.1":
                transaction = f"{name}-{sequence}"
            index = 0
            while index < len(session) and load.running:
                batch = []
                while index < len(session) and len(batch) < in_flight:
                    action, frame = session[index]
                    index += 1
                    batch.append(action)
                    sequence += 1
                    await websocket.send(
                        frame.replace("\x00", str(sequence)).replace("\x01", transaction)
                    )
                    if action == "StartTransaction":
                        break  # its answer carries the transaction id the next frames need
                began = clock()
                for action in batch:
                    answer = await websocket.recv()
                    assert isinstance(answer, str)
                    if answer[1] != "3":
                        load.errors += 1
                        if len(load.error_samples) < 5:
                            load.error_samples.append(answer[:500])
                    elif action == "StartTransaction":
                        transaction = str(json.loads(answer)[2]["transactionId"])
                    by_action[action] += 1
                    load.answered += 1
                latency[int((clock() - began) * 1000)] += len(batch)


def percentiles(histogram: Counter[int]) -> dict[str, Any]:
    total = sum(histogram.values())
    if not total:
        return {"count": 0}
    answer: dict[str, Any] = {"count": total}
    running = 0
    ordered = sorted(histogram.items())
    for name, share in (("p50_ms", 0.5), ("p99_ms", 0.99)):
        running = 0
        for value, count in ordered:
            running += count
            if running >= share * total:
                answer[name] = value
                break
    answer["max_ms"] = ordered[-1][0]
    return answer


def cpu_of(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


async def generate(arguments: argparse.Namespace) -> None:
    """Connect, boot, load the CSMS; print one JSON line when the window ends, then keep
    the load on for ``--tail`` s (for a profile) and stop."""
    load = Load()
    go = asyncio.Event()
    csms = psutil.Process(arguments.csms_pid)
    me = psutil.Process()
    began_connecting = time.perf_counter()
    connecting = asyncio.Semaphore(100)

    tasks = [
        asyncio.create_task(
            run_connection(
                arguments.url,
                arguments.protocol,
                f"bench{n:05d}",
                arguments.in_flight,
                load,
                go,
                connecting,
            )
        )
        for n in range(arguments.connections)
    ]
    while load.booted < arguments.connections:
        failed = [task for task in tasks if task.done()]
        if failed:
            failed[0].result()
            raise RuntimeError("a connection ended before the load started")
        await asyncio.sleep(0.05)
    connect_seconds = time.perf_counter() - began_connecting
    go.set()
    await asyncio.sleep(arguments.warmup)
    start = (time.perf_counter(), load.answered, cpu_of(csms), cpu_of(me), Counter(load.by_action))
    load.latency_ms.clear()
    await asyncio.sleep(arguments.duration)
    end = (time.perf_counter(), load.answered, cpu_of(csms), cpu_of(me), Counter(load.by_action))
    elapsed = end[0] - start[0]
    messages = end[1] - start[1]
    csms_cpu = end[2] - start[2]
    generator_cpu = end[3] - start[3]
    result = {
        "connect_and_boot_seconds": round(connect_seconds, 2),
        "window_seconds": round(elapsed, 2),
        "messages": messages,
        "messages_per_second": round(messages / elapsed, 1),
        "messages_by_action": dict(sorted((end[4] - start[4]).items())),
        "call_errors": load.errors,
        "call_error_samples": load.error_samples,
        "answer_latency": percentiles(load.latency_ms),
        "csms_cpu_seconds": round(csms_cpu, 3),
        "generator_cpu_seconds": round(generator_cpu, 3),
        "csms_rss_mb": round(csms.memory_info().rss / 2**20, 1),
    }
    print(json.dumps(result), flush=True)
    await asyncio.sleep(arguments.tail)
    load.running = False
    done, _ = await asyncio.wait(tasks, timeout=10)
    for task in done:
        if not task.cancelled() and task.exception() is not None:
            print(f"connection ended with {task.exception()!r}", file=sys.stderr)


# -- the harness -----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class CsmsExited(RuntimeError):
    pass


def wait_until_listening(port: int, process: subprocess.Popen[Any], timeout: float = 60) -> None:
    """Until the CSMS process itself listens on `port` (not any process: another one may
    have taken the port between `free_port` and the CSMS's bind)."""
    deadline = time.monotonic() + timeout
    watched = psutil.Process(process.pid)
    while True:
        if process.poll() is not None:
            raise CsmsExited(f"the CSMS exited with {process.returncode}")
        with contextlib.suppress(psutil.Error):
            for connection in watched.net_connections(kind="tcp"):
                if connection.status == psutil.CONN_LISTEN and connection.laddr.port == port:
                    return
        if time.monotonic() > deadline:
            raise TimeoutError(f"the CSMS did not listen on {port} within {timeout}s")
        time.sleep(0.1)


def start_csms(
    protocol: str, arguments: argparse.Namespace, log: Any, attempts: int = 3
) -> tuple[subprocess.Popen[Any], int]:
    """The CSMS on a free port, as `elu-twins csms-v16` / `csms-v201` runs it (or uvicorn
    with `--uvicorn`); another port when the chosen one was taken meanwhile."""
    for attempt in range(attempts):
        port = free_port()
        if arguments.uvicorn:
            factory = f"csms_v{'16' if protocol == 'ocpp1.6' else '201'}.app:create_app"
            server = ["uvicorn", "--factory", factory, "--port", str(port)]
            server += arguments.uvicorn.split()
        else:
            server = ["elu_twins", "csms-v16" if protocol == "ocpp1.6" else "csms-v201"]
            server += ["--port", str(port)]
        csms = subprocess.Popen(
            [sys.executable, "-m", *server],
            cwd=ROOT,
            env=os.environ | {"PYTHONPATH": str(ROOT)},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_until_listening(port, csms)
        except CsmsExited:
            if attempt == attempts - 1:
                raise
            continue
        except BaseException:
            csms.kill()
            raise
        return csms, port
    raise AssertionError("unreachable")


def profile(pid: int, seconds: int, target: Path) -> dict[str, str]:
    """py-spy the CSMS: collapsed stacks (gzipped) and their summary by
    benchmarks/profile_shares.py."""
    sys.path.insert(0, str(HERE))
    from profile_shares import shares

    spy = Path(sys.executable).parent / "py-spy"
    raw = target.parent / f"{target.name}.txt"
    command = [str(spy) if spy.exists() else "py-spy", "record", "--pid", str(pid)]
    command += ["--duration", str(seconds), "--format", "raw", "-o", str(raw)]
    run = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if run.returncode != 0:
        return {"error": f"py-spy failed: {run.stderr[-1000:]}"}
    packed = raw.parent / f"{raw.name}.gz"
    packed.write_bytes(gzip.compress(raw.read_bytes()))
    summary = target.parent / f"{target.name}-shares.md"
    summary.write_text(shares(packed) + "\n")
    raw.unlink()
    return {"raw": packed.name, "shares": summary.name}


def measure(protocol: str, arguments: argparse.Namespace, prefix: Path) -> dict[str, Any]:
    """One protocol: a CSMS process, a generator process, the window, an optional profile."""
    environment = os.environ | {"PYTHONPATH": str(ROOT)}
    with tempfile.TemporaryFile("w+") as csms_log:
        csms, port = start_csms(protocol, arguments, csms_log)
        generator = None
        try:
            tail = arguments.profile + 5 if arguments.profile else 0
            generator = subprocess.Popen(
                [
                    sys.executable,
                    str(Path(__file__).resolve()),
                    "generate",
                    f"--url=ws://127.0.0.1:{port}",
                    f"--protocol={protocol}",
                    f"--connections={arguments.connections}",
                    f"--in-flight={arguments.in_flight}",
                    f"--warmup={arguments.warmup}",
                    f"--duration={arguments.duration}",
                    f"--tail={tail}",
                    f"--csms-pid={csms.pid}",
                ],
                cwd=ROOT,
                env=environment,
                stdout=subprocess.PIPE,
                text=True,
            )
            assert generator.stdout is not None
            line = generator.stdout.readline()
            if not line:
                generator.wait(30)
                raise RuntimeError(f"the generator exited with {generator.returncode}")
            window = json.loads(line)
            profiles = (
                profile(csms.pid, arguments.profile, prefix.parent / f"{prefix.name}-{protocol}")
                if arguments.profile
                else {}
            )
            generator.wait(arguments.profile + 60)
            generator_exit = generator.returncode
        except BaseException:
            csms_log.seek(0)
            print(csms_log.read()[-4000:], file=sys.stderr)
            raise
        finally:
            if generator is not None and generator.poll() is None:
                generator.kill()
            csms.send_signal(signal.SIGTERM)
            try:
                csms.wait(30)
            except subprocess.TimeoutExpired:
                csms.kill()
    cpu = window["csms_cpu_seconds"]
    messages = window["messages"]
    seconds = window["window_seconds"]
    return {
        "protocol": protocol,
        "connections": arguments.connections,
        "in_flight": arguments.in_flight,
        "connect_and_boot_seconds": window["connect_and_boot_seconds"],
        "window_seconds": seconds,
        "messages": messages,
        "messages_per_second": window["messages_per_second"],
        "messages_by_action": window["messages_by_action"],
        "call_errors": window["call_errors"],
        "call_error_samples": window["call_error_samples"],
        "answer_latency": window["answer_latency"],
        "csms": {
            "cpu_seconds": cpu,
            "cpu_seconds_per_1000_messages": round(cpu / messages * 1000, 3) if messages else None,
            "cpu_share_of_a_core": round(cpu / seconds, 3),
            "messages_per_cpu_second": round(messages / cpu) if cpu else None,
            "rss_mb_end": window["csms_rss_mb"],
            "exit_code": csms.returncode,
        },
        "generator": {
            "cpu_seconds": window["generator_cpu_seconds"],
            "cpu_share_of_a_core": round(window["generator_cpu_seconds"] / seconds, 3),
            "exit_code": generator_exit,
        },
        "profile": profiles,
    }


def markdown_row(result: dict[str, Any], run: dict[str, Any]) -> str:
    latency = run["answer_latency"]
    return (
        f"| {result['at']} | {result['label'] or '-'} | {run['protocol']} "
        f"| {run['connections']:,} | {run['in_flight']} | {run['messages_per_second']:,} "
        f"| {run['csms']['cpu_seconds_per_1000_messages']} "
        f"| {run['csms']['cpu_share_of_a_core']:.0%} "
        f"| {run['csms']['messages_per_cpu_second'] or 0:,} "
        f"| {latency.get('p50_ms')} / {latency.get('p99_ms')} "
        f"| {run['generator']['cpu_share_of_a_core']:.0%} | {run['call_errors']} "
        f"| {result['machine']['load_average_at_end'][0]} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    subcommands = parser.add_subparsers(dest="command")
    parser.add_argument("--protocol", choices=[*PROTOCOLS, "both"], default="both")
    parser.add_argument("--connections", type=int, default=1_000)
    parser.add_argument(
        "--in-flight", type=int, default=1, help="CALLs sent per connection before reading answers"
    )
    parser.add_argument("--warmup", type=float, default=5, help="seconds of load before the window")
    parser.add_argument("--duration", type=float, default=30, help="the measured window, s")
    parser.add_argument("--profile", type=int, default=0, help="py-spy the CSMS for N s after")
    parser.add_argument("--results", type=Path, default=RESULTS, help="folder for the output")
    parser.add_argument("--label", default="", help="appended to the file name: -LABEL")
    parser.add_argument(
        "--uvicorn",
        default="",
        help="run the CSMS with `python -m uvicorn --factory` and these options instead of "
        "elu-twins (to compare servers), e.g. '--loop asyncio --ws wsproto'",
    )
    generator = subcommands.add_parser("generate", help="(internal) the load generator")
    generator.add_argument("--url", required=True)
    generator.add_argument("--protocol", choices=PROTOCOLS, required=True)
    generator.add_argument("--connections", type=int, required=True)
    generator.add_argument("--in-flight", type=int, required=True)
    generator.add_argument("--warmup", type=float, required=True)
    generator.add_argument("--duration", type=float, required=True)
    generator.add_argument("--tail", type=float, default=0)
    generator.add_argument("--csms-pid", type=int, required=True)
    arguments = parser.parse_args()
    if arguments.command == "generate":
        asyncio.run(generate(arguments))
        return
    if arguments.in_flight < 1 or arguments.connections < 1 or arguments.duration <= 0:
        parser.error("--in-flight and --connections must be >= 1, --duration > 0")

    protocols = PROTOCOLS if arguments.protocol == "both" else (arguments.protocol,)
    suffix = f"-{arguments.label}" if arguments.label else ""
    name = f"csms_throughput-{arguments.protocol}{suffix}"
    arguments.results.mkdir(parents=True, exist_ok=True)
    runs = [measure(protocol, arguments, arguments.results / name) for protocol in protocols]
    result = {
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "label": arguments.label,
        "machine": {
            "cores": os.cpu_count(),
            "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "python": platform.python_version(),
            "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        },
        "server": f"uvicorn {arguments.uvicorn}" if arguments.uvicorn else "elu-twins",
        "runs": runs,
    }
    (arguments.results / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    rows = "\n".join(markdown_row(result, run) for run in runs)
    table = arguments.results / "csms_throughput.md"
    if not table.exists():
        table.write_text(MARKDOWN_HEADER)
    with table.open("a") as out:
        out.write(rows + "\n")
    print(json.dumps(result, indent=2))
    print(MARKDOWN_HEADER + rows)
    stopped = (0, -signal.SIGTERM)  # uvicorn re-raises the SIGTERM it handled
    if any(run["call_errors"] or run["csms"]["exit_code"] not in stopped for run in runs):
        sys.exit(1)


if __name__ == "__main__":
    main()
