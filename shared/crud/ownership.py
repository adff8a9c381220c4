from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from sqlalchemy import Connection, Row, bindparam, select
from sqlalchemy.orm import Session, joinedload

from shared.errors import NotFound
from shared.models import ChargePoint, Connector, Evse, OcppConfiguration, User, Vehicle

M = TypeVar("M")


class Owner(Protocol):
    """Who must own a row: a :class:`User`, or only its id (a read's ``Reader``)."""

    @property
    def id(self) -> uuid.UUID: ...


def get_owned(session: Session, model: type[M], id: uuid.UUID, user: Owner) -> M:
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


def owned_charge_point(session: Session, id: uuid.UUID, user: Owner) -> ChargePoint:
    """:func:`get_owned` for a charge point, loaded with its configuration, EVSEs and
    connectors."""
    charge_point = session.execute(_CHARGE_POINT_WHOLE, {"id": id}).unique().scalar_one_or_none()
    if charge_point is None or charge_point.user_id != user.id:
        raise NotFound(f"charge point {id} not found")
    return charge_point


_charge_points = ChargePoint.__table__
_configurations = OcppConfiguration.__table__
_evses = Evse.__table__
_connectors = Connector.__table__
_CHARGE_POINT_COLUMNS = list(_charge_points.c)
_EVSE_COLUMNS = list(_evses.c)
_CONNECTOR_COLUMNS = list(_connectors.c)

#: :data:`_CHARGE_POINT_WHOLE` as Core rows, one per connector (an EVSE without connectors:
#: one row with no connector), in the order the ORM relationships give: loading ORM
#: objects (identity map, instance state, relationship collections) was three quarters of
#: that query's cost.
_CHARGE_POINT_ROWS = (
    select(
        *_CHARGE_POINT_COLUMNS,
        _configurations.c.id,
        _configurations.c["values"],
        *_EVSE_COLUMNS,
        *_CONNECTOR_COLUMNS,
    )
    .select_from(
        _charge_points.outerjoin(
            _configurations, _configurations.c.charge_point_id == _charge_points.c.id
        )
        .outerjoin(_evses, _evses.c.charge_point_id == _charge_points.c.id)
        .outerjoin(_connectors, _connectors.c.evse_id == _evses.c.id)
    )
    .where(_charge_points.c.id == bindparam("id"))
    .order_by(_evses.c.evseid, _connectors.c.connectorid)
)


@dataclass(slots=True)
class ChargePointRows:
    """A charge point as its columns: ``charge_point`` (with ``ocpp_configuration_id`` and
    ``ocpp_configuration``, as the model's properties name them), its EVSEs in ``evseid``
    order, each with ``connectors`` in ``connectorid`` order."""

    charge_point: dict[str, Any]
    evses: list[dict[str, Any]]


def owned_charge_point_rows(connection: Connection, id: uuid.UUID, user: Owner) -> ChargePointRows:
    """:func:`owned_charge_point` as column values, without ORM objects."""
    rows = connection.execute(_CHARGE_POINT_ROWS, {"id": id}).all()
    if not rows or rows[0][_USER_ID] != user.id:
        raise NotFound(f"charge point {id} not found")
    first = rows[0]
    charge_point = dict(zip(_CHARGE_POINT_NAMES, first[:_CONFIGURATION_AT], strict=True))
    charge_point["ocpp_configuration_id"] = first[_CONFIGURATION_AT]
    charge_point["ocpp_configuration"] = first[_CONFIGURATION_AT + 1]
    evses: list[dict[str, Any]] = []
    evse: dict[str, Any] | None = None
    for row in rows:
        evse_id = row[_EVSE_ID_AT]
        if evse_id is None:
            continue
        if evse is None or evse["id"] != evse_id:
            evse = dict(zip(_EVSE_NAMES, row[_EVSE_AT:_CONNECTOR_AT], strict=True))
            evse["connectors"] = []
            evses.append(evse)
        if row[_CONNECTOR_ID_AT] is not None:
            evse["connectors"].append(dict(zip(_CONNECTOR_NAMES, row[_CONNECTOR_AT:], strict=True)))
    return ChargePointRows(charge_point, evses)


_CHARGE_POINT_NAMES = [column.key for column in _CHARGE_POINT_COLUMNS]
_EVSE_NAMES = [column.key for column in _EVSE_COLUMNS]
_CONNECTOR_NAMES = [column.key for column in _CONNECTOR_COLUMNS]
_USER_ID = _CHARGE_POINT_NAMES.index("user_id")
_CONFIGURATION_AT = len(_CHARGE_POINT_NAMES)
_EVSE_AT = _CONFIGURATION_AT + 2
_EVSE_ID_AT = _EVSE_AT + _EVSE_NAMES.index("id")
_CONNECTOR_AT = _EVSE_AT + len(_EVSE_NAMES)
_CONNECTOR_ID_AT = _CONNECTOR_AT + _CONNECTOR_NAMES.index("id")


_vehicles = Vehicle.__table__
#: The connector columns a reading needs (worker.readings.ConnectorValues), prefixed.
CONNECTOR_READING_COLUMNS = (
    "id",
    "status",
    "current_ac_power",
    "current_dc_power",
    "current_energy",
    "total_energy",
    "soc",
    "measured_at",
    "transaction_id",
    "vehicle_id",
)

#: A vehicle with the connector it is plugged into and that charge point's speed, in
#: one Core query (the ORM took two, and ``session.get`` builds its statement each time).
_VEHICLE_WITH_CONNECTOR = (
    select(
        *_vehicles.c,
        *(_connectors.c[name].label(f"plugged_{name}") for name in CONNECTOR_READING_COLUMNS),
        _charge_points.c.speed_factor,
    )
    .select_from(
        _vehicles.outerjoin(_connectors, _connectors.c.id == _vehicles.c.connector_id).outerjoin(
            _charge_points, _charge_points.c.id == _connectors.c.charge_point_id
        )
    )
    .where(_vehicles.c.id == bindparam("id"))
)


def owned_vehicle_row(connection: Connection, id: uuid.UUID, user: Owner) -> Row[Any]:
    """:func:`get_owned` for a vehicle as a Core row: its columns, then its connector's
    :data:`CONNECTOR_READING_COLUMNS` as ``plugged_<name>`` (None when not plugged in)
    and that charge point's ``speed_factor``."""
    row = connection.execute(_VEHICLE_WITH_CONNECTOR, {"id": id}).first()
    if row is None or row.user_id != user.id:
        raise NotFound(f"vehicle {id} not found")
    return row


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
