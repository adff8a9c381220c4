from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared.models import ChargePoint, TwinHost
from shared.models.base import utcnow
from shared.schemas.host import TwinHostPublic

#: A host that has not reported for this long is taken for dead.
HOST_DEADLINE = timedelta(seconds=60)


def list_hosts(session: Session) -> list[TwinHostPublic]:
    counts = dict(
        session.execute(
            select(ChargePoint.host, func.count())
            .where(ChargePoint.host.is_not(None))
            .group_by(ChargePoint.host)
        ).all()
    )
    now = utcnow()
    return [
        TwinHostPublic(
            name=host.name,
            started_at=host.started_at,
            heartbeat_at=host.heartbeat_at,
            alive=now - host.heartbeat_at < HOST_DEADLINE,
            charge_points=counts.get(host.name, 0),
        )
        for host in session.scalars(select(TwinHost).order_by(TwinHost.name))
    ]


def list_hosted_charge_points(
    session: Session, offset: int, limit: int, host: str | None = None
) -> tuple[list[ChargePoint], int]:
    query = select(ChargePoint)
    if host is not None:
        query = query.where(ChargePoint.host == host)
    count = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(ChargePoint.created_at).offset(offset).limit(limit))
    return list(rows), count
