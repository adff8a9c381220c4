"""Hosts many charge point twins on one asyncio loop and carries out commands for them.

The host is the only place where twins meet the database: it builds a twin's
configuration from the stored charge point, gives it a clock, the event writer
as its sink and state store, and records each command's outcome. The same host
runs in the embedded process and inside each Celery worker.

It holds its twins by a lease (:mod:`worker.leases`). A twin's state is saved as
it changes; a host that starts, or takes a twin over from one that died or
drained, restores it: within ``resume_window`` of the last moment the twin was
known alive its sessions resume (the CSMS sees a reconnect); after longer, the
twin boots like a charger after a power loss and ends them towards the CSMS.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable, Collection, Coroutine, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session, selectinload

from shared.db import session_for
from shared.models import (
    ChargePoint,
    Command,
    Connector,
    Evse,
    Transaction,
    TwinHost,
    TwinState,
    Vehicle,
)
from shared.models.base import utcnow
from worker import leases
from worker.leases import LeaseClock
from worker.live import LiveEvents, Watched
from worker.persistence import EventWriter, TwinRows
from worker.twin import security
from worker.twin.charge_point import ChargePointTwin
from worker.twin.clock import Clock, SystemClock
from worker.twin.config import ChargePointConfig, ConnectorConfig, EvseConfig
from worker.twin.errors import CommandTimeout, InvalidState, TwinError, UnknownTarget
from worker.twin.state import time_from_state
from worker.twin.vehicle import ChargingCurve
from worker.twin.vehicle import Vehicle as VehicleModel

logger = logging.getLogger(__name__)

#: Makes a twin's clock from its speed and, for a resumed twin, the simulated time to go on from.
ClockFactory = Callable[[float, datetime | None], Clock]
#: Called with a command's id and outcome once it is stored (distributed: Redis).
OutcomeListener = Callable[[uuid.UUID, dict[str, Any]], None]
#: Hands a task to another host: (host name, task name, arguments).
Forwarder = Callable[[str, str, dict[str, Any]], None]

#: Seconds between looks for twins that lost their host (distributed mode).
ADOPT_INTERVAL = 2.0
#: Real seconds a drain or close waits for the twins to close their websockets.
CLOSE_TIMEOUT = 8.0
#: Real seconds a command that needs the CSMS waits for a twin that is reconnecting.
RECONNECT_GRACE = 10.0
#: Real seconds of a remove command kept for closing the twin and writing its rows, after
#: waiting for the CSMS to have its stop messages.
REMOVE_MARGIN = 3.0
#: Real seconds between two writes of the outcomes of a bulk action's finished commands.
BULK_FINISH_INTERVAL = 0.2
#: Real seconds: a bulk action loads together what its commands begun within this need
#: (later ones, paced, load their own when they begin, so that they read it fresh).
PRELOAD_HORIZON = 1.0
#: The desired state each command stores (the bulk path stores it for all in one go).
DESIRED_STATE = {"connect": "connected", "disconnect": "disconnected"}


#: What a host loads to build a twin: its configuration, its rows, its saved state, and
#: whether the user wants it connected.
LoadedTwin = tuple[ChargePointConfig, TwinRows, "SavedTwin | None", bool]


def default_host_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class TwinMoved(Exception):
    """The twin a command is for is held by another live host."""

    def __init__(self, host: str) -> None:
        super().__init__(host)
        self.host = host


class TwinMoving(Exception):
    """The twin's host is handing it over: its next host carries out its commands."""


@dataclass(frozen=True, slots=True)
class SavedTwin:
    """What a host needs to resume a twin: its stored state, when it was saved and when the
    twin was last alive (real time)."""

    state: dict[str, Any]
    saved_at: datetime
    last_alive: datetime

    def simulated(self, when: datetime, speed: float) -> datetime:
        """The twin's own (simulated) time at the real time ``when``: its clock carries on
        from the time it saved, at its speed, so that a twin running faster than real
        time neither jumps back nor dates a power loss in its own past."""
        simulated_at_save = time_from_state(self.state.get("saved_at")) or self.saved_at
        return simulated_at_save + (when - self.saved_at) * speed


class Host:
    """``exclusive``: the only host of its database (embedded mode), which never has to
    fear that another host took its twins; a distributed worker is not, adopts the
    twins of hosts that died, and gates every frame on its lease."""

    def __init__(
        self,
        engine: Engine,
        name: str | None = None,
        *,
        clock_factory: ClockFactory = lambda speed, start: SystemClock(speed=speed, start=start),
        write_interval: float = 0.5,
        ca_file: Path | None = None,
        message_log_limit: int = 100_000,
        lease_seconds: float = 15.0,
        resume_window: float = 300.0,
        exclusive: bool = True,
        on_outcome: OutcomeListener | None = None,
        forward: Forwarder | None = None,
    ) -> None:
        self.engine = engine
        self.ca_file = ca_file
        self.name = name or default_host_name()
        self.clock_factory = clock_factory
        self.resume_window = timedelta(seconds=resume_window)
        self.exclusive = exclusive
        self.on_outcome = on_outcome
        self.forward = forward
        self.lease = LeaseClock(lease_seconds)
        self.writer = EventWriter(
            engine,
            interval=write_interval,
            message_log_limit=message_log_limit,
            on_lost=self._lost,
            host_name=self.name,
        )
        #: The twins' event sink: persists through the writer, streams to live viewers.
        self.live = LiveEvents(self.writer)
        self.twins: dict[uuid.UUID, ChargePointTwin] = {}
        self.loop: asyncio.AbstractEventLoop | None = None
        self._previous_heartbeat: datetime | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._background: set[asyncio.Future[None]] = set()
        self._stopped = False
        self._in_flight = 0
        self._commands_done = asyncio.Event()
        self._commands_done.set()
        self._building: dict[uuid.UUID, asyncio.Lock] = {}
        #: Twins' configurations a bulk action loaded together, until each twin is built.
        self._preloaded: dict[uuid.UUID, LoadedTwin] = {}
        #: Vehicles a bulk action loaded together, until its command for each reads it.
        self._preloaded_vehicles: dict[uuid.UUID, Vehicle] = {}
        self._handlers: dict[str, Callable[[Command], Awaitable[dict[str, Any]]]] = {
            "connect": self._connect,
            "disconnect": self._disconnect,
            "plug_in": self._plug_in,
            "unplug": self._unplug,
            "start_transaction": self._start_transaction,
            "stop_transaction": self._stop_transaction,
            "set_faulted": self._set_faulted,
            "clear_fault": self._clear_fault,
            "remove": self._remove,
            "data_transfer": self._data_transfer,
            "certificate_request": self._certificate_request,
            "set_firmware_failure": self._set_firmware_failure,
        }

    # -- lifecycle ---------------------------------------------------------------

    async def start(self) -> None:
        """Take the lease, start writing events, clear what a previous run left."""
        self.loop = asyncio.get_running_loop()
        self.lease.renewing()
        renewed = await asyncio.to_thread(
            leases.renew, self.engine, self.name, os.getpid(), self.lease.seconds
        )
        self.lease.renewed()
        self._previous_heartbeat = renewed.previous_heartbeat
        self.writer.start()
        await asyncio.to_thread(self._reconcile)
        self._tasks.append(asyncio.create_task(self._keep_lease()))
        if not self.exclusive:
            self._tasks.append(asyncio.create_task(self._adopt_orphans()))

    async def restore(self) -> None:
        """Host again the twins this host held, and (embedded) those nobody holds that the
        user left connected: their sessions resume (call once their CSMS can answer)."""
        for charge_point_id in await asyncio.to_thread(self._twins_to_restore):
            await self.host_twin(charge_point_id)

    async def host_twin(self, charge_point_id: uuid.UUID) -> None:
        """Run a twin placed on this host: restore it, and connect it if the user wants."""
        try:
            await self._twin(charge_point_id)
            await self._run_pending_commands(charge_point_id)
        except (TwinMoved, TwinMoving):
            logger.info("charge point %s is hosted elsewhere now", charge_point_id)
        except Exception:
            logger.exception("could not host charge point %s", charge_point_id)

    async def close(self) -> None:
        """Stop: save every twin's state for resume and close every websocket promptly.

        The host keeps its claim on its twins (embedded: the next start resumes them).
        """
        await self._stop_twins()

    async def drain(self) -> None:
        """Stop and hand every twin over to the other hosts (SIGTERM of a worker)."""
        await asyncio.to_thread(leases.mark_draining, self.engine, self.name)
        await self._stop_twins()
        await asyncio.to_thread(leases.release_all, self.engine, self.name)
        await asyncio.to_thread(leases.end_lease, self.engine, self.name)

    async def _stop_twins(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        for task in self._tasks:
            task.cancel()
        with contextlib.suppress(TimeoutError):  # commands begun finish, within bounds
            await asyncio.wait_for(self._commands_done.wait(), CLOSE_TIMEOUT)
        twins = list(self.twins.values())
        for twin in twins:
            twin.freeze()  # the state saved now is the last word: no sample after it
            self.writer.state_changed(twin)
        await self.writer.flush(everything=True)
        if twins:
            closing = [asyncio.ensure_future(twin.close()) for twin in twins]
            _, late = await asyncio.wait(closing, timeout=CLOSE_TIMEOUT)
            for task in late:
                task.cancel()
            if late:
                logger.warning("%d twin(s) did not close within %g s", len(late), CLOSE_TIMEOUT)
        await self.writer.close()
        self.live.close()

    async def _keep_lease(self) -> None:
        """Renew the lease (the heartbeat operators see) a few times per lease period.

        A host whose lease ran out (it was paused, or could not reach the database)
        hands its twins back before it takes a new lease, so that no twin placed on
        it afresh is handed back by mistake.
        """
        while True:
            await asyncio.sleep(self.lease.seconds / 4)
            try:
                if not self.exclusive and not self.lease.valid():
                    await self._hand_back()
                self.lease.renewing()
                renewed = await asyncio.to_thread(
                    leases.renew, self.engine, self.name, os.getpid(), self.lease.seconds
                )
                self.lease.renewed()
                if not self.exclusive and renewed.lapsed:  # the database's clock says so
                    await self._hand_back()
            except Exception:
                logger.exception("could not renew the lease of host %s", self.name)

    async def _hand_back(self) -> None:
        """The lease ran out: others may hold our twins now. Drop them all without a word
        to their CSMSs (the lease already keeps them quiet) and let placement give them
        out afresh. Raises while the database cannot be reached (tried again later)."""
        if self.twins:
            logger.warning("host %s lost its lease; handing its twins back", self.name)
        twins, self.twins = list(self.twins.values()), {}
        for twin in twins:
            self.writer.forget(twin.config.charge_point_id)
            self.live.forget(twin.config.charge_point_id)
        await asyncio.gather(*(twin.close() for twin in twins), return_exceptions=True)
        await asyncio.to_thread(leases.release_all, self.engine, self.name)

    def _lost(self, charge_point_id: str) -> None:
        """The state store found that another host holds the twin now: stop running it."""
        twin = self.twins.pop(uuid.UUID(charge_point_id), None)
        if twin is not None:
            logger.warning("%s moved to another host; closing it here", twin.config.cid)
            self.writer.forget(charge_point_id)
            self.live.forget(charge_point_id)
            self.spawn(twin.close())

    def spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        """Run in the background, keeping a reference until done (the loop keeps none)."""
        task = asyncio.ensure_future(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def permit(self, charge_point_id: uuid.UUID) -> bool:
        """Whether this host may still talk to the twin's CSMS (checked before every frame)."""
        return self.exclusive or (self.lease.valid() and charge_point_id in self.twins)

    async def _adopt_orphans(self) -> None:
        """Find twins whose host is gone and place them on the least loaded live host."""
        while True:
            await asyncio.sleep(ADOPT_INTERVAL)
            try:
                for host, charge_point_id in await asyncio.to_thread(self._place_orphans):
                    if host == self.name:
                        self.spawn(self.host_twin(charge_point_id))
                    elif self.forward is not None:
                        self.forward(host, "host_twin", {"charge_point_id": str(charge_point_id)})
                await self._host_what_is_mine()
            except Exception:
                logger.exception("looking for twins without a host failed")

    def _place_orphans(self) -> list[tuple[str, uuid.UUID]]:
        placed = []
        with session_for(self.engine) as session:
            dead_hosts = set()
            for orphan in leases.orphans(session):
                if orphan.host is not None:
                    dead_hosts.add(orphan.host)
                target = leases.assign(session, orphan)
                if target is not None:
                    placed.append((target[0], orphan.charge_point_id))
            for dead in dead_hosts:
                self._fail_running_commands(session, dead)
            session.commit()
        return placed

    async def _host_what_is_mine(self) -> None:
        """Twins placed here whose hosting task went astray are hosted all the same."""
        mine = await asyncio.to_thread(self._twins_to_restore)
        for charge_point_id in mine:
            if charge_point_id not in self.twins:
                await self.host_twin(charge_point_id)

    def _fail_running_commands(self, session: Session, dead_host: str) -> None:
        """Commands a dead host had started have an unknown outcome: say so."""
        session.execute(
            update(Command)
            .where(Command.host == dead_host, Command.status == "running")
            .values(
                status="failed",
                error_code="host_died",
                error_message=f"the twin's host {dead_host} stopped while carrying out the "
                "command; its outcome is unknown",
                finished_at=utcnow(),
            )
        )

    def _reconcile(self) -> None:
        """Make the stored live state match a host that has just started with no twin running.

        The twins this host held are restored from their saved state by
        :meth:`restore`; until then they are not connected. A twin with no saved
        state has no memory of its sessions: they are ended here (PowerLoss), and
        its connectors and vehicles are freed. Commands a previous run of this host
        had not finished failed with it: whoever sent them has stopped waiting.
        """
        with session_for(self.engine) as session:
            hosted = select(ChargePoint.id).where(ChargePoint.host == self.name)
            forgotten = hosted.where(~ChargePoint.id.in_(select(TwinState.charge_point_id)))
            connectors = select(Connector.id).where(Connector.charge_point_id.in_(forgotten))
            now = utcnow()
            session.execute(
                update(Transaction)
                .where(Transaction.charge_point_id.in_(forgotten), Transaction.end_time.is_(None))
                .values(status="Ended", end_time=now, stop_reason="PowerLoss")
            )
            session.execute(
                update(Vehicle)
                .where(Vehicle.connector_id.in_(connectors))
                .values(connector_id=None, transaction_id=None, status="ready-to-charge")
            )
            session.execute(
                update(Connector)
                .where(Connector.id.in_(connectors))
                .values(
                    vehicle_id=None,
                    transaction_id=None,
                    transactionid=None,
                    id_tag=None,
                    current_ac_power=0.0,
                    current_ac_current=0.0,
                    current_dc_power=0.0,
                    current_dc_current=0.0,
                    current_energy=0.0,
                )
            )
            session.execute(
                update(Connector)
                .where(Connector.charge_point_id.in_(hosted))
                .values(status="Unavailable")
            )
            session.execute(
                update(Evse)
                .where(Evse.charge_point_id.in_(hosted))
                .values(status="Unavailable", active_connector_id=None)
            )
            session.execute(
                update(ChargePoint)
                .where(ChargePoint.host == self.name)
                .values(connected=False, status="Unavailable")
            )
            session.execute(
                update(Command)
                .where(Command.status.in_(("pending", "running")))
                .where((Command.host == self.name) | Command.host.is_(None))
                .where(Command.charge_point_id.in_(hosted))
                .values(
                    status="failed",
                    error_code="host_restarted",
                    error_message="the twin's host stopped before the command finished",
                    finished_at=now,
                )
            )
            session.commit()

    def _twins_to_restore(self) -> list[uuid.UUID]:
        """Twins held here; an exclusive host also takes those nobody holds that the user
        left connected."""
        with session_for(self.engine) as session:
            held = ChargePoint.host == self.name
            if self.exclusive:
                held = held | (
                    ChargePoint.host.is_(None) & (ChargePoint.desired_state == "connected")
                )
            return list(session.scalars(select(ChargePoint.id).where(held)))

    async def _run_pending_commands(self, charge_point_id: uuid.UUID) -> None:
        """Commands that waited for the twin while it moved are carried out here, once."""
        for command_id in await asyncio.to_thread(self._pending_commands, charge_point_id):
            await self.execute(command_id)

    def _pending_commands(self, charge_point_id: uuid.UUID) -> list[uuid.UUID]:
        with session_for(self.engine) as session:
            return list(
                session.scalars(
                    select(Command.id)
                    .where(Command.charge_point_id == charge_point_id, Command.status == "pending")
                    .order_by(Command.created_at)
                )
            )

    # -- commands ----------------------------------------------------------------

    async def execute(self, command_id: uuid.UUID) -> None:
        """Carry out one stored command and store its outcome (never raises for twin errors).

        A command is claimed (pending → running) at most once, whichever host
        receives it; one for a twin that another live host holds now is passed on.
        A host that stops lets the commands it has begun finish first.
        """
        if self._stopped:  # draining: whoever takes the twin over finds the command pending
            return
        self._in_flight += 1
        self._commands_done.clear()
        try:
            await self._execute(command_id)
        finally:
            self._in_flight -= 1
            if not self._in_flight:
                self._commands_done.set()

    async def _execute(self, command_id: uuid.UUID) -> None:
        try:
            command = await asyncio.to_thread(self._claim, command_id)
        except TwinMoved as moved:
            if self.forward is not None:
                self.forward(moved.host, "run_command", {"command_id": str(command_id)})
            return
        except TwinMoving:
            return
        if command is None:
            return
        outcome = await self._outcome(command)
        await self.writer.flush()
        await asyncio.to_thread(self._finish, command.id, outcome)

    async def _outcome(
        self,
        command: Command,
        handlers: dict[str, Callable[[Command], Awaitable[dict[str, Any]]]] | None = None,
    ) -> dict[str, Any]:
        """Carry out a claimed command: the fields of its outcome (never raises)."""
        outcome: dict[str, Any] = {}
        try:
            handler = (handlers or self._handlers).get(command.name)
            if handler is None:
                raise InvalidState(f"unknown command {command.name!r}")
            result = await asyncio.wait_for(handler(command), command.timeout_seconds)
            outcome = {"status": "succeeded", "result": result}
        except TwinError as error:
            outcome = {"status": "failed", "error_code": error.code, "error_message": error.message}
        except TimeoutError:
            error = CommandTimeout(
                f"{command.name} did not finish within {command.timeout_seconds:g} s"
            )
            outcome = {"status": "timed_out", "error_code": error.code, "error_message": str(error)}
        except Exception as error:
            logger.exception("command %s (%s) failed", command.id, command.name)
            outcome = {
                "status": "failed",
                "error_code": "internal",
                "error_message": f"internal error: {type(error).__name__}: {error}",
            }
        return outcome

    async def execute_many(
        self, command_ids: Sequence[uuid.UUID], delays: Sequence[float] | None = None
    ) -> None:
        """Carry out the commands of a bulk action, each begun its delay (seconds) after
        now (None: all at once), and store their outcomes in batches.

        They are claimed in one transaction; one whose twin this host does not hold
        takes the single path (:meth:`execute`: taken over or passed on).
        """
        if self._stopped:
            return
        self._in_flight += 1
        self._commands_done.clear()
        try:
            await self._execute_many(command_ids, delays or [0.0] * len(command_ids))
        finally:
            self._in_flight -= 1
            if not self._in_flight:
                self._commands_done.set()

    async def _execute_many(
        self, command_ids: Sequence[uuid.UUID], delays: Sequence[float]
    ) -> None:
        claimed, elsewhere = await asyncio.to_thread(self._claim_many, command_ids)
        delay_of = dict(zip(command_ids, delays, strict=True))
        finished: list[tuple[uuid.UUID, dict[str, Any]]] = []
        soon = [command for command in claimed if delay_of[command.id] <= PRELOAD_HORIZON]
        to_build = {
            command.charge_point_id
            for command in soon
            if (twin := self.twins.get(command.charge_point_id)) is None
            or (command.name == "connect" and self._idle(twin))
        }
        desired = {
            command.charge_point_id: DESIRED_STATE[command.name]
            for command in claimed
            if command.name in DESIRED_STATE
        }
        self._preloaded |= await asyncio.to_thread(self._load_configs, to_build, desired)
        vehicle_ids = {
            uuid.UUID(command.arguments["vehicle_id"])
            for command in soon
            if command.arguments.get("vehicle_id")
        }
        if vehicle_ids:
            self._preloaded_vehicles |= await asyncio.to_thread(self._load_vehicles, vehicle_ids)
        handlers = self._handlers | {
            "connect": self._connect_stored,
            "disconnect": self._disconnect_stored,
        }

        async def run(command: Command, delay: float) -> None:
            if delay:
                await asyncio.sleep(delay)
            finished.append((command.id, await self._outcome(command, handlers)))

        pending = {asyncio.ensure_future(run(command, delay_of[command.id])) for command in claimed}
        pending |= {asyncio.ensure_future(self._execute(id)) for id in elsewhere}
        try:
            while pending:
                _, pending = await asyncio.wait(pending, timeout=BULK_FINISH_INTERVAL)
                if finished:
                    batch = finished[:]
                    del finished[:]
                    await self.writer.flush()
                    await asyncio.to_thread(self._finish_many, batch)
        finally:
            for charge_point_id in to_build:
                self._preloaded.pop(charge_point_id, None)
            for vehicle_id in vehicle_ids:
                self._preloaded_vehicles.pop(vehicle_id, None)

    def _claim_many(
        self, command_ids: Sequence[uuid.UUID]
    ) -> tuple[list[Command], list[uuid.UUID]]:
        """Claim the pending commands whose twin this host holds (embedded: all of them);
        answers them, and the ids of the others."""
        with session_for(self.engine) as session:
            commands = list(
                session.scalars(
                    select(Command).where(Command.id.in_(command_ids), Command.status == "pending")
                )
            )
            elsewhere: list[uuid.UUID] = []
            if not self.exclusive:
                holders = dict(
                    session.execute(
                        select(ChargePoint.id, ChargePoint.host).where(
                            ChargePoint.id.in_({c.charge_point_id for c in commands})
                        )
                    ).all()
                )
                elsewhere = [c.id for c in commands if holders.get(c.charge_point_id) != self.name]
                commands = [c for c in commands if holders.get(c.charge_point_id) == self.name]
            claimed = set(
                session.scalars(
                    update(Command)
                    .where(Command.id.in_([c.id for c in commands]), Command.status == "pending")
                    .values(status="running", host=self.name)
                    .returning(Command.id)
                    .execution_options(synchronize_session=False)
                )
            )
            session.commit()
            return [c for c in commands if c.id in claimed], elsewhere

    def _finish_many(self, outcomes: list[tuple[uuid.UUID, dict[str, Any]]]) -> None:
        """Store the outcomes of many commands in one transaction, then announce each."""
        now = utcnow()
        with session_for(self.engine) as session:
            session.execute(
                update(Command),
                [
                    {
                        "id": command_id,
                        "result": None,
                        "error_code": None,
                        "error_message": None,
                        **outcome,
                        "finished_at": now,
                    }
                    for command_id, outcome in outcomes
                ],
            )
            session.commit()
        if self.on_outcome is not None:
            for command_id, outcome in outcomes:
                try:
                    self.on_outcome(command_id, outcome)
                except Exception:
                    logger.exception("could not announce the outcome of command %s", command_id)

    def _claim(self, command_id: uuid.UUID) -> Command | None:
        with session_for(self.engine) as session:
            command = session.get(Command, command_id)
            if command is None or command.status != "pending":
                return None
            if not self.exclusive:
                self._hold(session, command.charge_point_id)
            claimed = session.execute(
                update(Command)
                .where(Command.id == command_id, Command.status == "pending")
                .values(status="running", host=self.name)
                .execution_options(synchronize_session=False)
            )
            session.commit()
            if claimed.rowcount != 1:  # type: ignore[attr-defined]
                return None
            session.refresh(command)
            return command

    def _hold(self, session: Session, charge_point_id: uuid.UUID) -> None:
        """Make sure this host holds the twin: take it if its host is gone, or raise
        :class:`TwinMoved` if another live host has it (:class:`TwinMoving` if that host
        is handing it over)."""
        row = session.execute(
            select(ChargePoint.host, ChargePoint.lease_token).where(
                ChargePoint.id == charge_point_id
            )
        ).one_or_none()
        if row is None or row.host == self.name:
            return
        status = leases.holder_status(session, row.host)
        if status == "draining":
            raise TwinMoving
        if row.host is not None and status is not None:
            raise TwinMoved(row.host)
        leases.take(session, leases.Orphan(charge_point_id, row.host, row.lease_token), self.name)
        session.commit()

    def _finish(self, command_id: uuid.UUID, outcome: dict[str, Any]) -> None:
        with session_for(self.engine) as session:
            command = session.get(Command, command_id)
            assert command is not None
            for field, value in outcome.items():
                setattr(command, field, value)
            command.finished_at = utcnow()
            session.commit()
        if self.on_outcome is not None:
            try:
                self.on_outcome(command_id, outcome)
            except Exception:
                logger.exception("could not announce the outcome of command %s", command_id)

    async def _twin(self, charge_point_id: uuid.UUID, *, fresh: bool = False) -> ChargePointTwin:
        """The hosted twin, created from the stored charge point (and resumed from its saved
        state) when not hosted yet.

        ``fresh`` rebuilds a twin that is not running, so that changes the user
        made to the charge point (CSMS URL, password, limits) take effect.
        """
        twin = self.twins.get(charge_point_id)
        if twin is not None and not (fresh and self._idle(twin)):
            return twin
        lock = self._building.setdefault(charge_point_id, asyncio.Lock())
        try:
            async with lock:
                return await self._build_twin(charge_point_id, fresh=fresh)
        finally:
            if not lock.locked():
                self._building.pop(charge_point_id, None)

    async def _build_twin(self, charge_point_id: uuid.UUID, *, fresh: bool) -> ChargePointTwin:
        """Build the twin, one build at a time per charge point (a command and the hosting
        loop may ask for the same twin at once)."""
        twin = self.twins.get(charge_point_id)
        if twin is not None and not (fresh and self._idle(twin)):
            return twin
        if twin is not None:
            self.twins.pop(charge_point_id, None)
            self.writer.state_changed(twin)
            await self.writer.flush()
            await twin.close()
        loaded = self._preloaded.pop(charge_point_id, None)
        if loaded is None:
            loaded = await asyncio.to_thread(self._load_config, charge_point_id)
        config, rows, saved, wanted = loaded
        self.writer.register(config.charge_point_id, rows)
        self.live.register(config.charge_point_id, Watched(rows.user_id, rows.connectors))
        now = utcnow()
        twin = ChargePointTwin(
            config,
            self.clock_factory(config.speed, saved.simulated(now, config.speed) if saved else None),
            self.live.sink,
            store=self.writer,
            permit=lambda: self.permit(charge_point_id),
        )
        if saved is not None:
            resume = now - saved.last_alive <= self.resume_window
            # A twin may have sent until its lease ran out (the lease gates every frame).
            sent_until = min(now, saved.last_alive + timedelta(seconds=self.lease.seconds))
            twin.restore_state(
                saved.state,
                resume=resume,
                last_alive=saved.simulated(saved.last_alive, config.speed),
                sent_until=saved.simulated(sent_until, config.speed),
            )
            logger.info(
                "%s: %s from its state of %s",
                config.cid,
                "resumed" if resume else "restarted after a power loss",
                saved.last_alive.isoformat(timespec="seconds"),
            )
        self.twins[charge_point_id] = twin
        if wanted:  # the user left it connected: it connects wherever it is built
            await twin.start()
        return twin

    @staticmethod
    def _idle(twin: ChargePointTwin) -> bool:
        return not twin.online and all(
            connector.vehicle is None and connector.transaction is None
            for connector in twin.connectors()
        )

    def _load_config(self, charge_point_id: uuid.UUID) -> LoadedTwin:
        with session_for(self.engine) as session:
            charge_point = session.scalar(
                select(ChargePoint)
                .where(ChargePoint.id == charge_point_id)
                .options(
                    selectinload(ChargePoint.evses).selectinload(Evse.connectors),
                    selectinload(ChargePoint.configuration),
                )
            )
            if charge_point is None:
                raise UnknownTarget(f"charge point {charge_point_id} no longer exists")
            if charge_point.host != self.name:
                if self.exclusive or charge_point.host is None:
                    charge_point.host = self.name
                    charge_point.lease_token += 1
                else:
                    self._hold(session, charge_point_id)
                    session.refresh(charge_point)
            saved = self._saved_state(session, charge_point_id)
            self.writer.fence(str(charge_point_id), charge_point.lease_token)
            session.commit()
            return self._loaded(charge_point, saved)

    def _loaded(self, charge_point: ChargePoint, saved: SavedTwin | None) -> LoadedTwin:
        return (
            charge_point_config(charge_point, self.ca_file),
            TwinRows(
                user_id=charge_point.user_id,
                connectors={
                    connector.connectorid: (connector.id, evse.id)
                    for evse in charge_point.evses
                    for connector in evse.connectors
                },
            ),
            saved,
            charge_point.desired_state == "connected",
        )

    def _load_configs(
        self, to_build: Collection[uuid.UUID], desired: dict[uuid.UUID, str]
    ) -> dict[uuid.UUID, LoadedTwin]:
        """For a bulk action, in one transaction: what :meth:`_load_config` answers for each
        twin in ``to_build`` that this host may take without asking (embedded: all; else
        those placed here or nowhere), and the ``desired`` state (connected,
        disconnected) of each charge point stored after it is read, as connect and
        disconnect store it."""
        with session_for(self.engine) as session:
            charge_points = session.scalars(
                select(ChargePoint)
                .where(ChargePoint.id.in_(list(to_build)))
                .options(
                    selectinload(ChargePoint.evses).selectinload(Evse.connectors),
                    selectinload(ChargePoint.configuration),
                )
            ).all()
            mine = [
                charge_point
                for charge_point in charge_points
                if self.exclusive or charge_point.host in (self.name, None)
            ]
            for charge_point in mine:
                if charge_point.host != self.name:
                    charge_point.host = self.name
                    charge_point.lease_token += 1
            states = {
                row.charge_point_id: row
                for row in session.scalars(
                    select(TwinState).where(TwinState.charge_point_id.in_([c.id for c in mine]))
                )
            }
            savers = {row.saved_by for row in states.values() if row.saved_by != self.name}
            heartbeats = dict(
                session.execute(
                    select(TwinHost.name, TwinHost.heartbeat_at).where(TwinHost.name.in_(savers))
                ).all()
            )
            loaded = {}
            for charge_point in mine:
                row = states.get(charge_point.id)
                saved = None
                if row is not None:
                    heartbeat = (
                        self._previous_heartbeat
                        if row.saved_by == self.name
                        else heartbeats.get(row.saved_by)
                    )
                    saved = _saved_twin(row, heartbeat)
                self.writer.fence(str(charge_point.id), charge_point.lease_token)
                loaded[charge_point.id] = self._loaded(charge_point, saved)
            for state in ("connected", "disconnected"):
                ids = [id for id, wanted in desired.items() if wanted == state]
                if ids:
                    session.execute(
                        update(ChargePoint)
                        .where(ChargePoint.id.in_(ids))
                        .values(desired_state=state, host=self.name)
                        .execution_options(synchronize_session=False)
                    )
            session.commit()
            return loaded

    def _saved_state(self, session: Session, charge_point_id: uuid.UUID) -> SavedTwin | None:
        """The twin's saved state, and the last moment it is known to have been alive:
        its last save, or the last heartbeat of the host that saved it, if later."""
        row = session.get(TwinState, charge_point_id)
        if row is None:
            return None
        heartbeat = (
            self._previous_heartbeat
            if row.saved_by == self.name
            else leases.last_heartbeat(session, row.saved_by)
        )
        return _saved_twin(row, heartbeat)

    async def _reachable_twin(self, command: Command) -> ChargePointTwin:
        """The twin, once online if it is connecting right now (it has just moved here, say):
        a command that needs its CSMS waits up to RECONNECT_GRACE for the reconnect."""
        twin = await self._twin(command.charge_point_id)
        if not twin.online:
            with contextlib.suppress(TwinError):
                await twin.connected(
                    timeout=max(min(RECONNECT_GRACE, command.timeout_seconds - 1.0), 0.1)
                )
        return twin

    async def _vehicle(self, vehicle_id: str) -> VehicleModel:
        row = self._preloaded_vehicles.pop(uuid.UUID(vehicle_id), None)
        if row is None:
            row = await asyncio.to_thread(self._load_vehicle, uuid.UUID(vehicle_id))
        return vehicle_model(row)

    def _load_vehicles(self, vehicle_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, Vehicle]:
        with session_for(self.engine) as session:
            rows = session.scalars(select(Vehicle).where(Vehicle.id.in_(list(vehicle_ids))))
            return {vehicle.id: vehicle for vehicle in rows}

    def _load_vehicle(self, vehicle_id: uuid.UUID) -> Vehicle:
        with session_for(self.engine) as session:
            vehicle = session.get(Vehicle, vehicle_id)
            if vehicle is None:
                raise UnknownTarget(f"vehicle {vehicle_id} no longer exists")
            return vehicle

    def _set_desired_state(self, charge_point_id: uuid.UUID, state: str) -> None:
        with session_for(self.engine) as session:
            charge_point = session.get(ChargePoint, charge_point_id)
            if charge_point is not None:
                charge_point.desired_state = state
                charge_point.host = self.name
                session.commit()

    async def _connect(self, command: Command) -> dict[str, Any]:
        twin = await self._twin(command.charge_point_id, fresh=True)
        await asyncio.to_thread(self._set_desired_state, command.charge_point_id, "connected")
        return await self._connect_stored(command, twin)

    async def _connect_stored(
        self, command: Command, twin: ChargePointTwin | None = None
    ) -> dict[str, Any]:
        """Connect, the desired state being stored already (the bulk path stores it)."""
        if twin is None:
            twin = await self._twin(command.charge_point_id, fresh=True)
        await twin.start()
        await twin.connected(timeout=max(command.timeout_seconds - 0.5, 0.1))
        return {"status": "connected"}

    async def _disconnect(self, command: Command) -> dict[str, Any]:
        await asyncio.to_thread(self._set_desired_state, command.charge_point_id, "disconnected")
        return await self._disconnect_stored(command)

    async def _disconnect_stored(self, command: Command) -> dict[str, Any]:
        twin = self.twins.get(command.charge_point_id)
        if twin is not None:
            await twin.stop()
        return {"status": "disconnected"}

    async def _remove(self, command: Command) -> dict[str, Any]:
        """Stop hosting the twin before its charge point is deleted, the way a charger
        being removed stops: running transactions end towards the CSMS (reason ``Other``),
        vehicles are unplugged (their rows released), then the websocket closes."""
        twin = self.twins.get(command.charge_point_id)
        delivered = True
        if twin is not None:  # still hosted (and permitted) until its stop messages are out
            delivered = await twin.end_sessions(
                "Other", timeout=max(command.timeout_seconds - REMOVE_MARGIN, 0.1)
            )
            if not delivered:
                logger.warning("%s: removed before the CSMS had its stop messages", twin.config.cid)
        await asyncio.to_thread(self._let_go, command.charge_point_id)
        twin = self.twins.pop(command.charge_point_id, None)
        if twin is not None:
            await twin.close()
        await self.writer.flush()
        self.writer.forget(str(command.charge_point_id))
        self.live.forget(str(command.charge_point_id))
        return {"status": "removed", "csms_told": delivered}

    def _let_go(self, charge_point_id: uuid.UUID) -> None:
        """No host is to run the twin any more, this one included."""
        with session_for(self.engine) as session:
            session.execute(
                update(ChargePoint)
                .where(ChargePoint.id == charge_point_id)
                .values(host=None, desired_state="disconnected")
            )
            session.commit()

    async def _plug_in(self, command: Command) -> dict[str, Any]:
        twin = await self._twin(command.charge_point_id)
        vehicle_id = command.arguments["vehicle_id"]
        vehicle = await self._vehicle(vehicle_id)
        await _maybe_await(twin.plug_in(command.arguments["connector"], vehicle, vehicle_id))
        return {}

    async def _unplug(self, command: Command) -> dict[str, Any]:
        twin = await self._twin(command.charge_point_id)
        await _maybe_await(twin.unplug(command.arguments["connector"]))
        return {}

    async def _start_transaction(self, command: Command) -> dict[str, Any]:
        twin = await self._reachable_twin(command)
        arguments = command.arguments
        vehicle_id = arguments.get("vehicle_id")
        vehicle = await self._vehicle(vehicle_id) if vehicle_id else None
        event = await twin.start_transaction(
            arguments["connector"],
            arguments["id_tag"],
            vehicle,
            vehicle_id,
            timeout=max(command.timeout_seconds - 0.5, 0.1),
        )
        return {"transaction_id": event.transaction_ref}

    async def _stop_transaction(self, command: Command) -> dict[str, Any]:
        twin = await self._twin(command.charge_point_id)
        arguments = command.arguments
        event = await twin.stop_transaction(
            arguments["transaction_id"], arguments.get("reason", "Local")
        )
        return {"transaction_id": event.transaction_ref}

    async def _set_faulted(self, command: Command) -> dict[str, Any]:
        twin = await self._twin(command.charge_point_id)
        arguments = command.arguments
        await _maybe_await(
            twin.set_faulted(arguments["connector"], arguments["error_code"], arguments.get("info"))
        )
        return {}

    async def _data_transfer(self, command: Command) -> dict[str, Any]:
        twin = await self._reachable_twin(command)
        arguments = command.arguments
        status, data = await twin.data_transfer(
            arguments["vendor_id"], arguments.get("message_id"), arguments.get("data")
        )
        return {"status": status, "data": data}

    async def _certificate_request(self, command: Command) -> dict[str, Any]:
        twin = await self._reachable_twin(command)
        arguments = dict(command.arguments)
        return await security.user_request(twin, arguments.pop("request"), **arguments)

    async def _set_firmware_failure(self, command: Command) -> dict[str, Any]:
        twin = await self._twin(command.charge_point_id)
        return {"firmware_failure": twin.set_firmware_failure(command.arguments["failure"])}

    async def _clear_fault(self, command: Command) -> dict[str, Any]:
        twin = await self._twin(command.charge_point_id)
        await _maybe_await(twin.clear_fault(command.arguments["connector"]))
        return {}


def _saved_twin(row: TwinState, heartbeat: datetime | None) -> SavedTwin:
    """The saved state, last alive at its save or at the last heartbeat of the host that
    saved it (``heartbeat``), if later."""
    last_alive = max(row.saved_at, heartbeat) if heartbeat is not None else row.saved_at
    return SavedTwin(row.state, row.saved_at, last_alive)


async def _maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


def charge_point_config(
    charge_point: ChargePoint, ca_file: Path | None = None
) -> ChargePointConfig:
    evses = []
    for evse in charge_point.evses:
        connectors = tuple(
            ConnectorConfig(
                connector_id=connector.connectorid,
                evse_connector_id=position,
                connector_type=connector.connector_type,
                register_wh=connector.total_energy * 1000.0,
            )
            for position, connector in enumerate(evse.connectors, start=1)
        )
        evses.append(EvseConfig(evse_id=evse.evseid, connectors=connectors))
    return ChargePointConfig(
        charge_point_id=str(charge_point.id),
        cid=charge_point.cid,
        protocol=charge_point.ocpp_protocol,  # type: ignore[arg-type]
        csms_url=charge_point.csms_url,
        evses=tuple(evses),
        password=charge_point.password,
        vendor=charge_point.vendor,
        model=charge_point.model,
        serial_number=charge_point.serial_number,
        firmware_version=charge_point.firmware_version,
        voltage_ac=charge_point.voltage_ac,
        voltage_dc=charge_point.voltage_dc,
        phases_ac=charge_point.phases,
        maximum_ac_power=charge_point.maximum_ac_power,
        maximum_dc_power=charge_point.maximum_dc_power,
        speed=charge_point.speed_factor,
        message_log=charge_point.message_log,
        ca_file=str(ca_file) if ca_file is not None else None,
        client_certificate=charge_point.client_certificate,
        client_key=charge_point.client_key,
        ocpp_configuration={k: str(v) for k, v in charge_point.configuration.values.items()},
    )


def vehicle_model(row: Vehicle) -> VehicleModel:
    return VehicleModel(
        capacity_kwh=row.battery_capacity,
        soc=row.soc,
        max_ac_kw=row.maximum_ac_charging_rate,
        max_dc_kw=row.maximum_dc_charging_rate,
        ac_curve=ChargingCurve.from_points(row.ac_charging_curve)
        if row.ac_charging_curve
        else None,
        dc_curve=ChargingCurve.from_points(row.dc_charging_curve)
        if row.dc_charging_curve
        else None,
        bidirectional=row.bidirectional,
        max_discharge_kw=row.maximum_discharge_power,
        min_soc=row.minimum_soc,
    )
