from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Query, status

from public_api.deps import CurrentUser, SessionDep
from shared.crud import charge_points as crud
from shared.crud.ownership import get_owned
from shared.errors import NotFound
from shared.models import ChargePoint, Connector, Evse
from shared.schemas.charge_point import (
    ChargePointCreate,
    ChargePointPublic,
    ChargePointUpdate,
    ConnectorPublic,
    EvsePublic,
)
from shared.schemas.common import Page

router = APIRouter(prefix="/twin/charge-point", tags=["charge points"])


@router.post("/", summary="Create a charge point with its EVSEs and connectors")
def create(
    session: SessionDep, current_user: CurrentUser, body: ChargePointCreate
) -> ChargePointPublic:
    (charge_point,) = crud.create_charge_points(session, current_user, [body])
    return ChargePointPublic.model_validate(charge_point)


@router.post("/bulk", summary="Create many charge points at once (all or none)")
def create_many(
    session: SessionDep,
    current_user: CurrentUser,
    bodies: Annotated[list[ChargePointCreate], Body(min_length=1, max_length=1000)],
) -> list[ChargePointPublic]:
    charge_points = crud.create_charge_points(session, current_user, bodies)
    return [ChargePointPublic.model_validate(row) for row in charge_points]


@router.get("/", summary="List your charge points")
def read_all(
    session: SessionDep,
    current_user: CurrentUser,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Page[ChargePointPublic]:
    rows, count = crud.list_charge_points(session, current_user, offset, limit)
    return Page(data=[ChargePointPublic.model_validate(row) for row in rows], count=count)


@router.get("/evse/{id}", summary="One EVSE with its connectors")
def read_evse(session: SessionDep, current_user: CurrentUser, id: uuid.UUID) -> EvsePublic:
    evse = session.get(Evse, id)
    if evse is None or evse.charge_point.user_id != current_user.id:
        raise NotFound(f"EVSE {id} not found")
    return EvsePublic.model_validate(evse)


@router.get("/connector/{id}", summary="One connector with its live values")
def read_connector(
    session: SessionDep, current_user: CurrentUser, id: uuid.UUID
) -> ConnectorPublic:
    connector = session.get(Connector, id)
    if connector is None or connector.charge_point.user_id != current_user.id:
        raise NotFound(f"connector {id} not found")
    return ConnectorPublic.model_validate(connector)


@router.get("/{id}")
def read(session: SessionDep, current_user: CurrentUser, id: uuid.UUID) -> ChargePointPublic:
    return ChargePointPublic.model_validate(get_owned(session, ChargePoint, id, current_user))


@router.patch("/{id}", summary="Change a charge point (takes effect at the next connect)")
def update(
    session: SessionDep, current_user: CurrentUser, id: uuid.UUID, body: ChargePointUpdate
) -> ChargePointPublic:
    charge_point = get_owned(session, ChargePoint, id, current_user)
    return ChargePointPublic.model_validate(crud.update_charge_point(session, charge_point, body))


@router.delete("/{id}", status_code=status.HTTP_204_NO_CONTENT)
def delete(session: SessionDep, current_user: CurrentUser, id: uuid.UUID) -> None:
    charge_point = get_owned(session, ChargePoint, id, current_user)
    session.delete(charge_point)
    session.commit()
