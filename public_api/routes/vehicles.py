from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, status

from public_api.deps import CurrentUser, ReadAsUser, SessionDep
from shared.crud import vehicles as crud
from shared.crud.ownership import get_owned, owned_vehicle_row
from shared.models import Vehicle
from shared.openapi import QUOTA, VEHICLE_IN_USE
from shared.schemas.common import BULK_DESCRIPTION, BULK_MAX_ITEMS, Limit, Offset, Page
from shared.schemas.vehicle import VehicleCreate, VehiclePublic, VehicleUpdate
from worker import readings

router = APIRouter(prefix="/twin/vehicle", tags=["vehicles"])


@router.post("/", responses=QUOTA, summary="Create a vehicle")
def create(session: SessionDep, current_user: CurrentUser, body: VehicleCreate) -> VehiclePublic:
    (vehicle,) = crud.create_vehicles(session, current_user, [body])
    return VehiclePublic.model_validate(vehicle)


@router.post("/bulk", responses=QUOTA, summary="Create many vehicles at once (all or none)")
def create_many(
    session: SessionDep,
    current_user: CurrentUser,
    bodies: Annotated[
        list[VehicleCreate],
        Body(min_length=1, max_length=BULK_MAX_ITEMS, description=BULK_DESCRIPTION),
    ],
) -> list[VehiclePublic]:
    vehicles = crud.create_vehicles(session, current_user, bodies)
    return [VehiclePublic.model_validate(vehicle) for vehicle in vehicles]


@router.get("/", summary="List your vehicles")
def read_all(
    session: SessionDep,
    current_user: CurrentUser,
    offset: Offset = 0,
    limit: Limit = 100,
) -> Page[VehiclePublic]:
    rows, count = crud.list_vehicles(session, current_user, offset, limit)
    return Page(data=[readings.live_vehicle(session, row) for row in rows], count=count)


@router.get("/{id:uuid}")
async def read(read_as_user: ReadAsUser, id: uuid.UUID) -> VehiclePublic:
    return await read_as_user(
        lambda connection, user: readings.live_vehicle_row(
            connection, owned_vehicle_row(connection, id, user)
        )
    )


@router.patch(
    "/{id:uuid}", responses=VEHICLE_IN_USE, summary="Change a vehicle that is not plugged in"
)
def update(
    session: SessionDep, current_user: CurrentUser, id: uuid.UUID, body: VehicleUpdate
) -> VehiclePublic:
    vehicle = get_owned(session, Vehicle, id, current_user)
    return VehiclePublic.model_validate(crud.update_vehicle(session, vehicle, body))


@router.delete(
    "/{id:uuid}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=VEHICLE_IN_USE,
    summary="Delete a vehicle that is not plugged in",
)
def delete(session: SessionDep, current_user: CurrentUser, id: uuid.UUID) -> None:
    crud.delete_vehicle(session, current_user, id)
