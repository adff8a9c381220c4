"""A worker that dies, drains or pauses costs the user nothing: its twins move and their
sessions resume, and the CSMS never sees one charge point connected twice at once.

Three real `elu-twins worker` processes over real Postgres and Redis, twins charging
against the bundled CSMSs (which record every frame and connection per identity).
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from shared.csms.state import ChargePointRecord, MeterValueRecord
from shared.csms.state import Transaction as CsmsTransaction
from tests.cluster import Cluster, Worker
from tests.conftest import ClusterFactory
from tests.stack import Stack, eventually, running_distributed_stack

WORKERS = 3
#: Simulated seconds per real second: MeterValues (60 s) every 6 s, quick enough to watch.
SPEED = 10


@pytest.fixture(scope="module")
def cluster3(new_cluster: ClusterFactory) -> Iterator[Cluster]:
    # One user charges 300 twins at speed 10: up to 11 periodic messages a second each.
    with new_cluster(
        WORKERS,
        default_max_charge_points=1000,
        default_max_vehicles=1000,
        max_user_messages_per_second=4000,
    ) as running:
        yield running


@pytest.fixture
async def stack(cluster3: Cluster) -> AsyncIterator[Stack]:
    while len(cluster3.workers) < WORKERS:  # a test before may have stopped one
        cluster3.start_worker()
    async with running_distributed_stack(cluster3) as running:
        yield running


@dataclass
class Session:
    """One charging twin as the user and the CSMS see it."""

    charge_point: dict[str, Any]
    transaction: dict[str, Any]

    @property
    def cid(self) -> str:
        return str(self.charge_point["cid"])

    @property
    def protocol(self) -> str:
        return str(self.charge_point["ocpp_protocol"])


async def charging_fleet(stack: Stack, headers: dict[str, str], count: int) -> list[Session]:
    """``count`` twins, half OCPP 1.6 and half 2.0.1, each charging a vehicle."""
    bodies = [
        {
            "name": f"fleet {number}",
            "ocpp_protocol": protocol,
            "csms_url": (stack.csms_v16 if protocol == "ocpp1.6" else stack.csms_v201).ws_url,
            "speed_factor": SPEED,
            "maximum_ac_power": 22,
            "evses": [{"connectors": [{"connector_type": "cType2"}]}],
        }
        for number in range(count)
        for protocol in ["ocpp1.6" if number % 2 == 0 else "ocpp2.0.1"]
    ]
    created = await stack.public.post("/twin/charge-point/bulk", headers=headers, json=bodies)
    assert created.status_code == 200, created.text
    vehicles = await stack.public.post(
        "/twin/vehicle/bulk",
        headers=headers,
        json=[{"name": f"car {n}", "battery_capacity": 80, "soc": 20} for n in range(count)],
    )
    assert vehicles.status_code == 200, vehicles.text
    limit = asyncio.Semaphore(40)

    async def charge(charge_point: dict[str, Any], vehicle: dict[str, Any]) -> Session:
        async with limit:
            connected = await stack.action(
                "connect-charger", headers, charge_point_id=charge_point["id"]
            )
            assert connected.status_code == 200, connected.text
            connector_id = charge_point["evses"][0]["connectors"][0]["id"]
            started = await stack.action(
                "start-transaction", headers, connector_id=connector_id, vehicle_id=vehicle["id"]
            )
            assert started.status_code == 200, started.text
            return Session(connected.json(), started.json())

    return list(
        await asyncio.gather(
            *(charge(cp, v) for cp, v in zip(created.json(), vehicles.json(), strict=True))
        )
    )


def csms_record(stack: Stack, session: Session) -> ChargePointRecord:
    csms = stack.csms_v16 if session.protocol == "ocpp1.6" else stack.csms_v201
    return csms.state.charge_points[session.cid]


def csms_transactions(stack: Stack, session: Session) -> list[CsmsTransaction]:
    csms = stack.csms_v16 if session.protocol == "ocpp1.6" else stack.csms_v201
    return csms.state.find_transactions(charge_point_id=session.cid)


def received_calls(record: ChargePointRecord, action: str) -> list[Any]:
    return [
        message
        for message in record.messages.page(0, len(record.messages))
        if message.direction == "received"
        and message.action == action
        and message.message_type == "CALL"
    ]


def register_wh(meter_value: MeterValueRecord) -> float | None:
    for sampled in meter_value.sampled_value:
        if sampled.get("measurand", "Energy.Active.Import.Register") == (
            "Energy.Active.Import.Register"
        ):
            unit = sampled.get("unitOfMeasure", {}).get("unit") or sampled.get("unit") or "Wh"
            value = float(sampled["value"])
            return value * 1000 if unit == "kWh" else value
    return None


def registers(transaction: CsmsTransaction) -> list[float]:
    return [
        value
        for value in (register_wh(meter_value) for meter_value in transaction.meter_values)
        if value is not None
    ]


def worker_named(cluster: Cluster, name: str) -> Worker:
    return next(worker for worker in cluster.workers if worker.name == name)


async def twins_by_host(stack: Stack, sessions: list[Session]) -> dict[str, list[str]]:
    """Where the sessions' twins run (earlier tests' twins stay where they were)."""
    ours = {session.charge_point["id"] for session in sessions}
    by_host: dict[str, list[str]] = {}
    for charge_point_id, host in (await stack.hosted_twins()).items():
        if charge_point_id in ours:
            by_host.setdefault(host, []).append(charge_point_id)
    return by_host


def assert_resumed(
    stack: Stack, session: Session, before: dict[str, Any], *, crashed: bool = False
) -> None:
    """The session the CSMS knew goes on: one transaction, never a second start, no reboot,
    the register never goes back, 2.0.1 seqNo continues, one connection at a time.

    After a crash (``crashed``), seqNo may skip the numbers of the periodic events the
    dead worker may have sent after its last save; after a drain it has no gap."""
    record = csms_record(stack, session)
    (transaction,) = csms_transactions(stack, session)
    assert transaction.id == before["transaction_id"]
    assert not transaction.ended
    values = registers(transaction)
    assert values == sorted(values), f"{session.cid}: the register went back: {values}"
    assert values[-1] >= before["register"]
    assert len(values) > before["meter_values"], f"{session.cid}: no meter value since"
    assert len(received_calls(record, "BootNotification")) == 1, "a reconnect, not a reboot"
    assert record.replaced_connections == 0
    if session.protocol == "ocpp1.6":
        assert len(received_calls(record, "StartTransaction")) == 1
    else:
        started = [event for event in transaction.events if event.event_type == "Started"]
        assert len(started) == 1
        first_of_each: dict[int, Any] = {}
        for event in transaction.events:
            # At-least-once: a message the dead worker sent but had not yet recorded as
            # answered comes again, with its own seqNo; a new message never takes a used one.
            seen = first_of_each.setdefault(event.seq_no, event)
            assert (seen.timestamp, seen.event_type, seen.trigger_reason) == (
                event.timestamp,
                event.event_type,
                event.trigger_reason,
            ), f"{session.cid}: seqNo {event.seq_no} reused for another event"
        seq_nos = list(first_of_each)
        if crashed:
            assert seq_nos == sorted(seq_nos), f"{session.cid}: seqNo out of order: {seq_nos}"
        else:
            assert seq_nos == list(range(len(seq_nos))), f"{session.cid}: seqNo gap: {seq_nos}"
    resynchronised = [
        status for status in record.connectors.values() if status.received_at > before["at"]
    ]
    assert resynchronised, f"{session.cid}: no StatusNotification after the reconnect"


def before_the_move(stack: Stack, session: Session) -> dict[str, Any]:
    (transaction,) = csms_transactions(stack, session)
    values = registers(transaction)
    return {
        "transaction_id": transaction.id,
        "register": values[-1] if values else 0.0,
        "meter_values": len(transaction.meter_values),
        "at": csms_record(stack, session).connected_at,
    }


async def moved_and_connected(
    stack: Stack, moved: list[Session], away_from: str, timeout: float
) -> None:
    """Wait until every moved twin runs on another host and is connected a second time."""

    async def where() -> dict[str, str]:
        return await stack.hosted_twins()

    def arrived(hosted: dict[str, str]) -> bool:
        return all(
            hosted.get(s.charge_point["id"]) not in (None, away_from)
            and csms_record(stack, s).connections == 2
            and csms_record(stack, s).connected
            for s in moved
        )

    await eventually(where, arrived, timeout=timeout)


async def metered_again(
    stack: Stack, moved: list[Session], before: dict[str, dict[str, Any]]
) -> None:
    """Wait until every moved session has sent a meter value since it moved."""

    async def metered() -> bool:
        return all(
            len(csms_transactions(stack, s)[0].meter_values) > before[s.cid]["meter_values"]
            for s in moved
        )

    await eventually(metered, bool, timeout=30)


async def all_metering(stack: Stack, sessions: list[Session]) -> None:
    async def metered() -> bool:
        return all(
            transactions and registers(transactions[0])
            for transactions in (csms_transactions(stack, s) for s in sessions)
        )

    await eventually(metered, bool, timeout=60)


async def test_kill_9_of_a_worker_resumes_its_300_charging_sessions_on_the_others(
    stack: Stack, cluster3: Cluster
) -> None:
    headers = await stack.account()
    sessions = await charging_fleet(stack, headers, 300)
    await all_metering(stack, sessions)
    by_host = await twins_by_host(stack, sessions)
    assert sorted(by_host) == sorted(stack.hosts)
    counts = [len(twins) for twins in by_host.values()]
    assert max(counts) - min(counts) <= 10, f"placement is uneven: {counts}"

    victim = max(by_host, key=lambda host: len(by_host[host]))
    moved = [s for s in sessions if s.charge_point["id"] in set(by_host[victim])]
    before = {s.cid: before_the_move(stack, s) for s in moved}
    killed_at = time.monotonic()
    worker_named(cluster3, victim).process.send_signal(signal.SIGKILL)

    await moved_and_connected(stack, moved, away_from=victim, timeout=45)
    took = time.monotonic() - killed_at
    assert took < 30, f"the twins of the killed worker took {took:.1f} s to come back"

    await metered_again(stack, moved, before)
    for session in moved:
        assert_resumed(stack, session, before[session.cid], crashed=True)
    answer = await stack.public.get(
        f"/operations/charge_point/transaction/{moved[0].transaction['id']}", headers=headers
    )
    assert answer.json()["status"] == "Charging"
    assert answer.json()["end_time"] is None
    cluster3.workers.remove(worker_named(cluster3, victim))


async def test_sigterm_drains_a_worker_its_twins_move_within_10_s(
    stack: Stack, cluster3: Cluster
) -> None:
    headers = await stack.account()
    sessions = await charging_fleet(stack, headers, 30)
    await all_metering(stack, sessions)
    by_host = await twins_by_host(stack, sessions)
    leaving = max(by_host, key=lambda host: len(by_host[host]))
    moved = [s for s in sessions if s.charge_point["id"] in set(by_host[leaving])]
    before = {s.cid: before_the_move(stack, s) for s in moved}

    worker = worker_named(cluster3, leaving)
    asked_at = time.monotonic()
    worker.process.send_signal(signal.SIGTERM)

    await moved_and_connected(stack, moved, away_from=leaving, timeout=30)
    took = time.monotonic() - asked_at
    assert took < 10, f"draining took {took:.1f} s"
    assert worker.process.wait(30) == 0
    cluster3.workers.remove(worker)

    await metered_again(stack, moved, before)
    for session in moved:
        assert_resumed(stack, session, before[session.cid])


async def test_a_paused_worker_goes_quiet_and_never_connects_its_twins_again(
    stack: Stack, cluster3: Cluster
) -> None:
    headers = await stack.account()
    sessions = await charging_fleet(stack, headers, 12)
    await all_metering(stack, sessions)
    by_host = await twins_by_host(stack, sessions)
    paused = max(by_host, key=lambda host: len(by_host[host]))
    moved = [s for s in sessions if s.charge_point["id"] in set(by_host[paused])]
    assert moved
    worker = worker_named(cluster3, paused)

    worker.process.send_signal(signal.SIGSTOP)
    try:

        async def where() -> dict[str, str]:
            return await stack.hosted_twins()

        def taken_over(hosted: dict[str, str]) -> bool:
            return all(
                hosted.get(s.charge_point["id"]) not in (None, paused)
                and csms_record(stack, s).connections >= 2
                and csms_record(stack, s).connected
                for s in moved
            )

        await eventually(where, taken_over, timeout=45)
    finally:
        worker.process.send_signal(signal.SIGCONT)
    connections = {s.cid: csms_record(stack, s).connections for s in moved}
    frames = {s.cid: len(csms_record(stack, s).messages) for s in moved}

    await asyncio.sleep(8)  # the woken worker renews its lease, finds its twins gone

    hosts = {host["name"]: host for host in (await stack.private.get("/hosts")).json()}
    assert hosts[paused]["alive"] is True, "the woken worker takes new twins again"
    assert not {s.charge_point["id"] for s in moved} & {t["id"] for t in hosts[paused]["twins"]}
    for session in moved:
        record = csms_record(stack, session)
        assert record.connections == connections[session.cid], "the old worker reconnected"
        assert record.connected
        assert len(csms_transactions(stack, session)) == 1
        assert len(record.messages) >= frames[session.cid]
    log = worker.log.read_text()
    assert "lost its lease" in log, log[-2000:]


async def test_a_command_sent_while_its_twin_moves_is_carried_out_once(
    stack: Stack, cluster3: Cluster
) -> None:
    headers = await stack.account()
    sessions = await charging_fleet(stack, headers, 12)
    by_host = await twins_by_host(stack, sessions)
    leaving = max(by_host, key=lambda host: len(by_host[host]))
    moving = [s for s in sessions if s.charge_point["id"] in set(by_host[leaving])]
    assert moving
    worker = worker_named(cluster3, leaving)

    worker.process.send_signal(signal.SIGTERM)
    answers = await asyncio.gather(
        *(
            stack.action(
                "data-transfer",
                headers,
                charge_point_id=session.charge_point["id"],
                vendor_id="elu.test",
                message_id="move",
                data=f"once-{session.cid}",
                timeout=30,
            )
            for session in moving
        )
    )
    assert [answer.status_code for answer in answers] == [200] * len(moving), [
        answer.text for answer in answers
    ]
    assert worker.process.wait(30) == 0
    cluster3.workers.remove(worker)
    for session in moving:
        transfers = [
            call
            for call in received_calls(csms_record(stack, session), "DataTransfer")
            if call.payload.get("data") == f"once-{session.cid}"
        ]
        assert len(transfers) == 1, f"{session.cid}: carried out {len(transfers)} times"
        assert csms_record(stack, session).replaced_connections == 0


async def test_a_worker_that_joins_takes_the_new_twins(stack: Stack, cluster3: Cluster) -> None:
    headers = await stack.account()
    joined = cluster3.start_worker()
    try:
        stack.hosts = cluster3.host_pids()
        sessions = await charging_fleet(stack, headers, 4)
        by_host = await twins_by_host(stack, sessions)
        assert by_host.get(joined.name), f"the new worker took none of {by_host}"
    finally:
        cluster3.stop_worker(joined)
