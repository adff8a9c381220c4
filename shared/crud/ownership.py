from __future__ import annotations

import uuid
from typing import Any, TypeVar

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, joinedload

from shared.errors import NotFound
from shared.models import ChargePoint, Connector, Evse, User

M = TypeVar("M")


def get_owned(session: Session, model: type[M], id: uuid.UUID, user: User) -> M:
    """The row of ``model`` with this id if ``user`` owns it; otherwise NotFound (never 403)."""
    row = session.get(model, id)
    if row is None or getattr(row, "user_id", None) != user.id:
        raise NotFound(f"{_label(model)} {id} not found")
    return row


#: A charge point with everything its answer shows (configuration, EVSEs, connectors) in
#: one query, where lazy loading takes four; built once, as building a statement costs
#: about as much as running it (SQLAlchemy computes its cache key each time).
_CHARGE_POINT_WHOLE = (
    select(ChargePoint)
    .where(ChargePoint.id == bindparam("id"))
    .options(
        joinedload(ChargePoint.configuration),
        joinedload(ChargePoint.evses).joinedload(Evse.connectors),
    )
)


def owned_charge_point(session: Session, id: uuid.UUID, user: User) -> ChargePoint:
    """:func:`get_owned` for a charge point, loaded with its configuration, EVSEs and
    connectors."""
    charge_point = session.execute(_CHARGE_POINT_WHOLE, {"id": id}).unique().scalar_one_or_none()
    if charge_point is None or charge_point.user_id != user.id:
        raise NotFound(f"charge point {id} not found")
    return charge_point


def _label(model: type[Any]) -> str:
    return {"ChargePoint": "charge point", "AppToken": "app token"}.get(
        model.__name__, model.__name__.lower()
    )


def owned_connector(session: Session, id: uuid.UUID, user: User) -> Connector:
    connector = session.get(Connector, id)
    if connector is None or connector.charge_point.user_id != user.id:
        raise NotFound(f"connector {id} not found")
    return connector


def owned_evse(session: Session, id: uuid.UUID, user: User) -> Evse:
    evse = session.get(Evse, id)
    if evse is None or evse.charge_point.user_id != user.id:
        raise NotFound(f"EVSE {id} not found")
    return evse
