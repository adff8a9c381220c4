"""What a host does when it starts after a previous run of itself stopped."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from shared.db import session_for
from shared.models import ChargePoint, Command, Transaction
from shared.models.base import utcnow
from shared.settings import Settings
from tests.builders import stored_charge_point
from worker.host import Host, SavedTwin


async def test_start_clears_what_a_stopped_run_left(engine: Engine, settings: Settings) -> None:
    name = f"host-{uuid.uuid4().hex[:8]}"
    charge_point_id, rows = stored_charge_point(engine, settings)
    with session_for(engine) as session:
        charge_point = session.get(ChargePoint, uuid.UUID(charge_point_id))
        assert charge_point is not None
        charge_point.host = name
        charge_point.connected = True
        charge_point.status = "Available"
        transaction = Transaction(
            user_id=rows.user_id,
            charge_point_id=charge_point.id,
            status="Charging",
            start_time=utcnow(),
        )
        command = Command(
            charge_point_id=charge_point.id, name="connect", arguments={}, timeout_seconds=30
        )
        session.add_all([transaction, command])
        session.commit()

    host = Host(engine, name=name)
    await host.start()
    await host.close()

    with session_for(engine) as session:
        charge_point = session.get(ChargePoint, uuid.UUID(charge_point_id))
        assert charge_point is not None
        assert (charge_point.connected, charge_point.status) == (False, "Unavailable")
        ended = session.get(Transaction, transaction.id)
        assert ended is not None
        assert (ended.status, ended.stop_reason) == ("Ended", "PowerLoss")
        assert ended.end_time is not None
        failed = session.get(Command, command.id)
        assert failed is not None
        assert (failed.status, failed.error_code) == ("failed", "host_restarted")


def test_a_resumed_twin_keeps_its_own_time_at_its_speed() -> None:
    saved_at = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    simulated_at_save = datetime(2026, 1, 1, 14, 0, tzinfo=UTC)  # it ran at 10x for a while
    saved = SavedTwin({"saved_at": simulated_at_save.isoformat()}, saved_at, saved_at)
    assert saved.simulated(saved_at + timedelta(seconds=30), 10) == simulated_at_save + timedelta(
        seconds=300
    )
    assert saved.simulated(saved_at, 1) == simulated_at_save
