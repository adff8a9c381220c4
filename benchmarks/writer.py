"""The event writer alone: CPU seconds of the process per 1,000 OCPP messages.

Feeds :class:`worker.persistence.EventWriter` through its public interface (the sink,
``state_progressed``, its own batch loop) with what ``--twins`` charging OCPP 1.6 twins
report: per twin every 10 s a MeterValues (its frame out and the answer in, a
MeterSampled, a ConnectorChanged, a TransactionChanged, a VehicleChanged and the state's
progress), every 60 s a Heartbeat (two frames). The database is a fresh one migrated with
the project's migrations (SQLite file, or a Postgres database ``elu_bench_writer``
created for the run) holding the twins' charge points, connectors and vehicles. The
twins' saved states come from real (offline) twins, charging.

Time runs ``--speed`` times faster than real time for the writer as a whole (its batch
interval, prune interval, row refresh and progress interval are divided by it, the event
rate multiplied), so that a 60 s window takes less; the batches hold what they hold at
real speed. A first ``--warmup`` (simulated) seconds are not measured: every row is new
at first, and the first prune counts each charge point's stored frames; the measured
window then holds a steady prune and a refresh of every row (ROW_REFRESH).

    python benchmarks/writer.py --database sqlite --twins 10000
    python benchmarks/writer.py --database postgres --writer /work/main/worker/persistence.py

``--writer FILE`` loads the writer from another copy of ``worker/persistence.py`` (the
"before" of a change). Prints one JSON line; ``--results DIR`` also writes it there.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

from sqlalchemy import Engine, create_engine, insert, select, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from shared.crud.charge_points import create_charge_points  # noqa: E402
from shared.db import make_engine, session_for  # noqa: E402
from shared.migrate import upgrade  # noqa: E402
from shared.models import ChargePoint, Connector, Evse, Quota, User, Vehicle  # noqa: E402
from shared.schemas.charge_point import ChargePointCreate  # noqa: E402
from worker.gc_tuning import tune_gc  # noqa: E402
from worker.twin.events import (  # noqa: E402
    ConnectorChanged,
    FrameLogged,
    MeterSampled,
    TransactionChanged,
    TwinEvent,
    VehicleChanged,
)

POSTGRES_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
BENCH_DATABASE = "elu_bench_writer"
METER_INTERVAL = 10.0
HEARTBEAT_INTERVAL = 60.0
#: Simulated seconds per tick of the event generator.
TICK = 0.1
#: Real twins whose ``save_state`` the benchmark's twins lend (it depends on a twin's
#: shape, not on which twin it is).
STATE_TWINS = 50


def load_writer_module(path: str | None) -> ModuleType:
    if path is None:
        import worker.persistence

        return worker.persistence
    spec = importlib.util.spec_from_file_location("persistence_under_test", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def fresh_database(kind: str, folder: Path) -> str:
    if kind == "sqlite":
        return f"sqlite:///{folder / 'writer.sqlite3'}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{BENCH_DATABASE}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{BENCH_DATABASE}"'))
    admin.dispose()
    return POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{BENCH_DATABASE}"


def drop_database(kind: str) -> None:
    if kind != "postgres":
        return
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{BENCH_DATABASE}" WITH (FORCE)'))
    admin.dispose()


FleetRow = tuple[uuid.UUID, uuid.UUID, uuid.UUID, uuid.UUID, uuid.UUID]


def store_fleet(engine: Engine, twins: int) -> list[FleetRow]:
    """The charge points, one vehicle each: (user, charge point, connector, EVSE, vehicle)."""
    with session_for(engine) as session:
        user = User(username=f"bench-{uuid.uuid4().hex[:8]}", hashed_password="-")
        user.quota = Quota(max_charge_points=twins, max_vehicles=twins)
        session.add(user)
        session.commit()
        for first in range(0, twins, 1000):
            bodies = [
                ChargePointCreate(name=f"cp{n}", csms_url="ws://127.0.0.1:9")
                for n in range(first, min(twins, first + 1000))
            ]
            create_charge_points(session, user, bodies)
            session.expunge_all()
        rows = session.execute(
            select(ChargePoint.id, Connector.id, Evse.id)
            .join(Evse, Evse.charge_point_id == ChargePoint.id)
            .join(Connector, Connector.evse_id == Evse.id)
            .where(ChargePoint.user_id == user.id, Evse.evseid == 1, Connector.connectorid == 1)
        ).all()
        vehicles = [uuid.uuid4() for _ in rows]
        session.execute(
            insert(Vehicle),
            [
                {"id": vehicle, "user_id": user.id, "name": "ev", "id_tag_suffix": f"{n:07d}",
                 "battery_capacity": 77.0, "maximum_dc_charging_rate": 120.0,
                 "maximum_ac_charging_rate": 11.0, "soc": 30.0, "connector_id": connector}
                for n, (vehicle, (_, connector, _)) in enumerate(zip(vehicles, rows, strict=True))
            ],
        )  # fmt: skip
        session.commit()
        return [
            (user.id, cp, connector, evse, vehicle)
            for (cp, connector, evse), vehicle in zip(rows, vehicles, strict=True)
        ]


async def state_twins() -> list[Any]:
    """Real 1.6 twins, offline, each charging a vehicle: their ``save_state`` is lent."""
    from tests.twin.scripted_csms import EventLog, make_config
    from worker.twin.charge_point import ChargePointTwin
    from worker.twin.clock import VirtualClock
    from worker.twin.vehicle import Vehicle as TwinVehicle

    twins = []
    for _ in range(STATE_TWINS):
        clock = VirtualClock(start=datetime(2026, 11, 26, 8, 0, tzinfo=UTC))
        config = make_config(
            "ws://127.0.0.1:9", ocpp_configuration={"AllowOfflineTxForUnknownId": "true"}
        )
        twin = ChargePointTwin(config, clock, EventLog())
        vehicle = TwinVehicle(capacity_kwh=77.0, soc=30.0, max_ac_kw=11.0, max_dc_kw=120.0)
        await twin.plug_in(1, vehicle, "veh")
        await twin.start_transaction(1, "TAG")
        await clock.advance(300)
        # As once delivered: a connected twin's queue holds no transaction messages.
        twin.queue._items.clear()
        twins.append(twin)
    return twins


class BenchTwin:
    """As much of a twin as the writer uses: its id and ``save_state`` (a real twin's)."""

    __slots__ = ("config", "save_state")

    def __init__(self, charge_point_id: str, lender: Any) -> None:
        self.config = SimpleNamespace(charge_point_id=charge_point_id)
        self.save_state = lender.save_state


def twin_events(
    charge_point_id: str, transaction_ref: str, vehicle_ref: str, number: int
) -> tuple[list[TwinEvent], list[TwinEvent]]:
    """One twin's events of a MeterValues exchange, and of a Heartbeat."""
    now = datetime.now(UTC)
    start = now - timedelta(minutes=5)
    csms_id = str(number + 1)
    energy_wh = 1234.5 + number
    values = [
        {"value": f"{energy_wh:.1f}", "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
        {"value": "11000.0", "measurand": "Power.Active.Import", "unit": "W"},
        {"value": "16.0", "measurand": "Current.Import", "unit": "A"},
        {"value": "230.0", "measurand": "Voltage", "unit": "V"},
        {"value": "42.0", "measurand": "SoC", "unit": "Percent"},
    ]
    payload = {
        "connectorId": 1,
        "transactionId": number + 1,
        "meterValue": [{"timestamp": now.isoformat(), "sampledValue": values}],
    }
    unique = uuid.uuid4().hex
    meter = [
        FrameLogged(charge_point_id, now, "sent", "CALL", unique, "MeterValues", payload),
        FrameLogged(charge_point_id, now, "received", "CALLRESULT", unique, "MeterValues", {}),
        MeterSampled(
            charge_point_id, now, 1, 1, transaction_ref, energy_wh, 11000.0, 16.0, 230.0, 42.0
        ),
        ConnectorChanged(
            charge_point_id,
            now,
            1,
            1,
            "Charging",
            11.0,
            16.0,
            230.0,
            "AC",
            1.2345,
            1234.5,
            42.0,
            vehicle_ref,
            "TAG",
            transaction_ref,
            csms_id,
        ),
        TransactionChanged(
            charge_point_id,
            now,
            transaction_ref,
            1,
            1,
            "Charging",
            "TAG",
            vehicle_ref,
            start,
            0,
            1.2345,
            csms_id,
        ),
        VehicleChanged(charge_point_id, now, vehicle_ref, 42.0, "charging"),
    ]
    unique = uuid.uuid4().hex
    heartbeat = [
        FrameLogged(charge_point_id, now, "sent", "CALL", unique, "Heartbeat", {}),
        FrameLogged(
            charge_point_id,
            now,
            "received",
            "CALLRESULT",
            unique,
            "Heartbeat",
            {"currentTime": now.isoformat()},
        ),
    ]
    return meter, heartbeat


def profile_window(output: Path, seconds: float) -> subprocess.Popen[bytes]:
    """py-spy on this process for the measured window only (not the setup, not the
    warm-up); its own CPU is another process's."""
    py_spy = Path(sys.executable).parent / "py-spy"
    return subprocess.Popen(
        [str(py_spy), "record", "--pid", str(os.getpid()), "--duration", str(round(seconds)),
         "--rate", "200", "--native", "--threads", "--format", "raw", "-o", str(output)],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def run(arguments: argparse.Namespace) -> dict[str, Any]:
    persistence = load_writer_module(arguments.writer)
    speed = arguments.speed
    with tempfile.TemporaryDirectory() as folder:
        url = fresh_database(arguments.database, Path(folder))
        try:
            upgrade(url)
            engine = make_engine(url)
            fleet = store_fleet(engine, arguments.twins)
            lenders = await state_twins()
            writer = persistence.EventWriter(
                engine,
                interval=0.5 / speed,
                prune_interval=60.0 / speed,
                progress_interval=persistence.PROGRESS_INTERVAL / speed,
                row_refresh=persistence.ROW_REFRESH / speed,
            )
            twins: list[BenchTwin] = []
            meter_events: list[list[TwinEvent]] = []
            heartbeat_events: list[list[TwinEvent]] = []
            for number, (user, cp, connector, evse, vehicle) in enumerate(fleet):
                charge_point_id = str(cp)
                writer.register(charge_point_id, persistence.TwinRows(user, {1: (connector, evse)}))
                writer.fence(charge_point_id, 1)
                twins.append(BenchTwin(charge_point_id, lenders[number % len(lenders)]))
                meter, heartbeat = twin_events(
                    charge_point_id, str(uuid.uuid4()), str(vehicle), number
                )
                meter_events.append(meter)
                heartbeat_events.append(heartbeat)
            tune_gc()  # as the host does once its twins run
            result = await feed(arguments, writer, twins, meter_events, heartbeat_events)
            engine.dispose()
        finally:
            drop_database(arguments.database)
    return {
        "benchmark": "writer",
        "database": arguments.database,
        "twins": arguments.twins,
        "speed": speed,
        "writer": arguments.writer or "worker/persistence.py",
        "label": arguments.label,
        **result,
    }


async def feed(
    arguments: argparse.Namespace,
    writer: Any,
    twins: list[BenchTwin],
    meter_events: list[list[TwinEvent]],
    heartbeat_events: list[list[TwinEvent]],
) -> dict[str, Any]:
    """Each tick, the twins whose turn it is report; measured after the warm-up."""
    loop = asyncio.get_running_loop()
    count = len(twins)
    speed = arguments.speed
    ticks = round((arguments.warmup + arguments.seconds) / TICK)
    warmup_ticks = round(arguments.warmup / TICK)
    per_meter_cycle = round(METER_INTERVAL / TICK)
    per_heartbeat_cycle = round(HEARTBEAT_INTERVAL / TICK)
    messages = 0
    cpu_start = wall_start = system_start = 0.0
    profiler: subprocess.Popen[bytes] | None = None
    writer.start()
    started = loop.time()
    for tick in range(ticks):
        if tick == warmup_ticks:
            if arguments.profile is not None:
                profiler = profile_window(arguments.profile, arguments.seconds / speed)
            cpu_start, wall_start, messages = cpu_seconds(), time.perf_counter(), 0
            system_start = resource.getrusage(resource.RUSAGE_SELF).ru_stime
        slot = tick % per_meter_cycle
        for index in range(slot * count // per_meter_cycle, (slot + 1) * count // per_meter_cycle):
            for event in meter_events[index]:
                writer(event)
            writer.state_progressed(twins[index])
            messages += 1
        slot = tick % per_heartbeat_cycle
        for index in range(
            slot * count // per_heartbeat_cycle, (slot + 1) * count // per_heartbeat_cycle
        ):
            for event in heartbeat_events[index]:
                writer(event)
            messages += 1
        await asyncio.sleep(max(0.0, started + (tick + 1) * TICK / speed - loop.time()))
    await writer.flush()
    cpu = cpu_seconds() - cpu_start
    system = resource.getrusage(resource.RUSAGE_SELF).ru_stime - system_start
    wall = time.perf_counter() - wall_start
    if profiler is not None:
        await asyncio.to_thread(profiler.wait)
    await writer.close()
    return {
        "seconds": arguments.seconds,
        "messages": messages,
        "cpu_seconds": round(cpu, 3),
        "system_cpu_seconds": round(system, 3),
        "wall_seconds": round(wall, 3),
        "cpu_s_per_1000_messages": round(cpu / messages * 1000, 4),
        "load_average": [round(value, 2) for value in os.getloadavg()],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--twins", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=60.0, help="simulated, measured")
    parser.add_argument("--warmup", type=float, default=70.0, help="simulated, not measured")
    parser.add_argument("--speed", type=float, default=3.0)
    parser.add_argument("--writer", help="another copy of worker/persistence.py")
    parser.add_argument("--label", default="")
    parser.add_argument("--results", type=Path)
    parser.add_argument(
        "--profile", type=Path, help="py-spy (raw stacks) of the measured window to this file"
    )
    arguments = parser.parse_args()
    result = asyncio.run(run(arguments))
    line = json.dumps(result)
    print(line)
    if arguments.results is not None:
        arguments.results.mkdir(parents=True, exist_ok=True)
        name = f"writer-{arguments.database}-{arguments.twins}-{arguments.label or 'run'}.json"
        (arguments.results / name).write_text(line + "\n")


if __name__ == "__main__":
    main()
