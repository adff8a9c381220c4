"""Fleets of one API process: created all or nothing, run on its event loop, stopped,
deleted.

Routers call these from their worker threads; a fleet's runner lives on the loop the
manager was attached to (the API's, which in embedded mode also hosts the twins).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from shared.crud.charge_points import create_charge_points, with_evses
from shared.crud.ownership import get_owned
from shared.errors import Conflict, QuotaExceeded, ServiceUnavailable
from shared.models import ChargePoint, Fleet, User, Vehicle
from shared.models.base import utcnow
from shared.schemas.fleet import FleetCounts, FleetCreate, FleetPublic, FleetSummary
from worker import actions
from worker.commands import CommandBus
from worker.fleet import plan
from worker.fleet.metrics import histogram_csv
from worker.fleet.runner import Bay, FleetRunner, Member, public

#: Real seconds between two reads of a fleet another API process is asked to stop.
STOP_POLL_SECONDS = 0.5
#: Real seconds a route waits for the loop to answer a question about a running fleet.
LOOP_TIMEOUT = 10.0


class FleetManager:
    def __init__(self, engine: Engine, bus: CommandBus | None) -> None:
        self.engine = engine
        self.bus = bus
        self.loop: asyncio.AbstractEventLoop | None = None
        self.runners: dict[uuid.UUID, FleetRunner] = {}

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    async def close(self) -> None:
        """The API stops: its fleets stop being driven (their twins stay with their hosts)."""
        for runner in list(self.runners.values()):
            await runner.abandon()
        self.runners.clear()

    def _on_loop(self, coroutine: Any, timeout: float = LOOP_TIMEOUT) -> Any:
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    # -- creating ----------------------------------------------------------------------

    def create(self, session: Session, user: User, body: FleetCreate) -> FleetPublic:
        """Create every charge point and vehicle, or (over quota, a cid taken) none of them,
        then start the runner, which connects them at the scenario's pace."""
        if self.bus is None or self.loop is None:
            raise ServiceUnavailable(
                "no twin host is running: start ELU Twins with `elu-twins up` (or a worker)"
            )
        # Before drawing the bodies: a fleet far over quota (a million vehicles) is refused
        # at once, not after seconds spent building what will not be created.
        count = body.charge_points.count
        _check_quota(session, user, count, count * plan.connectors_per_charge_point(body))
        charge_point_bodies = plan.charge_point_bodies(body)
        vehicle_bodies = plan.vehicle_bodies(body)
        vehicles = [
            Vehicle(
                user_id=user.id,
                id_tag_suffix=_id_tag_suffix(),
                **vehicle.model_dump(exclude={"maximum_charging_rate"}),
            )
            for vehicle in vehicle_bodies
        ]
        # The vehicles go in with the charge points' commit: a refused charge point
        # (a cid taken, a bad configuration) leaves neither.
        session.add_all(vehicles)
        try:
            charge_points = create_charge_points(session, user, charge_point_bodies)
        except Exception:
            session.rollback()
            raise
        fleet = Fleet(
            user_id=user.id,
            name=body.name,
            status="creating",
            specification=body.model_dump(mode="json"),
            charge_point_ids=[str(cp.id) for cp in charge_points],
            vehicle_ids=[str(vehicle.id) for vehicle in vehicles],
            counts=FleetCounts(charge_points=len(charge_points), vehicles=len(vehicles)).model_dump(
                mode="json"
            ),
            latency_histograms={},
            arrivals=[],
        )
        session.add(fleet)
        session.commit()
        members = _members(session, charge_points, vehicles)
        runner = FleetRunner(self.engine, self.bus, fleet.id, user.id, body, members)
        self.runners[fleet.id] = runner
        self._on_loop(_start(runner))
        session.refresh(fleet)
        return self._public(fleet)

    # -- reading -----------------------------------------------------------------------

    def _public(self, fleet: Fleet) -> FleetPublic:
        runner = self.runners.get(fleet.id)
        if runner is None or not runner.running:
            return public(fleet)
        return public(fleet, self._on_loop(_live(runner)))

    def read(self, session: Session, user: User, fleet_id: uuid.UUID) -> FleetPublic:
        return self._public(get_owned(session, Fleet, fleet_id, user))

    def list(self, session: Session, user: User) -> list[FleetPublic]:
        rows = session.scalars(
            select(Fleet).where(Fleet.user_id == user.id).order_by(Fleet.created_at)
        )
        return [self._public(fleet) for fleet in rows]

    def summary(self, session: Session, user: User, fleet_id: uuid.UUID) -> FleetSummary:
        fleet = get_owned(session, Fleet, fleet_id, user)
        current = self._public(fleet)
        session.refresh(fleet)
        duration = None
        if fleet.started_at is not None:
            end = fleet.stopped_at or utcnow()
            duration = round((end - fleet.started_at).total_seconds(), 3)
        runner = self.runners.get(fleet.id)
        arrivals: list[Any] = fleet.arrivals
        if runner is not None and runner.running:
            arrivals = list(runner.kept_arrivals)
        return FleetSummary(
            id=fleet.id,
            name=fleet.name,
            status=current.status,
            seed=current.seed,
            started_at=fleet.started_at,
            stopped_at=fleet.stopped_at,
            duration_seconds=duration,
            counts=current.counts,
            arrivals=arrivals,
        )

    def latency_csv(self, session: Session, user: User, fleet_id: uuid.UUID) -> str:
        fleet = get_owned(session, Fleet, fleet_id, user)
        runner = self.runners.get(fleet.id)
        if runner is not None and runner.running:
            return histogram_csv(self._on_loop(_histograms(runner)))
        return histogram_csv(fleet.latency_histograms)

    # -- stopping and deleting ---------------------------------------------------------

    def stop(
        self, session: Session, user: User, fleet_id: uuid.UUID, timeout: float
    ) -> FleetPublic:
        """Stop the scenario; answers once the fleet has stopped, or after ``timeout``
        seconds with status ``stopping``."""
        fleet = get_owned(session, Fleet, fleet_id, user)
        runner = self.runners.get(fleet.id)
        if runner is None or not runner.running:
            if fleet.status in ("stopped", "failed"):
                return public(fleet)
            return self._stop_elsewhere(session, fleet, timeout)
        assert self.loop is not None
        future = asyncio.run_coroutine_threadsafe(runner.stop(), self.loop)
        with contextlib.suppress(TimeoutError):
            future.result(timeout)
        session.expire_all()
        return self._public(get_owned(session, Fleet, fleet_id, user))

    def _stop_elsewhere(self, session: Session, fleet: Fleet, timeout: float) -> FleetPublic:
        """Another API process runs the fleet (distributed mode, several API processes):
        ask it through the fleet's row, and wait for it to say it has stopped."""
        if fleet.stop_requested_at is None:
            fleet.stop_requested_at = utcnow()
            session.commit()
        deadline = time.monotonic() + timeout
        while fleet.status not in ("stopped", "failed") and time.monotonic() < deadline:
            time.sleep(STOP_POLL_SECONDS)
            session.refresh(fleet)
        if fleet.status not in ("stopped", "failed", "stopping"):
            raise Conflict(
                f"fleet {fleet.id} did not begin to stop within {timeout:g} s: the API "
                "process that ran it has probably stopped (delete the fleet to remove its "
                "charge points and vehicles)"
            )
        return public(fleet)

    def delete(self, session: Session, user: User, fleet_id: uuid.UUID, timeout: float) -> None:
        """Stop the fleet if it runs, then delete its charge points, vehicles and itself."""
        fleet = get_owned(session, Fleet, fleet_id, user)
        runner = self.runners.get(fleet.id)
        if runner is not None and runner.running:
            assert self.loop is not None
            asyncio.run_coroutine_threadsafe(runner.stop(), self.loop).result(timeout)
        self.runners.pop(fleet.id, None)
        for charge_point_id in fleet.charge_point_ids:
            if session.get(ChargePoint, uuid.UUID(charge_point_id)) is not None:
                actions.delete_charge_point(session, self.bus, user, uuid.UUID(charge_point_id))
        for vehicle_id in fleet.vehicle_ids:
            vehicle = session.get(Vehicle, uuid.UUID(vehicle_id))
            if vehicle is not None and vehicle.user_id == user.id:
                session.delete(vehicle)
        session.delete(fleet)
        session.commit()


async def _start(runner: FleetRunner) -> None:
    runner.start()


async def _live(runner: FleetRunner) -> tuple[str, FleetCounts]:
    return runner.status, runner.counts()


async def _histograms(runner: FleetRunner) -> dict[str, list[int]]:
    return runner.stats.histograms()


def _id_tag_suffix() -> str:
    from shared.crud.vehicles import new_id_tag_suffix

    return new_id_tag_suffix()


def _check_quota(session: Session, user: User, charge_points: int, vehicles: int) -> None:
    """Both quotas checked before anything is written: a fleet is created whole or not."""
    quota = user.quota
    owned_charge_points = (
        session.scalar(select(func.count()).where(ChargePoint.user_id == user.id)) or 0
    )
    owned_vehicles = session.scalar(select(func.count()).where(Vehicle.user_id == user.id)) or 0
    problems = []
    if owned_charge_points + charge_points > quota.max_charge_points:
        problems.append(
            f"{charge_points} charge points (your quota allows {quota.max_charge_points}; "
            f"you have {owned_charge_points})"
        )
    if owned_vehicles + vehicles > quota.max_vehicles:
        problems.append(
            f"{vehicles} vehicles, one per connector (your quota allows {quota.max_vehicles}; "
            f"you have {owned_vehicles})"
        )
    if problems:
        raise QuotaExceeded("the fleet needs " + " and ".join(problems) + "; nothing was created")


def _members(
    session: Session, charge_points: list[ChargePoint], vehicles: list[Vehicle]
) -> list[Member]:
    loaded = {
        cp.id: cp
        for cp in session.scalars(
            select(ChargePoint)
            .where(ChargePoint.id.in_([cp.id for cp in charge_points]))
            .options(*with_evses())
        )
    }
    members = []
    vehicle_iter = iter(vehicles)
    for index, charge_point in enumerate(charge_points):
        row = loaded[charge_point.id]
        connectors = sorted(
            (connector for evse in row.evses for connector in evse.connectors),
            key=lambda connector: connector.connectorid,
        )
        bays = []
        for connector in connectors:
            vehicle = next(vehicle_iter)
            bays.append(Bay(connector.connectorid, connector.id, vehicle.id, vehicle.id_tag))
        members.append(Member(index, row.id, row.speed_factor, tuple(bays)))
    return members
