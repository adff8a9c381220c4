"""The twins' own event-loop cost per message, without the host (issue 14).

N charge point twins in this process (no database, no API, events dropped), each with a
vehicle charging and meter values every ``--interval`` s (1), against the counting CSMS in another
process; measures the CPU this process (and its main thread) spends per meter message
over a window. With ``--profile``, cProfile with a thread CPU clock (not wall time: on
this shared machine a ``socket.send`` that gets preempted would look expensive) prints the
top functions; py-spy's samples of ``elu-twins up`` pile up where the loop re-takes the
GIL from the event writer's threads, this does not.

    python benchmarks/twin_loop.py --protocol ocpp1.6 --twins 500 --seconds 15
    python benchmarks/twin_loop.py --twins 300 --seconds 10 --profile --sort cumulative
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))
from fleet import PROTOCOLS, meter_configuration  # benchmarks/ is this script's folder

from tests.embedded import free_port
from tests.twin.scripted_csms import make_vehicle
from worker.gc_tuning import tune_gc
from worker.twin.charge_point import ChargePointTwin
from worker.twin.clock import SystemClock
from worker.twin.config import ChargePointConfig, ConnectorConfig, EvseConfig

HERE = Path(__file__).parent


def _config(protocol: str, number: int, port: int, interval: int) -> ChargePointConfig:
    return ChargePointConfig(
        charge_point_id=f"id-{number}",
        cid=f"CP{number}",
        protocol=protocol,  # type: ignore[arg-type]
        csms_url=f"ws://127.0.0.1:{port}",
        evses=(EvseConfig(1, (ConnectorConfig(1, 1, "cType2"),)),),
        ocpp_configuration=meter_configuration(protocol, interval),
    )


async def measure(args: argparse.Namespace, port: int) -> None:
    await asyncio.sleep(2)  # the CSMS starting
    # The collector as the host sets it: with Python's defaults a full collection
    # (~0.24 s at 1,000 twins) lands in some windows and not others, and its cost
    # outweighs what a change to the twins moves.
    tune_gc()
    twins: list[ChargePointTwin] = []
    try:
        for number in range(args.twins):
            config = _config(args.protocol, number, port, args.interval)
            twin = ChargePointTwin(config, SystemClock(speed=1), lambda event: None)
            await twin.start()
            twins.append(twin)
        for twin in twins:
            await twin.connected(timeout=60)
        for number, twin in enumerate(twins):
            await twin.plug_in(1, make_vehicle(soc=10, capacity_kwh=100), f"veh-{number}")
            await twin.start_transaction(1, "TAG")
        await asyncio.sleep(3)
        profile = cProfile.Profile(time.thread_time) if args.profile else None
        before, thread_before = resource.getrusage(resource.RUSAGE_SELF), time.thread_time()
        if profile is not None:
            profile.enable()
        await asyncio.sleep(args.seconds)
        if profile is not None:
            profile.disable()
        after, thread_after = resource.getrusage(resource.RUSAGE_SELF), time.thread_time()
        messages = args.twins * args.seconds / args.interval
        user = after.ru_utime - before.ru_utime
        system = after.ru_stime - before.ru_stime
        print(
            f"{args.protocol}, {args.twins} twins every {args.interval} s, {args.seconds:g} s: "
            f"{1e6 * (user + system) / messages:.0f} µs of CPU per meter message "
            f"(user {1e6 * user / messages:.0f}, system {1e6 * system / messages:.0f}; "
            f"main thread {1e6 * (thread_after - thread_before) / messages:.0f})"
        )
        if profile is not None:
            stats = pstats.Stats(profile)
            iterations = sum(  # each costs ~10 calls (select, len...); fewer under load
                row[1] for function, row in stats.stats.items() if function[2] == "_run_once"
            )
            print(
                f"{stats.total_calls / messages:.0f} Python function calls per meter message "
                f"({iterations / messages:.2f} event loop iterations per message)"
            )
            if args.dump:
                stats.dump_stats(args.dump)
            stats.sort_stats(args.sort).print_stats(args.top)
    finally:
        for twin in twins:
            await twin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--protocol", choices=PROTOCOLS, default="ocpp1.6")
    parser.add_argument("--twins", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--interval", type=int, default=1, help="s between meter values")
    parser.add_argument("--profile", action="store_true", help="cProfile the window")
    parser.add_argument("--sort", default="tottime", help="pstats sort key")
    parser.add_argument("--top", type=int, default=45)
    parser.add_argument("--dump", help="with --profile: write the pstats to this file")
    args = parser.parse_args()
    port = free_port()
    csms = subprocess.Popen(
        [sys.executable, str(HERE / "counting_csms.py"), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        asyncio.run(measure(args, port))
    finally:
        csms.terminate()


if __name__ == "__main__":
    main()
