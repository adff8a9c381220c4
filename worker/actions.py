"""What the user's actions do: check ownership and state, then command the twin.

Routers call these; each returns the rows the answer is made of, read after the
host has written what the twin did.
"""

from __future__ import annotations

import uuid
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.crud import charge_points, users
from shared.crud.charge_points import with_evses
from shared.crud.ownership import get_owned, owned_connector
from shared.errors import Conflict, ServiceUnavailable
from shared.models import ChargePoint, Connector, Transaction, User, Vehicle
from worker.commands import CommandBus, run_command

M = TypeVar("M")


def _command(
    session: Session,
    bus: CommandBus,
    user: User,
    charge_point_id: uuid.UUID,
    name: str,
    timeout: float,
    **arguments: object,
) -> dict[str, object]:
    return run_command(
        session,
        bus,
        charge_point_id=charge_point_id,
        user_id=user.id,
        name=name,
        arguments=arguments,
        timeout=timeout,
    )


def _reread(session: Session, model: type[M], id: uuid.UUID, **options: Any) -> M:
    """The row as the host has just written it (not as this session cached it)."""
    session.expire_all()
    row = session.get(model, id, **options)
    assert row is not None
    return row


def connect(
    session: Session,
    bus: CommandBus,
    user: User,
    charge_point_id: uuid.UUID,
    timeout: float,
    max_messages_per_second: float | None = None,
) -> ChargePoint:
    """Connect and boot; refused when the user's connected twins could then send more
    periodic messages a real second than ``max_messages_per_second``."""
    charge_point = get_owned(session, ChargePoint, charge_point_id, user)
    if max_messages_per_second is not None:
        charge_points.check_connect_rate(session, charge_point, max_messages_per_second)
    _command(session, bus, user, charge_point_id, "connect", timeout)
    return _reread(session, ChargePoint, charge_point_id, options=with_evses())


def disconnect(
    session: Session, bus: CommandBus, user: User, charge_point_id: uuid.UUID, timeout: float
) -> ChargePoint:
    get_owned(session, ChargePoint, charge_point_id, user)
    _command(session, bus, user, charge_point_id, "disconnect", timeout)
    return _reread(session, ChargePoint, charge_point_id, options=with_evses())


#: Seconds a twin gets to end its sessions towards the CSMS and close, when deleted.
REMOVE_TIMEOUT = 30.0


def _remove_twin(
    session: Session, bus: CommandBus | None, user_id: uuid.UUID, charge_point: ChargePoint
) -> None:
    """Stop the twin if a host runs it: running transactions end towards the CSMS,
    vehicles are unplugged, the websocket closes (see ``Host._remove``)."""
    if charge_point.host is None:
        return
    if bus is None:
        raise ServiceUnavailable(
            f"charge point {charge_point.id} runs on host {charge_point.host}, "
            "which this API cannot reach: start ELU Twins with `elu-twins up`"
        )
    run_command(
        session,
        bus,
        charge_point_id=charge_point.id,
        user_id=user_id,
        name="remove",
        arguments={},
        timeout=REMOVE_TIMEOUT,
    )


def delete_charge_point(
    session: Session, bus: CommandBus | None, user: User, charge_point_id: uuid.UUID
) -> None:
    """Stop the twin (its sessions end towards the CSMS, its vehicles are released), then
    delete the charge point and everything recorded about it."""
    charge_point = get_owned(session, ChargePoint, charge_point_id, user)
    _remove_twin(session, bus, user.id, charge_point)
    session.refresh(charge_point)
    charge_points.delete_charge_point(session, charge_point)


def delete_user(session: Session, bus: CommandBus | None, user: User) -> None:
    """Stop every twin of the user as :func:`delete_charge_point` does, then delete the
    user with everything they own: nothing of theirs keeps running."""
    hosted = session.scalars(
        select(ChargePoint).where(ChargePoint.user_id == user.id, ChargePoint.host.is_not(None))
    ).all()
    for charge_point in hosted:
        _remove_twin(session, bus, user.id, charge_point)
    session.expire_all()
    users.delete_user(session, user)


def data_transfer(
    session: Session,
    bus: CommandBus,
    user: User,
    charge_point_id: uuid.UUID,
    vendor_id: str,
    message_id: str | None,
    data: object,
    timeout: float,
) -> dict[str, object]:
    get_owned(session, ChargePoint, charge_point_id, user)
    return _command(
        session,
        bus,
        user,
        charge_point_id,
        "data_transfer",
        timeout,
        vendor_id=vendor_id,
        message_id=message_id,
        data=data,
    )


def _owned_vehicle(session: Session, user: User, vehicle_id: uuid.UUID) -> Vehicle:
    return get_owned(session, Vehicle, vehicle_id, user)


def plug_in(
    session: Session,
    bus: CommandBus,
    user: User,
    connector_id: uuid.UUID,
    vehicle_id: uuid.UUID,
    timeout: float,
) -> Connector:
    connector = owned_connector(session, connector_id, user)
    vehicle = _owned_vehicle(session, user, vehicle_id)
    if vehicle.connector_id is not None and vehicle.connector_id != connector.id:
        raise Conflict(
            f"vehicle {vehicle.id} is already plugged in at connector {vehicle.connector_id}"
        )
    _command(
        session,
        bus,
        user,
        connector.charge_point_id,
        "plug_in",
        timeout,
        connector=connector.connectorid,
        vehicle_id=str(vehicle.id),
    )
    return _reread(session, Connector, connector_id)


def connector_command(
    session: Session,
    bus: CommandBus,
    user: User,
    connector_id: uuid.UUID,
    name: str,
    timeout: float,
    **arguments: object,
) -> Connector:
    """unplug, set_faulted, clear_fault: commands on one connector."""
    connector = owned_connector(session, connector_id, user)
    _command(
        session,
        bus,
        user,
        connector.charge_point_id,
        name,
        timeout,
        connector=connector.connectorid,
        **arguments,
    )
    return _reread(session, Connector, connector_id)


def start_transaction(
    session: Session,
    bus: CommandBus,
    user: User,
    connector_id: uuid.UUID,
    vehicle_id: uuid.UUID,
    id_tag: str | None,
    timeout: float,
) -> Transaction:
    connector = owned_connector(session, connector_id, user)
    vehicle = _owned_vehicle(session, user, vehicle_id)
    if vehicle.connector_id is not None and vehicle.connector_id != connector.id:
        raise Conflict(f"vehicle {vehicle.id} is plugged in at another connector")
    if vehicle.transaction_id is not None:
        raise Conflict(f"vehicle {vehicle.id} is already in transaction {vehicle.transaction_id}")
    result = _command(
        session,
        bus,
        user,
        connector.charge_point_id,
        "start_transaction",
        timeout,
        connector=connector.connectorid,
        vehicle_id=str(vehicle.id),
        id_tag=id_tag or vehicle.id_tag,
    )
    return _reread(session, Transaction, uuid.UUID(str(result["transaction_id"])))


def stop_transaction(
    session: Session,
    bus: CommandBus,
    user: User,
    transaction_id: uuid.UUID,
    reason: str,
    timeout: float,
) -> Transaction:
    transaction = get_owned(session, Transaction, transaction_id, user)
    if transaction.end_time is not None:
        raise Conflict(f"transaction {transaction_id} has already ended")
    _command(
        session,
        bus,
        user,
        transaction.charge_point_id,
        "stop_transaction",
        timeout,
        transaction_id=str(transaction.id),
        reason=reason,
    )
    return _reread(session, Transaction, transaction_id)
