"""Hosts many charge point twins on one asyncio loop and carries out commands for them.

The host is the only place where twins meet the database: it builds a twin's
configuration from the stored charge point, gives it a clock and the event
writer as its sink, and records each command's outcome. The same host runs in
the embedded process and (later) inside each Celery worker.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import selectinload

from shared.db import session_for
from shared.models import ChargePoint, Command, Connector, Evse, Transaction, TwinHost, Vehicle
from shared.models.base import utcnow
from worker.persistence import EventWriter, TwinRows
from worker.twin.charge_point import ChargePointTwin
from worker.twin.clock import Clock, SystemClock
from worker.twin.config import ChargePointConfig, ConnectorConfig, EvseConfig
from worker.twin.errors import CommandTimeout, InvalidState, TwinError, UnknownTarget
from worker.twin.vehicle import ChargingCurve
from worker.twin.vehicle import Vehicle as VehicleModel

logger = logging.getLogger(__name__)

ClockFactory = Callable[[float], Clock]

HOST_HEARTBEAT_SECONDS = 15.0


def default_host_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Host:
    def __init__(
        self,
        engine: Engine,
        name: str | None = None,
        *,
        clock_factory: ClockFactory = lambda speed: SystemClock(speed=speed),
        write_interval: float = 0.5,
        ca_file: Path | None = None,
        message_log_limit: int = 100_000,
    ) -> None:
        self.engine = engine
        self.ca_file = ca_file
        self.name = name or default_host_name()
        self.clock_factory = clock_factory
        self.writer = EventWriter(
            engine, interval=write_interval, message_log_limit=message_log_limit
        )
        self.twins: dict[uuid.UUID, ChargePointTwin] = {}
        self.loop: asyncio.AbstractEventLoop | None = None
        self._heartbeat_task: asyncio.Task[None] | None = None
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
        }

    # -- lifecycle ---------------------------------------------------------------

    async def start(self) -> None:
        """Start writing events, register this host and clear what a previous run left."""
        self.loop = asyncio.get_running_loop()
        self.writer.start()
        await asyncio.to_thread(self._register)
        await asyncio.to_thread(self._reconcile)
        self._heartbeat_task = asyncio.create_task(self._beat())

    async def restore(self) -> None:
        """Reconnect the twins the user left connected (call once their CSMS can answer)."""
        for charge_point_id in await asyncio.to_thread(self._twins_to_restore):
            try:
                twin = await self._twin(charge_point_id, fresh=True)
                await twin.start()
            except Exception:
                logger.exception("could not restore charge point %s", charge_point_id)

    async def close(self) -> None:
        if self._heartbeat_task is not None:
            self._heartbeat_task.cancel()
        await asyncio.gather(*(twin.close() for twin in self.twins.values()))
        await self.writer.close()

    async def _beat(self) -> None:
        """Tell the database this host is alive (operators see it in the private API)."""
        while True:
            await asyncio.sleep(HOST_HEARTBEAT_SECONDS)
            try:
                await asyncio.to_thread(self._register, keep_started=True)
            except Exception:
                logger.exception("could not record the host heartbeat")

    def _register(self, keep_started: bool = False) -> None:
        with session_for(self.engine) as session:
            now = utcnow()
            row = session.get(TwinHost, self.name)
            if row is None:
                session.add(TwinHost(name=self.name, started_at=now, heartbeat_at=now))
            else:
                row.heartbeat_at = now
                if not keep_started:
                    row.started_at = now
            session.commit()

    def _reconcile(self) -> None:
        """Make the stored live state match a host that has just started with no twin running.

        What a previous run of this host left behind is stale: its charge points are
        not connected, nothing is plugged in, sessions that were running when it
        stopped ended with it (stop reason PowerLoss), and commands it had not
        finished failed. The CSMS is not told about those sessions: the twin's
        memory of them went with the process.
        """
        with session_for(self.engine) as session:
            hosted = select(ChargePoint.id).where(ChargePoint.host == self.name)
            connectors = select(Connector.id).where(Connector.charge_point_id.in_(hosted))
            now = utcnow()
            session.execute(
                update(Transaction)
                .where(Transaction.charge_point_id.in_(hosted), Transaction.end_time.is_(None))
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
                    status="Unavailable",
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
        """Charge points the user left connected, hosted here or nowhere yet."""
        with session_for(self.engine) as session:
            query = select(ChargePoint.id).where(
                ChargePoint.desired_state == "connected",
                (ChargePoint.host == self.name) | ChargePoint.host.is_(None),
            )
            return list(session.scalars(query))

    # -- commands ----------------------------------------------------------------

    async def execute(self, command_id: uuid.UUID) -> None:
        """Carry out one stored command and store its outcome (never raises for twin errors)."""
        command = await asyncio.to_thread(self._claim, command_id)
        if command is None:
            return
        outcome: dict[str, Any] = {}
        try:
            handler = self._handlers.get(command.name)
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
        await self.writer.flush()
        await asyncio.to_thread(self._finish, command.id, outcome)

    def _claim(self, command_id: uuid.UUID) -> Command | None:
        with session_for(self.engine) as session:
            command = session.get(Command, command_id)
            if command is None or command.status != "pending":
                return None
            command.status = "running"
            command.host = self.name
            session.commit()
            return command

    def _finish(self, command_id: uuid.UUID, outcome: dict[str, Any]) -> None:
        with session_for(self.engine) as session:
            command = session.get(Command, command_id)
            assert command is not None
            for field, value in outcome.items():
                setattr(command, field, value)
            command.finished_at = utcnow()
            session.commit()

    async def _twin(self, charge_point_id: uuid.UUID, *, fresh: bool = False) -> ChargePointTwin:
        """The hosted twin, created from the stored charge point when not hosted yet.

        ``fresh`` rebuilds a twin that is not running, so that changes the user
        made to the charge point (CSMS URL, password, limits) take effect.
        """
        twin = self.twins.get(charge_point_id)
        if twin is not None and not (fresh and self._idle(twin)):
            return twin
        if twin is not None:
            await twin.close()
        config, rows = await asyncio.to_thread(self._load_config, charge_point_id)
        self.writer.register(config.charge_point_id, rows)
        twin = ChargePointTwin(config, self.clock_factory(config.speed), self.writer)
        self.twins[charge_point_id] = twin
        return twin

    @staticmethod
    def _idle(twin: ChargePointTwin) -> bool:
        return not twin.online and all(
            connector.vehicle is None and connector.transaction is None
            for connector in twin.connectors()
        )

    def _load_config(self, charge_point_id: uuid.UUID) -> tuple[ChargePointConfig, TwinRows]:
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
            charge_point.host = self.name
            session.commit()
            return charge_point_config(charge_point, self.ca_file), TwinRows(
                user_id=charge_point.user_id,
                connectors={
                    connector.connectorid: (connector.id, evse.id)
                    for evse in charge_point.evses
                    for connector in evse.connectors
                },
            )

    async def _vehicle(self, vehicle_id: str) -> VehicleModel:
        row = await asyncio.to_thread(self._load_vehicle, uuid.UUID(vehicle_id))
        return vehicle_model(row)

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
        await twin.start()
        await twin.connected(timeout=max(command.timeout_seconds - 0.5, 0.1))
        return {"status": "connected"}

    async def _disconnect(self, command: Command) -> dict[str, Any]:
        twin = self.twins.get(command.charge_point_id)
        await asyncio.to_thread(self._set_desired_state, command.charge_point_id, "disconnected")
        if twin is not None:
            await twin.stop()
        return {"status": "disconnected"}

    async def _remove(self, command: Command) -> dict[str, Any]:
        """Stop hosting the twin (before its charge point is deleted)."""
        twin = self.twins.pop(command.charge_point_id, None)
        if twin is not None:
            await twin.close()
        await self.writer.flush()
        self.writer.forget(str(command.charge_point_id))
        return {"status": "removed"}

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
        twin = await self._twin(command.charge_point_id)
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
        twin = await self._twin(command.charge_point_id)
        arguments = command.arguments
        status, data = await twin.data_transfer(
            arguments["vendor_id"], arguments.get("message_id"), arguments.get("data")
        )
        return {"status": status, "data": data}

    async def _clear_fault(self, command: Command) -> dict[str, Any]:
        twin = await self._twin(command.charge_point_id)
        await _maybe_await(twin.clear_fault(command.arguments["connector"]))
        return {}


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
        ca_file=str(ca_file) if ca_file is not None else None,
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
    )
