"""Who hosts which twin: host leases, fencing tokens and placement.

A twin host (the embedded process, or a Celery worker) holds every twin it
hosts by one lease, its ``twin_hosts`` row's ``lease_expires_at``, renewed with
each heartbeat. A twin belongs to the host named in ``charge_points.host``
while that host's lease lasts; ``charge_points.lease_token`` rises each time the
twin changes hands, and the twin's saved state is written only with the current
token (fencing).

The host keeps a local deadline a little shorter than the lease it wrote
(:class:`LeaseClock`): past it, its twins send nothing more. Others take the
twins over only once the lease in the database has run out plus a grace, so a
host that was paused or cut off has always gone quiet before its twins talk
through another host.

All times that decide ownership are the database's (``now()`` in the
statements' parameters come from the host that runs them; hosts' clocks are
assumed to agree to well within the grace).
"""

from __future__ import annotations

import heapq
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Engine, and_, func, or_, select, text, update
from sqlalchemy.orm import Session

from shared.db import session_for
from shared.errors import ServiceUnavailable
from shared.models import ChargePoint, TwinHost
from shared.models.base import utcnow

#: Seconds past a lease's end before others take its twins (clock skew, slow commits).
TAKEOVER_GRACE = 1.0
#: Postgres advisory lock that serialises placement decisions.
PLACEMENT_LOCK = 0x454C55  # "ELU"


class LeaseClock:
    """This host's own view of its lease, on the monotonic clock.

    ``renewing()`` is taken before the database write and ``renewed()`` after it
    succeeded, so the local deadline always ends before the lease the database
    holds (which starts when the write commits).
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.margin = min(2.0, seconds / 5)
        self._deadline = 0.0
        self._attempt = 0.0

    def renewing(self) -> None:
        self._attempt = time.monotonic()

    def renewed(self) -> None:
        self._deadline = self._attempt + self.seconds - self.margin

    def lost(self) -> None:
        self._deadline = 0.0

    def valid(self) -> bool:
        return time.monotonic() < self._deadline

    @property
    def remaining(self) -> float:
        return self._deadline - time.monotonic()


@dataclass(frozen=True, slots=True)
class HostLease:
    """What a host learns when it renews: whether its lease had already lapsed, and
    when it was last known alive before this renewal."""

    lapsed: bool
    previous_heartbeat: datetime | None


def renew(engine: Engine, name: str, pid: int | None, seconds: float) -> HostLease:
    """Register the host or renew its lease (one row, one statement per renewal)."""
    with session_for(engine) as session:
        now = utcnow()
        row = session.get(TwinHost, name, with_for_update=True)
        if row is None:
            session.add(
                TwinHost(
                    name=name,
                    pid=pid,
                    status="running",
                    started_at=now,
                    heartbeat_at=now,
                    lease_expires_at=now + timedelta(seconds=seconds),
                )
            )
            session.commit()
            return HostLease(lapsed=False, previous_heartbeat=None)
        previous = row.heartbeat_at
        lapsed = row.lease_expires_at is None or row.lease_expires_at <= now
        row.heartbeat_at = now
        row.lease_expires_at = now + timedelta(seconds=seconds)
        row.pid = pid
        row.status = "running"
        session.commit()
        return HostLease(lapsed=lapsed, previous_heartbeat=previous)


def mark_draining(engine: Engine, name: str) -> None:
    with session_for(engine) as session:
        session.execute(update(TwinHost).where(TwinHost.name == name).values(status="draining"))
        session.commit()


def release_all(engine: Engine, name: str) -> list[uuid.UUID]:
    """Give up every twin this host holds (for others, or for itself, to take again)."""
    with session_for(engine) as session:
        released = list(session.scalars(select(ChargePoint.id).where(ChargePoint.host == name)))
        session.execute(update(ChargePoint).where(ChargePoint.host == name).values(host=None))
        session.commit()
        return released


def end_lease(engine: Engine, name: str) -> None:
    """The host stopped for good: its lease ends now (its row stays, for its last heartbeat)."""
    with session_for(engine) as session:
        session.execute(
            update(TwinHost)
            .where(TwinHost.name == name)
            .values(status="stopped", lease_expires_at=utcnow())
        )
        session.commit()


def _live(now: datetime) -> ColumnElement[bool]:
    """Hosts that take new twins."""
    return and_(TwinHost.status == "running", TwinHost.lease_expires_at > now)


def _expired(now: datetime) -> ColumnElement[bool]:
    deadline = now - timedelta(seconds=TAKEOVER_GRACE)
    return or_(TwinHost.lease_expires_at.is_(None), TwinHost.lease_expires_at < deadline)


def holder_status(session: Session, name: str | None) -> str | None:
    """``running`` or ``draining`` while the named host still holds its twins (its lease
    lasts), else None: the host is gone and its twins are for others to take."""
    if name is None:
        return None
    return session.scalar(
        select(TwinHost.status).where(
            TwinHost.name == name,
            TwinHost.status.in_(("running", "draining")),
            TwinHost.lease_expires_at > utcnow(),
        )
    )


@dataclass(frozen=True, slots=True)
class Orphan:
    charge_point_id: uuid.UUID
    host: str | None
    lease_token: int


def orphans(session: Session, limit: int = 1000) -> list[Orphan]:
    """Twins the user wants connected whose host is gone (lease run out) or who have none."""
    now = utcnow()
    expired_hosts = select(TwinHost.name).where(_expired(now))
    gone = or_(
        ChargePoint.host.is_(None),
        ChargePoint.host.in_(expired_hosts),
        ~ChargePoint.host.in_(select(TwinHost.name)),
    )
    rows = session.execute(
        select(ChargePoint.id, ChargePoint.host, ChargePoint.lease_token)
        .where(ChargePoint.desired_state == "connected", gone)
        .order_by(ChargePoint.created_at)
        .limit(limit)
    )
    return [Orphan(*row) for row in rows]


def last_heartbeat(session: Session, name: str | None) -> datetime | None:
    if name is None:
        return None
    return session.scalar(select(TwinHost.heartbeat_at).where(TwinHost.name == name))


def take(session: Session, orphan: Orphan, new_host: str) -> int | None:
    """Compare-and-set the twin from its old holder to ``new_host``; the new fencing token,
    or None when someone else got there first."""
    result = session.execute(
        update(ChargePoint)
        .where(
            ChargePoint.id == orphan.charge_point_id,
            ChargePoint.lease_token == orphan.lease_token,
            ChargePoint.host.is_(None) if orphan.host is None else ChargePoint.host == orphan.host,
        )
        .values(host=new_host, lease_token=ChargePoint.lease_token + 1)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return None
    return orphan.lease_token + 1


NO_HOST = (
    "no twin host is running: start a worker (`elu-twins worker`, or `elu-twins up --distributed`)"
)


def _live_loads(session: Session) -> list[tuple[int, str]]:
    """(twins held, name) of each live host, fewest first (ties: the name, so that choices
    are stable)."""
    counts = (
        select(ChargePoint.host, func.count().label("twins"))
        .where(ChargePoint.host.is_not(None))
        .group_by(ChargePoint.host)
        .subquery()
    )
    twins = func.coalesce(counts.c.twins, 0)
    rows = session.execute(
        select(twins, TwinHost.name)
        .outerjoin(counts, counts.c.host == TwinHost.name)
        .where(_live(utcnow()))
        .order_by(twins, TwinHost.name)
    )
    return [(int(count), name) for count, name in rows]


def least_loaded_host(session: Session) -> str:
    """The live host with the fewest twins (ties: the name, so that choices are stable)."""
    loads = _live_loads(session)
    if not loads:
        raise ServiceUnavailable(NO_HOST, code="no_host")
    return loads[0][1]


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a twin runs. ``draining``: its host is handing it over right now; the next
    host carries out the commands that wait for it."""

    host: str
    lease_token: int
    draining: bool = False


def place(session: Session, charge_point_id: uuid.UUID) -> Placement:
    """The twin's host, placing it on the least loaded live host when it has none."""
    row = session.execute(
        select(ChargePoint.host, ChargePoint.lease_token).where(ChargePoint.id == charge_point_id)
    ).one()
    status = holder_status(session, row.host)
    if row.host is not None and status is not None:
        return Placement(row.host, row.lease_token, draining=status == "draining")
    placed = assign(session, Orphan(charge_point_id, row.host, row.lease_token))
    if placed is not None:
        return Placement(*placed)
    session.expire_all()  # moved meanwhile: whoever moved it placed it
    return place(session, charge_point_id)


def assign(session: Session, orphan: Orphan) -> tuple[str, int] | None:
    """Put an orphan on the least loaded live host (committed); None if another host or
    API process moved it first.

    Placement decisions are serialised by a Postgres advisory lock, so that a burst
    of connects spreads evenly instead of all choosing the same least loaded host.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PLACEMENT_LOCK})
    host = least_loaded_host(session)
    token = take(session, orphan, host)
    session.commit()
    return None if token is None else (host, token)


def place_many(
    session: Session, charge_point_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, Placement]:
    """The hosts of many twins at once (a bulk action): each keeps its live host; the others
    are spread over the live hosts, the least loaded first, in one transaction. A twin
    that no longer exists has no placement."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PLACEMENT_LOCK})
    rows = session.execute(
        select(ChargePoint.id, ChargePoint.host, ChargePoint.lease_token).where(
            ChargePoint.id.in_(list(charge_point_ids))
        )
    ).all()
    holders = {row.host for row in rows if row.host is not None}
    statuses = dict(
        session.execute(
            select(TwinHost.name, TwinHost.status).where(
                TwinHost.name.in_(holders),
                TwinHost.status.in_(("running", "draining")),
                TwinHost.lease_expires_at > utcnow(),
            )
        ).all()
    )
    placements: dict[uuid.UUID, Placement] = {}
    orphans = []
    for row in rows:
        status = statuses.get(row.host) if row.host is not None else None
        if status is not None:
            placements[row.id] = Placement(row.host, row.lease_token, status == "draining")
        else:
            orphans.append(Orphan(row.id, row.host, row.lease_token))
    moved = []
    if orphans:
        loads = _live_loads(session)
        if not loads:
            raise ServiceUnavailable(NO_HOST, code="no_host")
        heapq.heapify(loads)
        for orphan in orphans:
            count, host = loads[0]
            token = take(session, orphan, host)
            if token is None:
                moved.append(orphan.charge_point_id)
                continue
            placements[orphan.charge_point_id] = Placement(host, token)
            heapq.heapreplace(loads, (count + 1, host))
    session.commit()
    for charge_point_id in moved:  # moved meanwhile: whoever moved it placed it
        placements[charge_point_id] = place(session, charge_point_id)
    return placements
