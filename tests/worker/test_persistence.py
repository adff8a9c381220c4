"""The event writer: batched, coalesced, and never stuck on one bad event."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import Engine, func, select

from shared.crud.charge_points import create_charge_points
from shared.crud.users import create_user
from shared.db import session_for
from shared.models import MessageLogEntry, MeterSample
from shared.schemas.charge_point import ChargePointCreate
from shared.schemas.user import UserCreate
from shared.settings import Settings
from worker.persistence import EventWriter, TwinRows
from worker.twin.events import FrameLogged, MeterSampled


def _charge_point(engine: Engine, settings: Settings) -> tuple[str, TwinRows]:
    with session_for(engine) as session:
        user = create_user(
            session,
            UserCreate(username=f"u-{uuid.uuid4().hex[:8]}", password="a-long-password"),
            settings,
        )
        (charge_point,) = create_charge_points(
            session, user, [ChargePointCreate(name="cp", csms_url="ws://localhost:9000")]
        )
        connector = charge_point.evses[0].connectors[0]
        rows = TwinRows(user.id, {1: (connector.id, charge_point.evses[0].id)})
        return str(charge_point.id), rows


def _sample(charge_point_id: str, connector_id: int = 1) -> MeterSampled:
    return MeterSampled(
        charge_point_id, datetime.now(UTC), 1, connector_id, None, 10.0, 7000.0, 10.0, 230.0, 50.0
    )


async def test_one_bad_event_does_not_block_the_rest(engine: Engine, settings: Settings) -> None:
    charge_point_id, rows = _charge_point(engine, settings)
    writer = EventWriter(engine)
    writer.register(charge_point_id, rows)
    unknown = str(uuid.uuid4())  # a charge point that does not exist: its frame cannot be stored
    frame = FrameLogged(unknown, datetime.now(UTC), "sent", "CALL", "1", "Heartbeat", {})
    writer(_sample(charge_point_id))
    writer(frame)
    writer(_sample(charge_point_id))
    await writer.flush()
    with session_for(engine) as session:
        stored = session.scalar(
            select(func.count()).where(MeterSample.charge_point_id == uuid.UUID(charge_point_id))
        )
        assert stored == 2
        assert not session.scalar(
            select(func.count()).where(MessageLogEntry.charge_point_id == uuid.UUID(unknown))
        )
    writer(_sample(charge_point_id))
    await writer.flush()
    with session_for(engine) as session:
        stored = session.scalar(
            select(func.count()).where(MeterSample.charge_point_id == uuid.UUID(charge_point_id))
        )
        assert stored == 3
