from __future__ import annotations

from collections import defaultdict

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared.models import ChargePoint, TwinHost
from shared.models.base import utcnow
from shared.schemas.host import HostedTwin, TwinHostPublic


def list_hosts(session: Session) -> list[TwinHostPublic]:
    hosted: dict[str, list[HostedTwin]] = defaultdict(list)
    rows = session.execute(
        select(ChargePoint.host, ChargePoint.id, ChargePoint.cid)
        .where(ChargePoint.host.is_not(None))
        .order_by(ChargePoint.cid)
    )
    for host, charge_point_id, cid in rows:
        hosted[host].append(HostedTwin(id=charge_point_id, cid=cid))
    now = utcnow()
    return [
        TwinHostPublic(
            name=host.name,
            pid=host.pid,
            status=host.status,
            started_at=host.started_at,
            heartbeat_at=host.heartbeat_at,
            lease_expires_at=host.lease_expires_at,
            alive=host.status != "stopped"
            and host.lease_expires_at is not None
            and host.lease_expires_at > now,
            twin_count=len(hosted[host.name]),
            twins=hosted[host.name],
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
