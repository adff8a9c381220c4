from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, status

from public_api.deps import (
    CurrentUser,
    OptionalCommandBusDep,
    ReadAsUser,
    SessionDep,
    SettingsDep,
)
from shared.crud import charge_points as crud
from shared.crud.ownership import get_owned, owned_charge_point_rows, owned_connector, owned_evse
from shared.crud.transactions import list_messages
from shared.models import ChargePoint
from shared.openapi import CHARGE_POINT_CONFLICT, QUOTA, TWIN_STOP, errors
from shared.schemas.charge_point import (
    ChargePointCreate,
    ChargePointPublic,
    ChargePointUpdate,
    ConnectorPublic,
    EvsePublic,
)
from shared.schemas.common import BULK_DESCRIPTION, BULK_MAX_ITEMS, Limit, Offset, Page, Text
from shared.schemas.transaction import MessageLogEntryPublic
from worker import actions, readings

router = APIRouter(prefix="/twin/charge-point", tags=["charge points"])


RATE_LIMITED = errors(
    {
        422: "invalid field, an OCPP configuration key or value the twin refuses, or the "
        "charge point could send more periodic messages a real second than one user's twins "
        "may (ELU_MAX_USER_MESSAGES_PER_SECOND)"
    }
)


@router.post(
    "/",
    responses=QUOTA | CHARGE_POINT_CONFLICT | RATE_LIMITED,
    summary="Create a charge point with its EVSEs and connectors",
)
def create(
    session: SessionDep, settings: SettingsDep, current_user: CurrentUser, body: ChargePointCreate
) -> ChargePointPublic:
    (charge_point,) = crud.create_charge_points(
        session, current_user, [body], settings.max_user_messages_per_second
    )
    return ChargePointPublic.model_validate(charge_point)


@router.post(
    "/bulk",
    responses=QUOTA | CHARGE_POINT_CONFLICT | RATE_LIMITED,
    summary="Create many charge points at once (all or none)",
)
def create_many(
    session: SessionDep,
    settings: SettingsDep,
    current_user: CurrentUser,
    bodies: Annotated[
        list[ChargePointCreate],
        Body(min_length=1, max_length=BULK_MAX_ITEMS, description=BULK_DESCRIPTION),
    ],
) -> list[ChargePointPublic]:
    charge_points = crud.create_charge_points(
        session, current_user, bodies, settings.max_user_messages_per_second
    )
    return [ChargePointPublic.model_validate(row) for row in charge_points]


@router.get("/", summary="List your charge points")
def read_all(
    session: SessionDep,
    current_user: CurrentUser,
    offset: Offset = 0,
    limit: Limit = 100,
) -> Page[ChargePointPublic]:
    rows, count = crud.list_charge_points(session, current_user, offset, limit)
    return Page(data=[readings.live_charge_point(session, row) for row in rows], count=count)


@router.get("/evse/{id:uuid}", summary="One EVSE with its connectors")
def read_evse(session: SessionDep, current_user: CurrentUser, id: uuid.UUID) -> EvsePublic:
    return readings.live_evse(session, owned_evse(session, id, current_user))


@router.get("/connector/{id:uuid}", summary="One connector with its live values")
def read_connector(
    session: SessionDep, current_user: CurrentUser, id: uuid.UUID
) -> ConnectorPublic:
    return readings.live_connector(session, owned_connector(session, id, current_user))


@router.get("/{id:uuid}")
async def read(read_as_user: ReadAsUser, id: uuid.UUID) -> ChargePointPublic:
    return await read_as_user(
        lambda connection, user: readings.live_charge_point_rows(
            connection, owned_charge_point_rows(connection, id, user)
        )
    )


@router.patch(
    "/{id:uuid}",
    responses=CHARGE_POINT_CONFLICT | RATE_LIMITED,
    summary="Change a charge point (takes effect at the next connect)",
)
def update(
    session: SessionDep,
    settings: SettingsDep,
    current_user: CurrentUser,
    id: uuid.UUID,
    body: ChargePointUpdate,
) -> ChargePointPublic:
    charge_point = get_owned(session, ChargePoint, id, current_user)
    updated = crud.update_charge_point(
        session, charge_point, body, settings.max_user_messages_per_second
    )
    return ChargePointPublic.model_validate(updated)


@router.delete(
    "/{id:uuid}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Stop the twin and delete it",
    description="A running twin stops the way a charger being removed does: each running "
    "transaction ends towards the CSMS (StopTransaction / TransactionEvent Ended, reason "
    "`Other`; when the twin is offline the CSMS cannot be told), vehicles are unplugged and "
    "become `ready-to-charge`, the websocket closes. Then the charge point is deleted with "
    "everything recorded about it (transactions, meter values, message log).",
    responses=TWIN_STOP,
)
def delete(
    session: SessionDep, bus: OptionalCommandBusDep, current_user: CurrentUser, id: uuid.UUID
) -> None:
    actions.delete_charge_point(session, bus, current_user, id)


@router.get("/{id:uuid}/message-log", summary="Every OCPP frame the charge point sent and received")
def read_message_log(
    session: SessionDep,
    current_user: CurrentUser,
    id: uuid.UUID,
    action: Text | None = None,
    offset: Offset = 0,
    limit: Limit = 100,
) -> Page[MessageLogEntryPublic]:
    get_owned(session, ChargePoint, id, current_user)
    rows, count = list_messages(session, id, offset, limit, action)
    return Page(data=[MessageLogEntryPublic.model_validate(row) for row in rows], count=count)
