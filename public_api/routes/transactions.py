from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from public_api.deps import CurrentUser, SessionDep
from shared.crud import transactions as crud
from shared.crud.ownership import get_owned
from shared.models import Transaction
from shared.schemas.common import Limit, Offset, Page
from shared.schemas.transaction import MeterSamplePublic, TransactionPublic
from worker import readings

router = APIRouter(prefix="/operations/charge_point/transaction", tags=["transactions"])


@router.get("/", summary="Your transactions, newest first")
def read_all(
    session: SessionDep,
    current_user: CurrentUser,
    charge_point_id: uuid.UUID | None = None,
    vehicle_id: uuid.UUID | None = None,
    active: Annotated[bool | None, Query(description="only running (true) or ended")] = None,
    offset: Offset = 0,
    limit: Limit = 100,
) -> Page[TransactionPublic]:
    rows, count = crud.list_transactions(
        session,
        current_user,
        offset,
        limit,
        charge_point_id=charge_point_id,
        vehicle_id=vehicle_id,
        active=active,
    )
    return Page(data=[readings.live_transaction(session, row) for row in rows], count=count)


@router.get("/{id:uuid}")
def read(session: SessionDep, current_user: CurrentUser, id: uuid.UUID) -> TransactionPublic:
    return readings.live_transaction(session, get_owned(session, Transaction, id, current_user))


@router.get("/{id:uuid}/meter-values", summary="The meter values sent during a transaction")
def read_meter_values(
    session: SessionDep,
    current_user: CurrentUser,
    id: uuid.UUID,
    offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=10000)] = 1000,
) -> Page[MeterSamplePublic]:
    get_owned(session, Transaction, id, current_user)
    rows, count = crud.list_meter_samples(session, id, offset, limit)
    return Page(data=[MeterSamplePublic.model_validate(row) for row in rows], count=count)
