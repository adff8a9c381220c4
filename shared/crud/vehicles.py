from __future__ import annotations

import secrets
import string
import uuid

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared.crud.ownership import get_owned
from shared.errors import Conflict, QuotaExceeded
from shared.models import User, Vehicle
from shared.schemas.vehicle import VehicleCreate, VehicleUpdate


def new_id_tag_suffix() -> str:
    return "".join(secrets.choice(string.ascii_uppercase) for _ in range(10))


def create_vehicles(session: Session, user: User, bodies: list[VehicleCreate]) -> list[Vehicle]:
    """Create one or many vehicles at once: all of them, or (over quota) none."""
    owned = session.scalar(select(func.count()).where(Vehicle.user_id == user.id)) or 0
    if owned + len(bodies) > user.quota.max_vehicles:
        raise QuotaExceeded(
            f"your quota allows {user.quota.max_vehicles} vehicles; you have {owned} "
            f"and asked for {len(bodies)} more"
        )
    vehicles = [
        Vehicle(
            user_id=user.id,
            id_tag_suffix=new_id_tag_suffix(),
            **body.model_dump(exclude={"maximum_charging_rate"}),
        )
        for body in bodies
    ]
    session.add_all(vehicles)
    session.commit()
    return vehicles


def list_vehicles(
    session: Session, user: User, offset: int, limit: int
) -> tuple[list[Vehicle], int]:
    query = select(Vehicle).where(Vehicle.user_id == user.id)
    rows = session.scalars(query.order_by(Vehicle.created_at).offset(offset).limit(limit))
    count = session.scalar(select(func.count()).where(Vehicle.user_id == user.id)) or 0
    return list(rows), count


def update_vehicle(session: Session, vehicle: Vehicle, body: VehicleUpdate) -> Vehicle:
    if vehicle.connector_id is not None:
        raise Conflict(f"vehicle {vehicle.id} is plugged in: unplug it before changing it")
    for field, value in body.model_dump(exclude_unset=True).items():
        setattr(vehicle, field, value)
    session.commit()
    return vehicle


def delete_vehicle(session: Session, user: User, vehicle_id: uuid.UUID) -> None:
    vehicle = get_owned(session, Vehicle, vehicle_id, user)
    if vehicle.connector_id is not None:
        raise Conflict(f"vehicle {vehicle.id} is plugged in: unplug it before deleting it")
    session.delete(vehicle)
    session.commit()
