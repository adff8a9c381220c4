"""Runs a fleet's scenario: connects its charge points at a paced rate, drives the sessions
the seed draws, counts what happens, and stops cleanly.

The runner acts on its twins through commands (:func:`worker.commands.run_command`), as
the API's actions do, so it drives twins hosted in this process (embedded) and on Celery
workers (distributed) alike. Commands block a thread while they wait for their twin; the
runner keeps its own pool of threads for them so that a slow CSMS under test cannot starve
the API's request threads. Everything else runs on the event loop it was started on.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import Engine, func, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from shared.db import session_for
from shared.errors import DomainError
from shared.models import ChargePoint, Connector, Fleet, MessageLogEntry, Transaction, Vehicle
from shared.models.base import utcnow
from shared.schemas.fleet import ArrivalPublic, FleetCounts, FleetCreate, FleetPublic
from worker.commands import CommandBus, run_command
from worker.fleet import plan
from worker.fleet.metrics import LogRow, MessageStats

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: Threads that wait for commands, per fleet (a thread holds a database connection only
#: while it stores or reads the command, not while it waits).
COMMAND_THREADS = 64
#: Real seconds between two reads of the fleet's message log and connection states.
MONITOR_INTERVAL = 1.0
#: Reads, MONITOR_INTERVAL apart, of whether the disconnected twins are written as such
#: (their hosts write in batches) before the final figures are saved.
FINAL_READS = 5
#: Real seconds between two snapshots of the figures saved on the fleet's row.
SAVE_INTERVAL = 5.0
#: Arrivals kept for the summary (the first ones drawn, in the order they came).
KEPT_ARRIVALS = 1000
#: Real seconds between two reads of a session's state while it waits for a remote start
#: or a target state of charge.
POLL_INTERVAL = 0.25


@dataclass(frozen=True, slots=True)
class Bay:
    """One connector of the fleet and the vehicle that arrives at it."""

    connector: int
    connector_row: uuid.UUID
    vehicle: uuid.UUID
    id_tag: str


@dataclass(frozen=True, slots=True)
class Member:
    """One charge point of the fleet, ``index`` from 0 in fleet order."""

    index: int
    id: uuid.UUID
    speed: float
    bays: tuple[Bay, ...]


@dataclass
class _Figures:
    booted: int = 0
    connected: int = 0
    charging: int = 0
    sessions_started: int = 0
    sessions_ended: int = 0
    sessions_rejected: int = 0
    arrivals: int = 0
    faults_injected: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    connect_times: list[float] = field(default_factory=list)
    messages_per_second: float = 0.0


class FleetRunner:
    def __init__(
        self,
        engine: Engine,
        bus: CommandBus,
        fleet_id: uuid.UUID,
        user_id: uuid.UUID,
        spec: FleetCreate,
        members: list[Member],
    ) -> None:
        self.engine = engine
        self.bus = bus
        self.fleet_id = fleet_id
        self.user_id = user_id
        self.spec = spec
        self.members = members
        self.status = "connecting"
        self.figures = _Figures()
        self.stats = MessageStats({member.id: member.speed for member in members})
        self.kept_arrivals: list[ArrivalPublic] = []
        self._pool = concurrent.futures.ThreadPoolExecutor(
            COMMAND_THREADS, thread_name_prefix=f"fleet-{str(fleet_id)[:8]}"
        )
        self._tasks: set[asyncio.Task[None]] = set()
        self._ends_requested: Counter[uuid.UUID] = Counter()
        self._stopping = asyncio.Event()
        self._stopped = asyncio.Event()
        self._scenario_start = 0.0
        self._main: asyncio.Task[None] | None = None
        self._abandoned = False

    # -- life cycle --------------------------------------------------------------------

    def start(self) -> None:
        self._main = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """End the sessions towards the CSMS, unplug, disconnect; answers once done."""
        self._stopping.set()
        await self._stopped.wait()

    async def abandon(self) -> None:
        """The API is going away: stop driving the twins at once (their hosts keep them)."""
        self._abandoned = True
        if self._main is not None:
            self._main.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._main

    @property
    def running(self) -> bool:
        return not self._stopped.is_set()

    async def _run(self) -> None:
        monitor = asyncio.create_task(self._monitor())
        try:
            await self._save(status="connecting", started=True)
            await self._connect_all()
            if not self._stopping.is_set():
                self.status = "running"
                await self._save()
                self._scenario_start = asyncio.get_running_loop().time()
                for member in self.members:
                    for bay in member.bays:
                        self._spawn(self._drive(member, bay))
                duration = self.spec.scenario.duration_seconds
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), duration)
            self.status = "stopping"
            await self._save()
            await self._wind_down()
        except Exception as error:
            logger.exception("fleet %s failed", self.fleet_id)
            self.status = "failed"
            self.figures.errors[f"runner: {type(error).__name__}"] += 1
            await self._save(error=f"{type(error).__name__}: {error}")
        finally:
            monitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await monitor
            if self._abandoned:
                await self._left_behind()
            else:
                await self._finish()

    async def _finish(self) -> None:
        """The final figures: the hosts write frames and disconnections in batches."""
        with contextlib.suppress(Exception):
            ids = [member.id for member in self.members]
            for _ in range(FINAL_READS):
                await asyncio.sleep(MONITOR_INTERVAL)
                self.figures.connected = await self._in_thread(
                    lambda session: _connected(session, ids)
                )
                if self.figures.connected == 0 or self.status == "failed":
                    break
            await self._read_log()
        self.figures.messages_per_second = 0.0
        final = "failed" if self.status == "failed" else "stopped"
        with contextlib.suppress(Exception):
            await self._save(status=final, stopped=True)
        self.status = final
        self._pool.shutdown(wait=False)
        self._stopped.set()

    async def _left_behind(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        self.status = "stopped"
        with contextlib.suppress(Exception):
            await self._save(
                status="stopped",
                error="the API process that ran the fleet stopped; its charge points stay "
                "with their hosts as they were",
                stopped=True,
            )
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._stopped.set()

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- commands ----------------------------------------------------------------------

    async def _in_thread(self, function: Callable[[Session], T]) -> T:
        def run() -> T:
            with session_for(self.engine) as session:
                return function(session)

        return await asyncio.wrap_future(self._pool.submit(run))

    async def _command(self, member: Member, name: str, **arguments: object) -> dict[str, Any]:
        timeout = self.spec.scenario.command_timeout
        try:
            return await self._in_thread(
                lambda session: run_command(
                    session,
                    self.bus,
                    charge_point_id=member.id,
                    user_id=self.user_id,
                    name=name,
                    arguments=arguments,
                    timeout=timeout,
                )
            )
        except DomainError as error:
            if error.code != "rejected":
                self.figures.errors[f"{name}: {error.code or 'failed'}"] += 1
            raise
        except SQLAlchemyError as error:
            # A database that refuses a connection for a moment (too many clients) fails
            # this step, not the fleet.
            logger.warning("fleet %s: %s failed: %s", self.fleet_id, name, error)
            self.figures.errors[f"{name}: database"] += 1
            raise DomainError(f"{name}: {error}", code="database") from error

    # -- connecting --------------------------------------------------------------------

    async def _connect_all(self) -> None:
        """Connect the charge points ``connect_rate`` a second. The first connects alone
        (the measured rate leaves it out): its host does work once on a first connection
        that would otherwise hold it back and bunch it up with the next ones at the CSMS."""
        loop = asyncio.get_running_loop()
        rate = self.spec.scenario.connect_rate
        if not self.members:
            return
        began = loop.time()
        await self._connect(self.members[0])
        if rate is not None:
            began = max(began, loop.time() - 1 / rate)
        connects = []
        for number, member in enumerate(self.members[1:], start=1):
            if rate is not None:
                delay = began + number / rate - loop.time()
                if delay > 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._stopping.wait(), delay)
            if self._stopping.is_set():
                break
            self.figures.connect_times.append(loop.time())
            connects.append(asyncio.create_task(self._connect(member)))
        await asyncio.gather(*connects)

    async def _connect(self, member: Member) -> None:
        try:
            await self._command(member, "connect")
        except DomainError:
            return
        self.figures.booted += 1

    # -- the scenario ------------------------------------------------------------------

    def _simulated_now(self, member: Member) -> float:
        return (asyncio.get_running_loop().time() - self._scenario_start) * member.speed

    async def _sleep(self, seconds: float) -> bool:
        """Sleep ``seconds`` (real); False when the fleet began to stop meanwhile."""
        if seconds > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), seconds)
        return not self._stopping.is_set()

    async def _until(self, member: Member, simulated: float) -> bool:
        return await self._sleep((simulated - self._simulated_now(member)) / member.speed)

    async def _drive(self, member: Member, bay: Bay) -> None:
        for arrival in plan.arrivals(self.spec, member.index, bay.connector):
            for fault in arrival.faults_before:
                if fault.at < self._simulated_now(member):
                    continue  # the connector was busy when this fault was due
                if not await self._until(member, fault.at):
                    return
                await self._fault(member, bay, fault.duration)
            if not await self._until(member, arrival.at):
                return
            self.figures.arrivals += 1
            if len(self.kept_arrivals) < KEPT_ARRIVALS:
                self.kept_arrivals.append(
                    ArrivalPublic(
                        charge_point=arrival.charge_point,
                        connector=arrival.connector,
                        at=round(arrival.at, 3),
                        kind=arrival.kind,
                        start_soc=round(arrival.start_soc, 3),
                        dwell_time=arrival.dwell_time,
                        target_soc=arrival.target_soc,
                    )
                )
            try:
                await self._session(member, bay, arrival)
            except (DomainError, SQLAlchemyError) as error:
                if isinstance(error, SQLAlchemyError):
                    self.figures.errors["session: database"] += 1
                with contextlib.suppress(DomainError, SQLAlchemyError):
                    await self._tidy(member, bay)

    async def _fault(self, member: Member, bay: Bay, duration: float) -> None:
        try:
            await self._command(
                member, "set_faulted", connector=bay.connector, error_code="OtherError", info=None
            )
        except DomainError:
            return
        self.figures.faults_injected += 1
        await self._sleep(duration / member.speed)
        with contextlib.suppress(DomainError):
            await self._command(member, "clear_fault", connector=bay.connector)

    async def _session(self, member: Member, bay: Bay, arrival: plan.Arrival) -> None:
        await self._in_thread(
            lambda session: _set_soc(session, bay.vehicle, round(arrival.start_soc, 3))
        )
        transaction: str | None
        if arrival.kind == "remote":
            await self._command(
                member, "plug_in", connector=bay.connector, vehicle_id=str(bay.vehicle)
            )
            transaction = await self._remote_start(member, bay)
            if transaction is None:
                if not self._stopping.is_set():
                    self.figures.errors["remote start: none came"] += 1
                await self._command(member, "unplug", connector=bay.connector)
                return
        else:
            id_tag = self.spec.scenario.rejected_id_tag if arrival.kind == "rejected" else None
            try:
                result = await self._command(
                    member,
                    "start_transaction",
                    connector=bay.connector,
                    vehicle_id=str(bay.vehicle),
                    id_tag=id_tag or bay.id_tag,
                )
            except DomainError as error:
                if error.code != "rejected":
                    raise
                self.figures.sessions_rejected += 1
                if arrival.kind != "rejected":
                    self.figures.errors["start_transaction: rejected"] += 1
                await self._tidy(member, bay)
                return
            if arrival.kind == "rejected":
                self.figures.errors["rejected id tag accepted"] += 1
            transaction = str(result["transaction_id"])
        self.figures.sessions_started += 1
        self.figures.charging += 1
        try:
            await self._charge(member, bay, arrival, transaction)
        finally:
            self.figures.charging -= 1
        await self._end(member, bay, transaction)

    async def _remote_start(self, member: Member, bay: Bay) -> str | None:
        deadline = asyncio.get_running_loop().time() + (
            self.spec.scenario.remote_start_wait / member.speed
        )
        while asyncio.get_running_loop().time() < deadline and not self._stopping.is_set():
            transaction = await self._in_thread(
                lambda session: session.scalar(
                    select(Connector.transaction_id).where(Connector.id == bay.connector_row)
                )
            )
            if transaction is not None:
                return str(transaction)
            await self._sleep(POLL_INTERVAL)
        return None

    async def _charge(
        self, member: Member, bay: Bay, arrival: plan.Arrival, transaction: str
    ) -> None:
        """Until the driver leaves: after the dwell time, or once the target state of charge
        is reached (or the vehicle is full, or the session has ended otherwise), or once the
        fleet stops."""
        if arrival.dwell_time is not None:
            await self._sleep(arrival.dwell_time / member.speed)
            return
        assert arrival.target_soc is not None
        target = arrival.target_soc
        while True:
            soc, status, ended = await self._in_thread(
                lambda session: _session_state(session, bay.vehicle, uuid.UUID(transaction))
            )
            if ended or status == "full" or soc >= target:
                return
            if not await self._sleep(max(POLL_INTERVAL, 1.0)):
                return

    async def _end(self, member: Member, bay: Bay, transaction: str) -> None:
        try:
            await self._command(
                member, "stop_transaction", transaction_id=transaction, reason="Local"
            )
            self._ends_requested[member.id] += 1
        except DomainError as error:
            if error.code != "invalid_state":
                raise
        self.figures.sessions_ended += 1
        await self._command(member, "unplug", connector=bay.connector)

    async def _tidy(self, member: Member, bay: Bay) -> None:
        """After a refused or failed step: the vehicle unplugged if it still is, so that the
        bay is free for the next arrival."""
        plugged = await self._in_thread(
            lambda session: session.scalar(
                select(Connector.vehicle_id).where(Connector.id == bay.connector_row)
            )
        )
        if plugged is not None:
            with contextlib.suppress(DomainError):
                await self._command(member, "unplug", connector=bay.connector)

    # -- stopping ----------------------------------------------------------------------

    async def _wind_down(self) -> None:
        """Each driver ends what it was doing (a session is stopped towards the CSMS, the
        vehicle unplugged); then whatever the database still shows open is stopped (a
        session the CSMS started late), and every charge point disconnects."""
        self._stopping.set()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        by_id = {member.id: member for member in self.members}
        open_sessions = await self._in_thread(
            lambda session: _open_transactions(session, list(by_id))
        )

        async def end(charge_point: uuid.UUID, transaction: uuid.UUID) -> None:
            member = by_id[charge_point]
            with contextlib.suppress(DomainError):
                await self._command(
                    member, "stop_transaction", transaction_id=str(transaction), reason="Local"
                )
                self._ends_requested[member.id] += 1
                self.figures.sessions_ended += 1

        await asyncio.gather(*(end(cp, tx) for cp, tx in open_sessions))
        await self._ends_delivered()
        plugged = await self._in_thread(lambda session: _plugged(session, list(by_id)))

        async def leave(member: Member) -> None:
            for connector in plugged.get(member.id, []):
                with contextlib.suppress(DomainError):
                    await self._command(member, "unplug", connector=connector)
            with contextlib.suppress(DomainError):
                await self._command(member, "disconnect")

        await asyncio.gather(*(leave(member) for member in self.members))

    async def _ends_delivered(self) -> None:
        """Wait until the CSMS has answered every session end (a twin queues them, and one
        disconnected before would deliver them only at its next connection). The answers
        are read from the message log: without it, there is nothing to wait for."""
        if not self.spec.charge_points.message_log:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.spec.scenario.command_timeout
        while True:
            await self._read_log()
            missing = sum(
                max(requested - self.stats.ends_answered[charge_point], 0)
                for charge_point, requested in self._ends_requested.items()
            )
            if missing == 0:
                return
            if loop.time() > deadline:
                self.figures.errors["session end unanswered before disconnect"] += missing
                return
            await asyncio.sleep(POLL_INTERVAL)

    # -- figures -----------------------------------------------------------------------

    async def _monitor(self) -> None:
        loop = asyncio.get_running_loop()
        last_save = loop.time()
        last_frames, last_time = self.stats.frames, loop.time()
        ids = [member.id for member in self.members]
        while True:
            await asyncio.sleep(MONITOR_INTERVAL)
            try:
                await self._read_log()
                self.figures.connected = await self._in_thread(
                    lambda session: _connected(session, ids)
                )
                requested = await self._in_thread(
                    lambda session: session.scalar(
                        select(Fleet.stop_requested_at).where(Fleet.id == self.fleet_id)
                    )
                )
                if requested is not None:
                    self._stopping.set()
            except Exception:
                logger.exception("fleet %s: reading its figures failed", self.fleet_id)
                continue
            now = loop.time()
            self.figures.messages_per_second = round(
                (self.stats.frames - last_frames) / max(now - last_time, 1e-9), 1
            )
            last_frames, last_time = self.stats.frames, now
            if now - last_save >= SAVE_INTERVAL:
                last_save = now
                await self._save()

    async def _read_log(self) -> None:
        if not self.spec.charge_points.message_log:
            return
        ids = [member.id for member in self.members]
        while True:
            rows = await self._in_thread(
                lambda session: _log_rows(session, ids, self.stats.last_id)
            )
            self.stats.add(rows)
            if len(rows) < LOG_PAGE:
                return

    def counts(self) -> FleetCounts:
        figures = self.figures
        times = figures.connect_times
        rate = None
        if len(times) > 1 and times[-1] > times[0]:
            rate = round((len(times) - 1) / (times[-1] - times[0]), 2)
        errors = Counter(figures.errors) + self.stats.call_errors
        return FleetCounts(
            charge_points=len(self.members),
            vehicles=sum(len(member.bays) for member in self.members),
            connected=figures.connected,
            booted=figures.booted,
            connect_rate=rate,
            charging=figures.charging,
            sessions_started=figures.sessions_started,
            sessions_ended=figures.sessions_ended,
            sessions_rejected=figures.sessions_rejected,
            arrivals=figures.arrivals,
            faults_injected=figures.faults_injected,
            messages=dict(sorted(self.stats.messages.items())),
            messages_per_second=figures.messages_per_second,
            errors=dict(sorted(errors.items())),
            latency=self.stats.latency(),
        )

    async def _save(
        self,
        status: str | None = None,
        error: str | None = None,
        *,
        started: bool = False,
        stopped: bool = False,
    ) -> None:
        values: dict[str, Any] = {
            "status": status or self.status,
            "counts": self.counts().model_dump(mode="json"),
            "latency_histograms": self.stats.histograms(),
            "arrivals": [arrival.model_dump(mode="json") for arrival in self.kept_arrivals],
        }
        if error is not None:
            values["error"] = error
        if started:
            values["started_at"] = utcnow()
        if stopped:
            values["stopped_at"] = utcnow()

        def write(session: Session) -> None:
            session.execute(update(Fleet).where(Fleet.id == self.fleet_id).values(**values))
            session.commit()

        await self._in_thread(write)


#: Message log rows read per query.
LOG_PAGE = 5000


def _log_rows(session: Session, ids: list[uuid.UUID], after: int) -> list[LogRow]:
    query = (
        select(
            MessageLogEntry.id,
            MessageLogEntry.charge_point_id,
            MessageLogEntry.timestamp,
            MessageLogEntry.direction,
            MessageLogEntry.message_type,
            MessageLogEntry.unique_id,
            MessageLogEntry.action,
            MessageLogEntry.payload,
        )
        .where(MessageLogEntry.charge_point_id.in_(ids), MessageLogEntry.id > after)
        .order_by(MessageLogEntry.id)
        .limit(LOG_PAGE)
    )
    return [LogRow(*row) for row in session.execute(query)]


def _connected(session: Session, ids: list[uuid.UUID]) -> int:
    query = select(func.count()).where(ChargePoint.id.in_(ids), ChargePoint.connected)
    return session.scalar(query) or 0


def _plugged(session: Session, ids: list[uuid.UUID]) -> dict[uuid.UUID, list[int]]:
    """Per charge point, the connectors (numbers) a vehicle is plugged in at."""
    query = select(Connector.charge_point_id, Connector.connectorid).where(
        Connector.charge_point_id.in_(ids), Connector.vehicle_id.is_not(None)
    )
    plugged: dict[uuid.UUID, list[int]] = {}
    for charge_point, connector in session.execute(query):
        plugged.setdefault(charge_point, []).append(connector)
    return plugged


def _set_soc(session: Session, vehicle: uuid.UUID, soc: float) -> None:
    """A new driver's state of charge, on a vehicle that is not plugged in."""
    session.execute(
        update(Vehicle).where(Vehicle.id == vehicle, Vehicle.connector_id.is_(None)).values(soc=soc)
    )
    session.commit()


def _session_state(
    session: Session, vehicle: uuid.UUID, transaction: uuid.UUID
) -> tuple[float, str, bool]:
    from worker.readings import live_vehicle

    row = session.get(Vehicle, vehicle)
    ended = session.scalar(select(Transaction.end_time).where(Transaction.id == transaction))
    if row is None:
        return 100.0, "full", True
    live = live_vehicle(session, row)
    return live.soc, live.status, ended is not None


def _open_transactions(session: Session, ids: list[uuid.UUID]) -> list[tuple[uuid.UUID, uuid.UUID]]:
    query = select(Transaction.charge_point_id, Transaction.id).where(
        Transaction.charge_point_id.in_(ids), Transaction.end_time.is_(None)
    )
    return [(row[0], row[1]) for row in session.execute(query)]


def public(fleet: Fleet, live: tuple[str, FleetCounts] | None = None) -> FleetPublic:
    """The fleet as the API shows it: ``live`` status and figures while its runner runs,
    else those last saved."""
    status, counts = live if live is not None else (fleet.status, FleetCounts(**fleet.counts))
    return FleetPublic(
        id=fleet.id,
        name=fleet.name,
        status=status,  # type: ignore[arg-type]
        created_at=fleet.created_at,
        started_at=fleet.started_at,
        stopped_at=fleet.stopped_at,
        error=fleet.error,
        seed=fleet.specification["scenario"]["seed"],
        counts=counts,
    )
