"""The event writer: batched, coalesced, and never stuck on one bad event."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import Engine, func, select

from shared.db import session_for
from shared.models import MessageLogEntry, MeterSample
from shared.settings import Settings
from tests.builders import stored_charge_point
from worker.persistence import EventWriter
from worker.twin.events import FrameLogged, MeterSampled


def _sample(charge_point_id: str, connector_id: int = 1) -> MeterSampled:
    return MeterSampled(
        charge_point_id, datetime.now(UTC), 1, connector_id, None, 10.0, 7000.0, 10.0, 230.0, 50.0
    )


async def test_one_bad_event_does_not_block_the_rest(engine: Engine, settings: Settings) -> None:
    charge_point_id, rows = stored_charge_point(engine, settings)
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


async def test_the_message_log_keeps_the_newest_frames(engine: Engine, settings: Settings) -> None:
    charge_point_id, rows = stored_charge_point(engine, settings)
    writer = EventWriter(engine, message_log_limit=10)
    writer.register(charge_point_id, rows)
    for number in range(25):
        writer(
            FrameLogged(charge_point_id, datetime.now(UTC), "sent", "CALL", str(number), "A", {})
        )
    await writer.flush()
    await writer.prune_message_log()
    with session_for(engine) as session:
        kept = session.scalars(
            select(MessageLogEntry.unique_id)
            .where(MessageLogEntry.charge_point_id == uuid.UUID(charge_point_id))
            .order_by(MessageLogEntry.id)
        ).all()
    assert kept == [str(number) for number in range(15, 25)]
