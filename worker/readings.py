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

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, joinedload

from shared.models import ChargePoint, Connector, Evse, Transaction, Vehicle
from shared.models.base import utcnow
from shared.schemas.charge_point import ChargePointPublic, ConnectorPublic, EvsePublic
from shared.schemas.transaction import TransactionPublic
from shared.schemas.vehicle import VehiclePublic
from worker.host import vehicle_model

#: Real seconds past a report that a read still carries it on.
MAX_CARRY_ON = 120.0


@dataclass(frozen=True, slots=True)
class Reading:
    """A charging connector's values at read time."""

    energy_kwh: float  # of the session
    total_energy_kwh: float  # the register
    soc: float | None


def reading(session: Session, connector: Connector, now: datetime | None = None) -> Reading | None:
    """The connector's values now, or None when it is not charging (its stored values are
    then what it reads)."""
    power_kw = connector.current_ac_power or connector.current_dc_power
    if (
        connector.status != "Charging"
        or not power_kw
        or connector.measured_at is None
        or connector.transaction_id is None
    ):
        return None
    elapsed = ((now or utcnow()) - connector.measured_at).total_seconds()
    speed = connector.charge_point.speed_factor
    seconds = min(max(elapsed, 0.0), MAX_CARRY_ON) * speed
    vehicle_row = session.get(Vehicle, connector.vehicle_id) if connector.vehicle_id else None
    if vehicle_row is None:
        if power_kw < 0:
            return None
        added = power_kw * seconds / 3600.0
        return Reading(connector.current_energy + added, connector.total_energy + added, None)
    vehicle = vehicle_model(vehicle_row)
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
    now = reading(session, connector)
    if now is None or now.soc is None:
        return public
    return public.model_copy(update={"soc": now.soc})
