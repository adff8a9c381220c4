"""The event writer: batched, coalesced, and never stuck on one bad event."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Engine, func, select, text

from shared.db import session_for
from shared.models import Connector, MessageLogEntry, MeterSample, TwinState
from shared.settings import Settings
from tests.builders import stored_charge_point
from worker.persistence import EventWriter, TwinRows
from worker.twin.events import ConnectorChanged, FrameLogged, MeterSampled


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


def _frames(writer: EventWriter, charge_point_id: str, numbers: range) -> None:
    for number in numbers:
        writer(
            FrameLogged(charge_point_id, datetime.now(UTC), "sent", "CALL", str(number), "A", {})
        )


def _kept(engine: Engine, charge_point_id: str) -> list[str]:
    with session_for(engine) as session:
        return list(
            session.scalars(
                select(MessageLogEntry.unique_id)
                .where(MessageLogEntry.charge_point_id == uuid.UUID(charge_point_id))
                .order_by(MessageLogEntry.id)
            )
        )


async def test_the_message_log_keeps_the_newest_frames(engine: Engine, settings: Settings) -> None:
    charge_point_id, rows = stored_charge_point(engine, settings)
    writer = EventWriter(engine, message_log_limit=10)
    writer.register(charge_point_id, rows)
    _frames(writer, charge_point_id, range(25))
    await writer.flush()
    await writer.prune_message_log()
    assert _kept(engine, charge_point_id) == [str(number) for number in range(15, 25)]

    # Counted on in memory from there: pruned again once over the limit, not before.
    _frames(writer, charge_point_id, range(25, 30))
    await writer.flush()
    await writer.prune_message_log()
    assert _kept(engine, charge_point_id) == [str(number) for number in range(20, 30)]


async def test_a_host_that_starts_counts_each_charge_points_log_once(
    engine: Engine, settings: Settings
) -> None:
    """Charge points below the limit at the first prune (counted together) are pruned once
    the frames logged since take them over it; one above it is pruned at once."""
    below, below_rows = stored_charge_point(engine, settings)
    above, above_rows = stored_charge_point(engine, settings)
    old_host = EventWriter(engine, message_log_limit=10)
    for charge_point_id, rows in ((below, below_rows), (above, above_rows)):
        old_host.register(charge_point_id, rows)
    _frames(old_host, below, range(6))
    _frames(old_host, above, range(12))
    await old_host.flush()

    writer = EventWriter(engine, message_log_limit=10)  # knows nothing of what is stored
    for charge_point_id, rows in ((below, below_rows), (above, above_rows)):
        writer.register(charge_point_id, rows)
    _frames(writer, below, range(6, 8))
    _frames(writer, above, range(12, 13))
    await writer.flush()
    await writer.prune_message_log()
    assert _kept(engine, below) == [str(number) for number in range(8)]
    assert _kept(engine, above) == [str(number) for number in range(3, 13)]

    _frames(writer, below, range(8, 11))
    await writer.flush()
    await writer.prune_message_log()
    assert _kept(engine, below) == [str(number) for number in range(1, 11)]


async def test_frames_and_samples_are_stored_as_sqlalchemy_stores_them(
    engine: Engine, settings: Settings
) -> None:
    """The two hot inserts bypass SQLAlchemy's bind processing: what they store must be
    what the models store (times compared as text on SQLite, say)."""
    charge_point_id, rows = stored_charge_point(engine, settings)
    writer = EventWriter(engine)
    writer.register(charge_point_id, rows)
    at = datetime(2026, 11, 26, 9, 30, 15, 123456, tzinfo=timezone(timedelta(hours=2)))
    payload = {"connectorId": 1, "values": [1.5, None, "x"], "big": 2**70}
    writer(FrameLogged(charge_point_id, at, "sent", "CALL", "u" * 70, "MeterValues", payload))
    writer(FrameLogged(charge_point_id, at, "received", "CALLRESULT", "u2", None, None))
    writer(MeterSampled(charge_point_id, at, 1, 1, None, 10.0, 7000.0, 10.0, 230.0, None))
    await writer.flush()
    ident = uuid.UUID(charge_point_id)
    with session_for(engine) as session:
        session.add(
            MessageLogEntry(
                charge_point_id=ident, timestamp=at, direction="sent", message_type="CALL",
                unique_id="orm", action="MeterValues", payload=payload,
            )
        )  # fmt: skip
        session.add(
            MeterSample(
                charge_point_id=ident, connector_id=rows.connectors[1][0], timestamp=at,
                energy_wh=10.0, power_w=7000.0, current_a=10.0, voltage_v=230.0, soc=None,
            )
        )  # fmt: skip
        session.commit()
        frames = session.scalars(
            select(MessageLogEntry)
            .where(MessageLogEntry.charge_point_id == ident)
            .order_by(MessageLogEntry.id)
        ).all()
        assert [frame.unique_id for frame in frames] == ["u" * 64, "u2", "orm"]
        assert frames[0].payload == payload and frames[1].payload is None
        assert frames[0].timestamp == at and frames[0].timestamp.tzinfo is not None
        raw = session.execute(
            text("SELECT charge_point_id, timestamp, payload FROM message_log ORDER BY id")
        ).all()
        assert raw[-3][:2] == raw[-1][:2] and raw[-3][2] == raw[-1][2]
        raw = session.execute(
            text(
                "SELECT charge_point_id, connector_id, transaction_id, timestamp, context, soc"
                " FROM meter_samples ORDER BY id"
            )
        ).all()
        assert raw[-2] == raw[-1]
        assert raw[-1][4] == "Sample.Periodic"
        created = session.get(Connector, rows.connectors[1][0])
        assert created is not None
        updated_before = created.updated_at

    # So are the updates (connectors, EVSEs, vehicles, transactions), updated_at included.
    writer(_connector(charge_point_id, "Charging", 7.4, 1.5))
    await writer.flush()
    with session_for(engine) as session:
        connector = session.get(Connector, rows.connectors[1][0])
        assert connector is not None
        assert (connector.status, connector.current_ac_power, connector.transaction_id) == (
            "Charging", 7.4, None,
        )  # fmt: skip
        assert connector.measured_at is not None and connector.measured_at.tzinfo is not None
        assert connector.updated_at > updated_before


class _CountingTwin:
    """As much of a twin as the state store uses: its id and ``save_state``."""

    def __init__(self, charge_point_id: str) -> None:
        self.config = SimpleNamespace(charge_point_id=charge_point_id)
        self.saves = 0

    def save_state(self) -> dict[str, Any]:
        self.saves += 1
        return {"saves": self.saves}


def _stored_saves(engine: Engine, charge_point_id: str) -> int | None:
    with session_for(engine) as session:
        row = session.get(TwinState, uuid.UUID(charge_point_id))
        return None if row is None else row.state["saves"]


async def test_progress_is_saved_once_per_interval_and_a_change_at_once(
    engine: Engine, settings: Settings
) -> None:
    """Registers and SoC move with every meter value of every twin: saving each twin's
    state for each of them is what a fleet cannot afford."""
    charge_point_id, rows = stored_charge_point(engine, settings)
    writer = EventWriter(engine, progress_interval=0.3)
    writer.register(charge_point_id, rows)
    twin = _CountingTwin(charge_point_id)

    for _ in range(20):
        writer.state_progressed(twin)  # type: ignore[arg-type]
        await writer.flush()
    assert twin.saves == 0
    await asyncio.sleep(0.35)
    await writer.flush()
    assert twin.saves == 1
    assert _stored_saves(engine, charge_point_id) == 1

    writer.state_progressed(twin)  # type: ignore[arg-type]
    writer.state_changed(twin)  # type: ignore[arg-type]
    await writer.flush()
    assert _stored_saves(engine, charge_point_id) == 2
    await asyncio.sleep(0.35)
    await writer.flush()
    assert twin.saves == 2, "the change's save took the progress with it"


def _connector(
    charge_point_id: str, status: str, power_kw: float, energy: float
) -> ConnectorChanged:
    return ConnectorChanged(
        charge_point_id, datetime.now(UTC), 1, 1, status, power_kw, 32.0, 230.0, "AC",
        energy, 100.0 + energy, 50.0, None, None, None, None,
    )  # fmt: skip


def _stored_connector(engine: Engine, rows: TwinRows) -> tuple[str, float, float]:
    with session_for(engine) as session:
        connector = session.get(Connector, rows.connectors[1][0])
        assert connector is not None
        return connector.status, connector.current_ac_power, connector.current_energy


async def test_a_row_that_only_moves_along_the_curve_is_written_once_a_refresh(
    engine: Engine, settings: Settings
) -> None:
    """Energy and SoC move with every meter value; reads carry the stored values on, so
    writing them each time is not needed. Any other change is written with its batch."""
    charge_point_id, rows = stored_charge_point(engine, settings)
    writer = EventWriter(engine, row_refresh=0.3)
    writer.register(charge_point_id, rows)

    writer(_connector(charge_point_id, "Charging", 22.0, 1.0))
    await writer.flush()
    assert _stored_connector(engine, rows) == ("Charging", 22.0, 1.0)
    writer(_connector(charge_point_id, "Charging", 22.05, 2.0))  # within 1 %: held back
    await writer.flush()
    assert _stored_connector(engine, rows) == ("Charging", 22.0, 1.0)
    await asyncio.sleep(0.35)
    await writer.flush(everything=False)
    writer(_connector(charge_point_id, "Charging", 22.05, 2.5))  # the refresh is due
    await writer.flush()
    assert _stored_connector(engine, rows) == ("Charging", 22.05, 2.5)

    writer(_connector(charge_point_id, "Charging", 11.0, 3.0))  # a power step
    await writer.flush()
    assert _stored_connector(engine, rows) == ("Charging", 11.0, 3.0)
    writer(_connector(charge_point_id, "SuspendedEV", 0.0, 3.1))  # a status
    await writer.flush()
    assert _stored_connector(engine, rows) == ("SuspendedEV", 0.0, 3.1)

    writer(_connector(charge_point_id, "SuspendedEV", 0.0, 3.2))
    await writer.flush()
    assert _stored_connector(engine, rows)[2] == 3.1
    await asyncio.sleep(0.35)  # due now: written with the next batch, whatever it holds
    writer(FrameLogged(charge_point_id, datetime.now(UTC), "sent", "CALL", "1", "Heartbeat", {}))
    await writer.flush()
    assert _stored_connector(engine, rows)[2] == 3.2

    writer(_connector(charge_point_id, "SuspendedEV", 0.0, 3.3))
    await writer.flush()
    assert _stored_connector(engine, rows)[2] == 3.2
    await writer.close()  # a host that stops writes what it held back
    assert _stored_connector(engine, rows)[2] == 3.3


async def test_a_state_with_an_older_token_is_refused_and_its_twin_lost(
    engine: Engine, settings: Settings
) -> None:
    """Fencing: the host that took the twin over saves with a newer token; what the old
    host saves after that is not written, and the old host learns that it lost the twin."""
    charge_point_id, rows = stored_charge_point(engine, settings)
    other_id, other_rows = stored_charge_point(engine, settings)
    lost: list[str] = []
    old_host = EventWriter(engine, on_lost=lost.append)
    new_host = EventWriter(engine)
    for writer, token in ((old_host, 1), (new_host, 2)):
        writer.register(charge_point_id, rows)
        writer.fence(charge_point_id, token)
    old_host.register(other_id, other_rows)
    old_host.fence(other_id, 1)
    old_twin, new_twin, other_twin = (
        _CountingTwin(charge_point_id), _CountingTwin(charge_point_id), _CountingTwin(other_id),
    )  # fmt: skip
    old_twin.saves = 100

    old_host.state_changed(old_twin)  # type: ignore[arg-type]
    await old_host.flush()
    assert _stored_saves(engine, charge_point_id) == 101
    new_host.state_changed(new_twin)  # type: ignore[arg-type]
    await new_host.flush()
    assert _stored_saves(engine, charge_point_id) == 1

    old_host.state_changed(old_twin)  # type: ignore[arg-type]
    old_host.state_changed(other_twin)  # type: ignore[arg-type]
    await old_host.flush()
    assert _stored_saves(engine, charge_point_id) == 1
    assert _stored_saves(engine, other_id) == 1
    assert lost == [charge_point_id]
