from __future__ import annotations

import secrets
import string

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, selectinload

from shared.errors import Conflict, QuotaExceeded, Unprocessable
from shared.models import ChargePoint, Connector, Evse, OcppConfiguration, User, Vehicle
from shared.schemas.charge_point import ChargePointCreate, ChargePointUpdate
from worker.twin.charge_point import (
    MAX_HEARTBEATS_PER_SECOND,
    MAX_SAMPLES_PER_SECOND,
    periodic_messages_per_second,
)
from worker.twin.configuration import configuration_problems, evse_layout

_CID_ALPHABET = string.ascii_uppercase + string.digits


def new_cid() -> str:
    """A charge point identity like ``ELU-WIU4-KNKTT-821XH28NUWB``."""
    parts = ["".join(secrets.choice(_CID_ALPHABET) for _ in range(n)) for n in (4, 5, 11)]
    return "ELU-" + "-".join(parts)


def with_evses():  # type: ignore[no-untyped-def]
    return (
        selectinload(ChargePoint.evses).selectinload(Evse.connectors),
        selectinload(ChargePoint.configuration),
    )


def create_charge_points(
    session: Session,
    user: User,
    bodies: list[ChargePointCreate],
    max_messages_per_second: float | None = None,
) -> list[ChargePoint]:
    """Create one or many charge points with their EVSEs and connectors: all, or none.
    Each must be able to run within ``max_messages_per_second`` (the user's bound)."""
    owned = session.scalar(select(func.count()).where(ChargePoint.user_id == user.id)) or 0
    if owned + len(bodies) > user.quota.max_charge_points:
        raise QuotaExceeded(
            f"your quota allows {user.quota.max_charge_points} charge points; you have {owned} "
            f"and asked for {len(bodies)} more"
        )
    for number, body in enumerate(bodies, start=1):
        layout = [[c.connector_type for c in evse.connectors] for evse in body.evses]
        where = f"charge point {number}: " if len(bodies) > 1 else ""
        check_ocpp_configuration(body.ocpp_protocol, layout, body.ocpp_configuration, where)
        if max_messages_per_second is not None:
            connectors = sum(len(evse) for evse in layout)
            check_message_rate(body.speed_factor, connectors, max_messages_per_second, where)
    cids = [body.cid or new_cid() for body in bodies]
    if len(set(cids)) != len(cids):
        raise Conflict("the same cid is given twice")
    taken = session.scalars(select(ChargePoint.cid).where(ChargePoint.cid.in_(cids))).all()
    if taken:
        raise Conflict(f"cid {taken[0]!r} is already used by another charge point")
    charge_points = [_build(user, body, cid) for body, cid in zip(bodies, cids, strict=True)]
    session.add_all(charge_points)
    session.commit()
    return charge_points


def _build(user: User, body: ChargePointCreate, cid: str) -> ChargePoint:
    fields = body.model_dump(exclude={"cid", "evses", "ocpp_configuration"})
    charge_point = ChargePoint(user_id=user.id, quota_id=user.quota.id, cid=cid, **fields)
    charge_point.configuration = OcppConfiguration(
        protocol=body.ocpp_protocol, values=dict(body.ocpp_configuration)
    )
    connector_id = 0
    for evse_number, evse_body in enumerate(body.evses, start=1):
        evse = Evse(evseid=evse_number)
        for connector_body in evse_body.connectors:
            connector_id += 1
            evse.connectors.append(
                Connector(
                    connectorid=connector_id,
                    connector_type=connector_body.connector_type,
                    charge_point=charge_point,
                )
            )
        charge_point.evses.append(evse)
    return charge_point


def list_charge_points(
    session: Session, user: User, offset: int, limit: int
) -> tuple[list[ChargePoint], int]:
    query = (
        select(ChargePoint)
        .where(ChargePoint.user_id == user.id)
        .options(*with_evses())
        .order_by(ChargePoint.created_at)
        .offset(offset)
        .limit(limit)
    )
    count = session.scalar(select(func.count()).where(ChargePoint.user_id == user.id)) or 0
    return list(session.scalars(query)), count


def update_charge_point(
    session: Session,
    charge_point: ChargePoint,
    body: ChargePointUpdate,
    max_messages_per_second: float | None = None,
) -> ChargePoint:
    changes = body.model_dump(exclude_unset=True)
    if max_messages_per_second is not None and "speed_factor" in changes:
        check_message_rate(
            changes["speed_factor"], connector_count(charge_point), max_messages_per_second
        )
    configuration = changes.pop("ocpp_configuration", None)
    if configuration:
        if charge_point.connected:
            raise Conflict(
                "the charge point is connected, and its CSMS may change the same values: "
                "disconnect it first (or have the CSMS change them)"
            )
        layout = [[c.connector_type for c in evse.connectors] for evse in charge_point.evses]
        check_ocpp_configuration(charge_point.ocpp_protocol, layout, configuration)
        charge_point.configuration.values = charge_point.configuration.values | configuration
    for field, value in changes.items():
        setattr(charge_point, field, value)
    session.commit()
    return charge_point


def connector_count(charge_point: ChargePoint) -> int:
    return sum(len(evse.connectors) for evse in charge_point.evses)


def _rate_words(speed: float, connectors: int) -> str:
    rate = periodic_messages_per_second(speed, connectors)
    return (
        f"speed_factor {speed:g} with {connectors} connector{'s' if connectors != 1 else ''} "
        f"may send up to {rate:,.0f} periodic messages a real second (each connector's meter "
        f"values at most {MAX_SAMPLES_PER_SECOND} a second, a heartbeat at most "
        f"{MAX_HEARTBEATS_PER_SECOND})"
    )


def check_message_rate(speed: float, connectors: int, limit: float, where: str = "") -> None:
    """Unprocessable when this one charge point could exceed the user's bound alone."""
    if periodic_messages_per_second(speed, connectors) > limit:
        raise Unprocessable(
            f"{where}{_rate_words(speed, connectors)}; one user's twins may send at most "
            f"{limit:,.0f} together (ELU_MAX_USER_MESSAGES_PER_SECOND): lower speed_factor "
            "or use fewer connectors"
        )


def check_connect_rate(session: Session, charge_point: ChargePoint, limit: float) -> None:
    """Conflict when connecting this charge point would let the user's connected twins
    together send more periodic messages a real second than ``limit``."""
    others = session.execute(
        select(ChargePoint.speed_factor, func.count(Connector.id))
        .join(Connector, Connector.charge_point_id == ChargePoint.id)
        .where(
            ChargePoint.user_id == charge_point.user_id,
            ChargePoint.desired_state == "connected",
            ChargePoint.id != charge_point.id,
        )
        .group_by(ChargePoint.id, ChargePoint.speed_factor)
    ).all()
    running = sum(periodic_messages_per_second(speed, count) for speed, count in others)
    connectors = connector_count(charge_point)
    added = periodic_messages_per_second(charge_point.speed_factor, connectors)
    if running + added > limit:
        raise Conflict(
            f"your connected charge points may send up to {running:,.0f} periodic messages a "
            f"real second, and this one adds up to {added:,.0f} ("
            f"{_rate_words(charge_point.speed_factor, connectors)}); one user's twins may send "
            f"at most {limit:,.0f} together (ELU_MAX_USER_MESSAGES_PER_SECOND): disconnect "
            "some, or lower their speed_factor",
            code="message_rate",
        )


def check_ocpp_configuration(
    protocol: str, layout: list[list[str]], values: dict[str, str], where: str = ""
) -> None:
    """Unprocessable, naming each key the twin would not take and why."""
    problems = configuration_problems(protocol, evse_layout(layout), values)  # type: ignore[arg-type]
    if problems:
        reasons = "; ".join(f"{key}: {reason}" for key, reason in problems.items())
        raise Unprocessable(f"{where}ocpp_configuration: {reasons}")


def release_vehicles(session: Session, charge_point_ids: object) -> None:
    """Vehicles plugged in at these charge points are free again (their charge points are
    about to go): a twin that ran them has unplugged them already, this covers the rest."""
    session.execute(
        update(Vehicle)
        .where(
            Vehicle.connector_id.in_(
                select(Connector.id).where(Connector.charge_point_id.in_(charge_point_ids))  # type: ignore[arg-type]
            )
        )
        .values(connector_id=None, transaction_id=None, status="ready-to-charge")
        .execution_options(synchronize_session=False)
    )


def delete_charge_point(session: Session, charge_point: ChargePoint) -> None:
    """Delete the charge point and everything recorded about it; its vehicles stay."""
    release_vehicles(session, [charge_point.id])
    session.delete(charge_point)
    session.commit()
