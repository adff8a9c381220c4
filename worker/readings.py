"""What a charging twin reads now, derived from what it last reported.

A twin reports its connector's power, energy and SoC at each meter sample and
state change, not every second (that would cost a database write per twin per
second). Between two reports the vehicle goes on charging along its charging
curve at no more than the power last reported, so a read carries the stored
values on from the moment they were measured with the twin's own physics
(:meth:`worker.twin.vehicle.Vehicle.charge`), at the charge point's speed. A
twin that stopped reporting (its host died) is not carried on for longer than
``MAX_CARRY_ON`` real seconds. A vehicle giving energy back (V2X, negative power)
is carried on the same way: its SoC falls (to its minimum SoC), the import
registers stay.
"""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from types import SimpleNamespace
from typing import Any, Protocol, cast

from sqlalchemy import Connection, Row, bindparam, select
from sqlalchemy.orm import Session, joinedload

from shared.crud.ownership import CONNECTOR_READING_COLUMNS, ChargePointRows
from shared.models import ChargePoint, Connector, Evse, Transaction, Vehicle
from shared.models.base import utcnow
from shared.schemas.charge_point import ChargePointPublic, ConnectorPublic, EvsePublic
from shared.schemas.transaction import TransactionPublic
from shared.schemas.vehicle import VehiclePublic
from worker.host import vehicle_model
from worker.twin.vehicle import Vehicle as VehicleModel

#: Real seconds past a report that a read still carries it on.
MAX_CARRY_ON = 120.0


@dataclass(frozen=True, slots=True)
class Reading:
    """A charging connector's values at read time."""

    energy_kwh: float  # of the session
    total_energy_kwh: float  # the register
    soc: float | None


_vehicles = Vehicle.__table__
#: What a reading needs of the charging vehicle, as a Core row: loading an ORM object
#: (``session.get``, which also builds its statement each time) cost twice as much.
_VEHICLE_PHYSICS = select(
    _vehicles.c.battery_capacity,
    _vehicles.c.soc,
    _vehicles.c.maximum_ac_charging_rate,
    _vehicles.c.maximum_dc_charging_rate,
    _vehicles.c.ac_charging_curve,
    _vehicles.c.dc_charging_curve,
    _vehicles.c.bidirectional,
    _vehicles.c.maximum_discharge_power,
    _vehicles.c.minimum_soc,
).where(_vehicles.c.id == bindparam("id"))


class ConnectorValues(Protocol):
    """What a reading needs of a connector: a :class:`Connector`, or its columns."""

    status: str
    current_ac_power: float
    current_dc_power: float
    current_energy: float
    total_energy: float
    soc: float | None
    measured_at: datetime | None
    transaction_id: uuid.UUID | None
    vehicle_id: uuid.UUID | None


def reading(
    session: Session,
    connector: Connector,
    now: datetime | None = None,
    vehicle_row: Vehicle | None = None,
) -> Reading | None:
    """The connector's values now, or None when it is not charging (its stored values are
    then what it reads). ``vehicle_row``: the connector's vehicle when the caller has it
    (otherwise read here)."""
    if not _charging(connector):
        return None
    return _carried_on(session, connector, connector.charge_point.speed_factor, now, vehicle_row)


#: The vehicle columns :func:`vehicle_model` reads.
_PHYSICS_NAMES = tuple(column.name for column in _VEHICLE_PHYSICS.selected_columns)


def _vehicle_model(row: Vehicle) -> VehicleModel:
    """:func:`vehicle_model` of ``row``, a copy of one built before for the same values:
    building the charging curves (a default one when the vehicle has none) was ~4 % of a
    read's CPU."""
    key = tuple(_hashable(getattr(row, name)) for name in _PHYSICS_NAMES)
    return copy.copy(_vehicle_template(key))


@lru_cache(maxsize=4096)
def _vehicle_template(key: tuple[Any, ...]) -> VehicleModel:
    """Never handed out itself: only copies, whose ``soc`` a reading changes (the curves,
    immutable, are shared)."""
    physics = SimpleNamespace(**dict(zip(_PHYSICS_NAMES, key, strict=True)))
    # The namespace has the columns vehicle_model reads, by the same names.
    return vehicle_model(cast(Vehicle, physics))


def _hashable(value: Any) -> Any:
    """A charging curve's points (JSON lists) as tuples; any other value as it is."""
    if isinstance(value, list):
        return tuple(tuple(point) if isinstance(point, list) else point for point in value)
    return value


def _charging(connector: ConnectorValues) -> bool:
    return (
        connector.status == "Charging"
        and bool(connector.current_ac_power or connector.current_dc_power)
        and connector.measured_at is not None
        and connector.transaction_id is not None
    )


def _carried_on(
    session: Session | Connection,
    connector: ConnectorValues,
    speed: float,
    now: datetime | None,
    vehicle_row: Vehicle | None,
) -> Reading | None:
    """:func:`reading` of a charging connector, at its charge point's ``speed``."""
    assert connector.measured_at is not None
    power_kw = connector.current_ac_power or connector.current_dc_power
    elapsed = ((now or utcnow()) - connector.measured_at).total_seconds()
    seconds = min(max(elapsed, 0.0), MAX_CARRY_ON) * speed
    if vehicle_row is None and connector.vehicle_id is not None:
        physics = session.execute(_VEHICLE_PHYSICS, {"id": connector.vehicle_id}).first()
        # The row has the columns vehicle_model reads, by the same names.
        vehicle_row = cast(Vehicle, physics)
    if vehicle_row is None:
        if power_kw < 0:
            return None
        added = power_kw * seconds / 3600.0
        return Reading(connector.current_energy + added, connector.total_energy + added, None)
    vehicle = _vehicle_model(vehicle_row)
    if connector.soc is not None:
        vehicle.soc = connector.soc
    if power_kw < 0:
        vehicle.discharge(seconds, -power_kw)
        return Reading(connector.current_energy, connector.total_energy, round(vehicle.soc, 3))
    current_type = "AC" if connector.current_ac_power else "DC"
    added = vehicle.charge(seconds, power_kw, current_type)
    return Reading(
        connector.current_energy + added, connector.total_energy + added, round(vehicle.soc, 3)
    )


def live_charge_point_rows(connection: Connection, rows: ChargePointRows) -> ChargePointPublic:
    """:func:`live_charge_point` of a charge point read as columns
    (:func:`shared.crud.ownership.owned_charge_point_rows`): validated once, as a whole,
    with the charging connectors' values carried on."""
    speed = rows.charge_point["speed_factor"]
    for evse in rows.evses:
        for connector in evse["connectors"]:
            values = SimpleNamespace(**connector)
            if not _charging(values):
                continue
            now = _carried_on(connection, values, speed, None, None)
            if now is None:
                continue
            connector["current_energy"] = now.energy_kwh
            connector["total_energy"] = now.total_energy_kwh
            if now.soc is not None:
                connector["soc"] = now.soc
    return ChargePointPublic.model_validate(rows.charge_point | {"evses": rows.evses})


def live_connector(session: Session, connector: Connector) -> ConnectorPublic:
    public = ConnectorPublic.model_validate(connector)
    now = reading(session, connector)
    if now is None:
        return public
    return public.model_copy(
        update={
            "current_energy": now.energy_kwh,
            "total_energy": now.total_energy_kwh,
            "soc": now.soc if now.soc is not None else public.soc,
        }
    )


def live_charge_point(session: Session, charge_point: ChargePoint) -> ChargePointPublic:
    return ChargePointPublic.model_validate(charge_point).model_copy(
        update={"evses": [live_evse(session, evse) for evse in charge_point.evses]}
    )


def live_evse(session: Session, evse: Evse) -> EvsePublic:
    return EvsePublic.model_validate(evse).model_copy(
        update={"connectors": [live_connector(session, c) for c in evse.connectors]}
    )


def live_transaction(session: Session, transaction: Transaction) -> TransactionPublic:
    public = TransactionPublic.model_validate(transaction)
    if transaction.end_time is not None or transaction.connector_id is None:
        return public
    connector = session.get(Connector, transaction.connector_id)
    if connector is None or connector.transaction_id != transaction.id:
        return public
    now = reading(session, connector)
    if now is None:
        return public
    return public.model_copy(update={"energy": now.energy_kwh})


#: A connector with its charge point (whose speed a reading needs), in one query.
_CONNECTOR_WITH_CHARGE_POINT = (
    select(Connector)
    .where(Connector.id == bindparam("id"))
    .options(joinedload(Connector.charge_point))
)


def live_vehicle(session: Session, vehicle: Vehicle) -> VehiclePublic:
    public = VehiclePublic.model_validate(vehicle)
    if vehicle.connector_id is None:
        return public
    connector = session.execute(
        _CONNECTOR_WITH_CHARGE_POINT, {"id": vehicle.connector_id}
    ).scalar_one_or_none()
    if connector is None or connector.vehicle_id != vehicle.id:
        return public
    now = reading(session, connector, vehicle_row=vehicle)
    if now is None or now.soc is None:
        return public
    return public.model_copy(update={"soc": now.soc})


_VEHICLE_NAMES = [column.key for column in Vehicle.__table__.c]


def live_vehicle_row(connection: Connection, row: Row[Any]) -> VehiclePublic:
    """:func:`live_vehicle` of a vehicle read as a Core row
    (:func:`shared.crud.ownership.owned_vehicle_row`)."""
    values = {name: getattr(row, name) for name in _VEHICLE_NAMES}
    values["id_tag"] = Vehicle.id_tag.fget(row)  # type: ignore[attr-defined]
    if row.connector_id is not None and row.plugged_vehicle_id == row.id:
        connector = SimpleNamespace(
            **{name: getattr(row, f"plugged_{name}") for name in CONNECTOR_READING_COLUMNS}
        )
        if _charging(connector):
            # The row has the columns vehicle_model reads, by the same names.
            now = _carried_on(connection, connector, row.speed_factor, None, cast(Vehicle, row))
            if now is not None and now.soc is not None:
                values["soc"] = now.soc
    return VehiclePublic.model_validate(values)
