from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from shared.models import MessageLogEntry, MeterSample, Transaction, User


def _page(session: Session, query: Select[Any], offset: int, limit: int) -> tuple[list[Any], int]:
    count = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    return list(session.scalars(query.offset(offset).limit(limit))), count


def list_transactions(
    session: Session,
    user: User,
    offset: int,
    limit: int,
    *,
    charge_point_id: uuid.UUID | None = None,
    vehicle_id: uuid.UUID | None = None,
    active: bool | None = None,
) -> tuple[list[Transaction], int]:
    query = select(Transaction).where(Transaction.user_id == user.id)
    if charge_point_id is not None:
        query = query.where(Transaction.charge_point_id == charge_point_id)
    if vehicle_id is not None:
        query = query.where(Transaction.vehicle_id == vehicle_id)
    if active is not None:
        ended = Transaction.end_time.is_not(None)
        query = query.where(~ended if active else ended)
    return _page(session, query.order_by(Transaction.start_time.desc()), offset, limit)


def list_meter_samples(
    session: Session, transaction_id: uuid.UUID, offset: int, limit: int
) -> tuple[list[MeterSample], int]:
    query = (
        select(MeterSample)
        .where(MeterSample.transaction_id == transaction_id)
        .order_by(MeterSample.timestamp, MeterSample.id)
    )
    return _page(session, query, offset, limit)


def list_messages(
    session: Session,
    charge_point_id: uuid.UUID,
    offset: int,
    limit: int,
    action: str | None = None,
) -> tuple[list[MessageLogEntry], int]:
    query = select(MessageLogEntry).where(MessageLogEntry.charge_point_id == charge_point_id)
    if action is not None:
        query = query.where(MessageLogEntry.action == action)
    return _page(session, query.order_by(MessageLogEntry.id), offset, limit)
