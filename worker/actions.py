"""What the user's actions do: check ownership and state, then command the twin.

Routers call these; each returns the rows the answer is made of, read after the
host has written what the twin did.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.crud import charge_points, users
from shared.crud.charge_points import with_evses
from shared.crud.ownership import get_owned, owned_connector
from shared.errors import Conflict, DomainError, NotFound, ServiceUnavailable, Unprocessable
from shared.models import ChargePoint, Connector, Transaction, User, Vehicle
from shared.schemas.action import BulkActionResult, BulkItemOutcome
from worker.commands import CommandBus, CommandRequest, run_command, run_commands

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


def certificate_request(
    session: Session,
    bus: CommandBus,
    user: User,
    charge_point_id: uuid.UUID,
    arguments: dict[str, object],
    timeout: float,
) -> dict[str, object]:
    """See :func:`worker.twin.security.user_request`."""
    get_owned(session, ChargePoint, charge_point_id, user)
    return _command(
        session, bus, user, charge_point_id, "certificate_request", timeout, **arguments
    )


def set_firmware_failure(
    session: Session,
    bus: CommandBus,
    user: User,
    charge_point_id: uuid.UUID,
    failure: str,
    timeout: float,
) -> dict[str, object]:
    get_owned(session, ChargePoint, charge_point_id, user)
    return _command(
        session, bus, user, charge_point_id, "set_firmware_failure", timeout, failure=failure
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


# -- bulk actions ----------------------------------------------------------------


class _Bulk:
    """The items of one bulk action: those refused before any command (not owned, listed
    twice, not possible now), and the commands for the others, carried out together."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.refused: dict[int, tuple[DomainError, uuid.UUID | None]] = {}
        self.commands: list[tuple[int, CommandRequest, uuid.UUID | None]] = []

    def refuse(
        self, index: int, error: DomainError, charge_point_id: uuid.UUID | None = None
    ) -> None:
        self.refused[index] = (error, charge_point_id)

    def command(
        self,
        index: int,
        charge_point_id: uuid.UUID,
        name: str,
        arguments: dict[str, object],
        transaction_id: uuid.UUID | None = None,
    ) -> None:
        """``transaction_id``: the transaction the item is about, when known beforehand."""
        self.commands.append(
            (index, CommandRequest(charge_point_id, name, arguments), transaction_id)
        )

    def run(
        self, session: Session, bus: CommandBus, user: User, rate: float | None, timeout: float
    ) -> BulkActionResult:
        answers = run_commands(
            session,
            bus,
            user_id=user.id,
            requests=[request for _, request, _ in self.commands],
            timeout=timeout,
            rate=rate,
        )
        outcomes: dict[int, BulkItemOutcome] = {
            index: _failed(index, error, charge_point_id)
            for index, (error, charge_point_id) in self.refused.items()
        }
        for (index, request, transaction_id), answer in zip(self.commands, answers, strict=True):
            if isinstance(answer, DomainError):
                outcomes[index] = _failed(index, answer, request.charge_point_id)
                continue
            started = answer.get("transaction_id")
            outcomes[index] = BulkItemOutcome(
                index=index,
                ok=True,
                status_code=200,
                charge_point_id=request.charge_point_id,
                transaction_id=uuid.UUID(str(started)) if started else transaction_id,
            )
        data = [outcomes[index] for index in range(self.count)]
        succeeded = sum(outcome.ok for outcome in data)
        return BulkActionResult(data=data, succeeded=succeeded, failed=len(data) - succeeded)


def _failed(index: int, error: DomainError, charge_point_id: uuid.UUID | None) -> BulkItemOutcome:
    return BulkItemOutcome(
        index=index,
        ok=False,
        status_code=error.status_code,
        code=error.code,
        detail=error.message,
        charge_point_id=charge_point_id,
    )


def _listed_twice(what: str, id: uuid.UUID, first: int) -> Unprocessable:
    return Unprocessable(
        f"{what} {id} is also item {first} of this request: list each once", code="duplicate"
    )


def bulk_charge_point_command(
    session: Session,
    bus: CommandBus,
    user: User,
    charge_point_ids: Sequence[uuid.UUID],
    name: str,
    rate: float | None,
    timeout: float,
) -> BulkActionResult:
    """connect or disconnect many charge points: the bulk form of :func:`connect` and
    :func:`disconnect`."""
    owned = set(
        session.scalars(
            select(ChargePoint.id).where(
                ChargePoint.id.in_(charge_point_ids), ChargePoint.user_id == user.id
            )
        )
    )
    bulk = _Bulk(len(charge_point_ids))
    first: dict[uuid.UUID, int] = {}
    for index, charge_point_id in enumerate(charge_point_ids):
        if charge_point_id not in owned:
            bulk.refuse(index, NotFound(f"charge point {charge_point_id} not found"))
        elif charge_point_id in first:
            bulk.refuse(
                index, _listed_twice("charge point", charge_point_id, first[charge_point_id])
            )
        else:
            first[charge_point_id] = index
            bulk.command(index, charge_point_id, name, {})
    return bulk.run(session, bus, user, rate, timeout)


@dataclass(frozen=True, slots=True)
class StartItem:
    connector_id: uuid.UUID
    vehicle_id: uuid.UUID
    id_tag: str | None = None


def bulk_start_transactions(
    session: Session,
    bus: CommandBus,
    user: User,
    items: Sequence[StartItem],
    rate: float | None,
    timeout: float,
) -> BulkActionResult:
    """Plug in, authorise and start on many connectors: the bulk form of
    :func:`start_transaction`, with the same checks per item."""
    connectors = {
        row.id: row
        for row in session.execute(
            select(Connector.id, Connector.connectorid, Connector.charge_point_id)
            .join(ChargePoint, ChargePoint.id == Connector.charge_point_id)
            .where(
                Connector.id.in_({item.connector_id for item in items}),
                ChargePoint.user_id == user.id,
            )
        )
    }
    vehicles = {
        vehicle.id: vehicle
        for vehicle in session.scalars(
            select(Vehicle).where(
                Vehicle.id.in_({item.vehicle_id for item in items}), Vehicle.user_id == user.id
            )
        )
    }
    bulk = _Bulk(len(items))
    connector_first: dict[uuid.UUID, int] = {}
    vehicle_first: dict[uuid.UUID, int] = {}
    for index, item in enumerate(items):
        connector = connectors.get(item.connector_id)
        vehicle = vehicles.get(item.vehicle_id)
        charge_point_id = connector.charge_point_id if connector is not None else None
        if connector is None:
            bulk.refuse(index, NotFound(f"connector {item.connector_id} not found"))
        elif vehicle is None:
            bulk.refuse(index, NotFound(f"vehicle {item.vehicle_id} not found"), charge_point_id)
        elif item.connector_id in connector_first:
            error = _listed_twice(
                "connector", item.connector_id, connector_first[item.connector_id]
            )
            bulk.refuse(index, error, charge_point_id)
        elif item.vehicle_id in vehicle_first:
            error = _listed_twice("vehicle", item.vehicle_id, vehicle_first[item.vehicle_id])
            bulk.refuse(index, error, charge_point_id)
        elif vehicle.connector_id is not None and vehicle.connector_id != connector.id:
            error = Conflict(f"vehicle {vehicle.id} is plugged in at another connector")
            bulk.refuse(index, error, charge_point_id)
        elif vehicle.transaction_id is not None:
            error = Conflict(
                f"vehicle {vehicle.id} is already in transaction {vehicle.transaction_id}"
            )
            bulk.refuse(index, error, charge_point_id)
        else:
            connector_first[item.connector_id] = index
            vehicle_first[item.vehicle_id] = index
            bulk.command(
                index,
                connector.charge_point_id,
                "start_transaction",
                {
                    "connector": connector.connectorid,
                    "vehicle_id": str(vehicle.id),
                    "id_tag": item.id_tag or vehicle.id_tag,
                },
            )
    return bulk.run(session, bus, user, rate, timeout)


def bulk_stop_transactions(
    session: Session,
    bus: CommandBus,
    user: User,
    items: Sequence[tuple[uuid.UUID, str]],
    rate: float | None,
    timeout: float,
) -> BulkActionResult:
    """Stop many transactions, each ``(transaction id, reason)``: the bulk form of
    :func:`stop_transaction`."""
    transactions = {
        row.id: row
        for row in session.execute(
            select(Transaction.id, Transaction.charge_point_id, Transaction.end_time).where(
                Transaction.id.in_({id for id, _ in items}), Transaction.user_id == user.id
            )
        )
    }
    bulk = _Bulk(len(items))
    first: dict[uuid.UUID, int] = {}
    for index, (transaction_id, reason) in enumerate(items):
        transaction = transactions.get(transaction_id)
        if transaction is None:
            bulk.refuse(index, NotFound(f"transaction {transaction_id} not found"))
        elif transaction_id in first:
            error = _listed_twice("transaction", transaction_id, first[transaction_id])
            bulk.refuse(index, error, transaction.charge_point_id)
        elif transaction.end_time is not None:
            error = Conflict(f"transaction {transaction_id} has already ended")
            bulk.refuse(index, error, transaction.charge_point_id)
        else:
            first[transaction_id] = index
            bulk.command(
                index,
                transaction.charge_point_id,
                "stop_transaction",
                {"transaction_id": str(transaction_id), "reason": reason},
                transaction_id,
            )
    return bulk.run(session, bus, user, rate, timeout)
