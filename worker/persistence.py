"""Writes what twins report to the database, in batches that never stall the loop.

Twins call the writer's sink for every event; the writer only appends to a
list. Every ``interval`` seconds (and whenever a command asks for it, so that an
API answer reads what the twin just did) the batch is written in one
transaction on a worker thread. Updates to the same row within a batch are
coalesced: only the latest state of a connector or transaction is written.

The writer is also the twins' state store: a twin says when its resumable state
changed, and the state is saved (once per batch, however often it changed) with
the twin's fencing token, so that a host that lost the twin writes nothing over
its new host's state. A twin that must not send a transaction message before it
is saved waits for the next batch, which then comes at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    JSON,
    Connection,
    Engine,
    Uuid,
    bindparam,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import ReturningInsert

from shared.db import dumps_json, session_for
from shared.models import (
    ChargePoint,
    Connector,
    Evse,
    MessageLogEntry,
    MeterSample,
    OcppConfiguration,
    Transaction,
    TwinState,
    Vehicle,
)
from shared.models.base import UTCDateTime, utcnow
from worker.twin.events import (
    ChargePointChanged,
    ConfigurationChanged,
    ConnectorChanged,
    FrameLogged,
    MeterSampled,
    TransactionChanged,
    TwinEvent,
    VehicleChanged,
)

if TYPE_CHECKING:
    from worker.twin.charge_point import ChargePointTwin

logger = logging.getLogger(__name__)


#: Seconds a save that a twin waits for gathers others into its batch.
SAVE_GATHER = 0.005
#: Real seconds a twin whose registers, SoC and energy moved waits at most to be saved.
PROGRESS_INTERVAL = 30.0
#: Real seconds a connector's, transaction's or vehicle's row may lag behind values that
#: only move along the charging curve (energy, register, SoC, a power within 1 % of the
#: stored one). Reads carry the stored values on from when they were measured
#: (worker/readings.py, for up to MAX_CARRY_ON = 120 s), so they stay true; any other
#: change (status, power step, vehicle, transaction) is written with its batch.
ROW_REFRESH = 60.0


class StatesNotSaved(Exception):
    """The events of a batch were written but the twins' states were not."""


@dataclass(frozen=True, slots=True)
class TwinRows:
    """The database ids behind a twin's connector numbers."""

    user_id: uuid.UUID
    connectors: dict[int, tuple[uuid.UUID, uuid.UUID]]  # connectorid -> (connector id, evse id)


class EventWriter:
    """``message_log_limit`` frames are kept per charge point (the oldest go first),
    checked every ``prune_interval`` seconds for the charge points that logged since."""

    def __init__(
        self,
        engine: Engine,
        interval: float = 0.5,
        *,
        message_log_limit: int = 100_000,
        prune_interval: float = 60.0,
        on_lost: Callable[[str], None] | None = None,
        host_name: str = "",
        progress_interval: float = PROGRESS_INTERVAL,
        row_refresh: float = ROW_REFRESH,
    ) -> None:
        self.engine = engine
        self.host_name = host_name
        self.interval = interval
        self.message_log_limit = message_log_limit
        self.prune_interval = prune_interval
        self.on_lost = on_lost
        self.progress_interval = progress_interval
        self._rows: dict[str, TwinRows] = {}
        self._tokens: dict[str, int] = {}
        self._pending: list[TwinEvent] = []
        self._changed: dict[str, ChargePointTwin] = {}
        #: Twins whose state only progressed, with when (loop time) it first did.
        #: (An OrderedDict: taking from the front of a plain dict that had many entries
        #: taken from its front walks over their empty slots, each time.)
        self._progressed: OrderedDict[str, tuple[ChargePointTwin, float]] = OrderedDict()
        self._saved_waiters: list[asyncio.Future[None]] = []
        self._wake = asyncio.Event()
        #: Frames written per charge point since the last prune counted them (guarded by
        #: ``_log_lock``: written by the batches' thread, taken by the prune's).
        self._logged_since_prune: dict[str, int] = {}
        self._log_lock = threading.Lock()
        #: Frames stored per charge point (at most), as learned at its first prune and
        #: counted on since: only a charge point that can be over the limit is pruned.
        self._stored_frames: dict[str, int] = {}
        #: Ids (charge points', transactions' as str, connectors' as UUID) in the form the
        #: database driver takes them.
        self._driver_ids: dict[str | uuid.UUID, Any] = {}
        self._forgets = 0
        self._links: dict[tuple[str, int], tuple[str | None, str | None]] = {}
        #: When (real time) each connector's latest values were reported.
        self._measured: dict[tuple[str, int], datetime] = {}
        self._stored_transactions: set[uuid.UUID] = set()
        #: Per row: what of it was last written, when (monotonic), and the latest event
        #: not written since (see ROW_REFRESH). Touched only by the writing thread.
        self._rows_written: dict[tuple[str, object], _Written] = {}
        self._young_rows: OrderedDict[tuple[str, object], None] = OrderedDict()
        self._row_refresh = row_refresh
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    def register(self, charge_point_id: str, rows: TwinRows) -> None:
        self._rows[charge_point_id] = rows

    def fence(self, charge_point_id: str, lease_token: int) -> None:
        """The fencing token the twin's state is written with from now on."""
        self._tokens[charge_point_id] = lease_token

    def __call__(self, event: TwinEvent) -> None:
        self._pending.append(event)
        if type(event) is ConnectorChanged:
            self._measured[(event.charge_point_id, event.connector_id)] = utcnow()

    # -- the twins' state store ------------------------------------------------------

    def state_changed(self, twin: ChargePointTwin) -> None:
        self._changed[twin.config.charge_point_id] = twin

    def state_progressed(self, twin: ChargePointTwin) -> None:
        charge_point_id = twin.config.charge_point_id
        if charge_point_id not in self._progressed:
            self._progressed[charge_point_id] = (twin, asyncio.get_running_loop().time())

    def _due_progress(self) -> None:
        """Move the twins that progressed a progress interval ago to the states to save
        now (oldest first: the dict keeps the order they came in)."""
        due = asyncio.get_running_loop().time() - self.progress_interval
        progressed = self._progressed
        while progressed:
            charge_point_id, (twin, since) = progressed.popitem(last=False)
            if since > due:
                progressed[charge_point_id] = (twin, since)
                progressed.move_to_end(charge_point_id, last=False)
                break
            self._changed[charge_point_id] = twin

    async def saved(self, twin: ChargePointTwin) -> None:
        """Return once the twin's state as of now is written (the next batch, sent at once)."""
        self.state_changed(twin)
        waiter = asyncio.get_running_loop().create_future()
        self._saved_waiters.append(waiter)
        self._wake.set()
        await waiter

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        await self.flush(everything=True)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_prune = loop.time() + self.prune_interval
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval)
                # Someone waits for a save: gather what else comes in the next moment
                # into the same batch (one write for many twins, not one each).
                await asyncio.sleep(min(SAVE_GATHER, self.interval))
            self._wake.clear()
            try:
                await self.flush()
                if loop.time() >= next_prune:
                    next_prune = loop.time() + self.prune_interval
                    await self.prune_message_log()
            except Exception:
                logger.exception("writing twin events failed; they are kept for the next try")

    async def prune_message_log(self) -> None:
        """Keep the newest ``message_log_limit`` frames of each charge point that logged.

        A charge point's stored frames are counted in the database once (at its first
        prune here), then on in memory: a charge point below the limit costs nothing."""
        with self._log_lock:
            logged, self._logged_since_prune = self._logged_since_prune, {}
        if logged:
            await asyncio.to_thread(self._prune, logged)

    def _prune(self, logged: dict[str, int]) -> None:
        limit = self.message_log_limit
        stored = self._stored_frames
        forgets = self._forgets
        counted: dict[str, int] = {}
        with session_for(self.engine) as session:
            unknown = [
                charge_point_id for charge_point_id in logged if charge_point_id not in stored
            ]
            first_counts = self._count_frames(session, unknown)
            for charge_point_id, frames in logged.items():
                known = stored.get(charge_point_id)
                if known is not None and known + frames <= limit:
                    counted[charge_point_id] = known + frames
                    continue
                if known is None:
                    count = first_counts.get(charge_point_id, 0)
                    if count <= limit:
                        counted[charge_point_id] = count
                        continue
                ident = uuid.UUID(charge_point_id)
                oldest_kept = session.scalar(
                    select(MessageLogEntry.id)
                    .where(MessageLogEntry.charge_point_id == ident)
                    .order_by(MessageLogEntry.id.desc())
                    .offset(limit - 1)
                    .limit(1)
                )
                if oldest_kept is None:  # fewer than counted: count them again next time
                    continue
                session.execute(
                    delete(MessageLogEntry).where(
                        MessageLogEntry.charge_point_id == ident,
                        MessageLogEntry.id < oldest_kept,
                    )
                )
                counted[charge_point_id] = limit
            session.commit()
        # A count may take in frames a batch wrote meanwhile, which are then counted
        # twice: too many, so pruned early, never too few. A charge point forgotten
        # meanwhile may be logged by another host: all are counted again next time.
        if self._forgets != forgets:
            return
        for charge_point_id, count in counted.items():
            stored[charge_point_id] = count

    @staticmethod
    def _count_frames(session: Session, charge_point_ids: list[str]) -> dict[str, int]:
        """Frames stored per charge point, in one grouped query per _COUNTED_AT_ONCE
        charge points (a host that starts with 10,000 twins counts them all at its first
        prune: one query each held the twins' loop for a second)."""
        counts: dict[str, int] = {}
        for first in range(0, len(charge_point_ids), _COUNTED_AT_ONCE):
            keys = {
                uuid.UUID(key): key for key in charge_point_ids[first : first + _COUNTED_AT_ONCE]
            }
            rows = session.execute(
                select(MessageLogEntry.charge_point_id, func.count())
                .where(MessageLogEntry.charge_point_id.in_(keys))
                .group_by(MessageLogEntry.charge_point_id)
            )
            counts.update((keys[charge_point_id], count) for charge_point_id, count in rows)
        return counts

    async def flush(self, *, everything: bool = False) -> None:
        """Write what was reported so far (also what arrives while writing waits its turn).
        ``everything``: also the rows held back by ROW_REFRESH (before the host stops)."""
        async with self._lock:
            waiters, self._saved_waiters = self._saved_waiters, []
            try:
                await self._flush(everything)
            except BaseException as error:
                for waiter in waiters:
                    if not waiter.done():
                        waiter.set_exception(error)
                raise
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)

    async def _flush(self, everything: bool = False) -> None:
        """The events, then the states of the twins that changed (fenced by their lease
        tokens), in one hand-off to a worker thread: each hand-off costs the loop a wake-up."""
        self._due_progress()
        batch, self._pending = self._pending, []
        changed, self._changed = self._changed, {}
        for charge_point_id in changed:  # saved now, progress included
            self._progressed.pop(charge_point_id, None)
        states = self._state_rows(changed)
        if not batch and not states and not everything:
            return
        try:
            written = await asyncio.to_thread(self._write_batch, batch, states, everything)
        except BaseException:
            self._pending[:0] = batch
            for charge_point_id, twin in changed.items():
                self._changed.setdefault(charge_point_id, twin)
            raise
        if written is None:  # the events are written; the states wait for the next try
            for charge_point_id, twin in changed.items():
                self._changed.setdefault(charge_point_id, twin)
            raise StatesNotSaved("saving twin states failed; they are kept for the next try")
        for row in states:
            if row["charge_point_id"] not in written and self.on_lost is not None:
                self.on_lost(str(row["charge_point_id"]))

    def _state_rows(self, changed: dict[str, ChargePointTwin]) -> list[dict[str, Any]]:
        now = utcnow()
        return [
            {
                "charge_point_id": uuid.UUID(charge_point_id),
                "lease_token": self._tokens.get(charge_point_id, 0),
                "state": twin.save_state(),
                "saved_at": now,
                "saved_by": self.host_name,
            }
            for charge_point_id, twin in changed.items()
            if charge_point_id in self._rows
        ]

    def _write_batch(
        self, batch: list[TwinEvent], states: list[dict[str, Any]], everything: bool = False
    ) -> set[uuid.UUID] | None:
        """On a worker thread: the events, then the states. Answers the states written, or
        None when only the states failed (the events must then not be written again)."""
        if batch or everything:
            try:
                self._write(batch, everything=everything)
            except IntegrityError:
                self._write_one_by_one(batch)
        if not states:
            return set()
        try:
            return self._write_states(states)
        except Exception:
            logger.exception("saving %d twin states failed", len(states))
            return None

    def _write_states(self, rows: list[dict[str, Any]]) -> set[uuid.UUID]:
        """Upsert the states; answers the ids written (a row with an older token than the
        stored one is refused: that twin has moved to another host)."""
        try:
            with self.engine.begin() as connection:
                return self._driver.upsert_states(connection, rows)
        except IntegrityError:  # a charge point was deleted meanwhile: row by row
            written: set[uuid.UUID] = set()
            for row in rows:
                try:
                    with self.engine.begin() as connection:
                        written.update(connection.scalars(self._state_upsert, row))
                except IntegrityError:
                    written.add(row["charge_point_id"])  # gone: nothing to fence
            return written

    @functools.cached_property
    def _state_upsert(self) -> ReturningInsert[tuple[uuid.UUID]]:
        """INSERT ... ON CONFLICT DO UPDATE unless the stored token is newer, RETURNING."""
        dialect = self.engine.dialect.name
        upsert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(TwinState)
        return upsert.on_conflict_do_update(
            index_elements=[TwinState.charge_point_id],
            set_={
                "lease_token": upsert.excluded.lease_token,
                "state": upsert.excluded.state,
                "saved_at": upsert.excluded.saved_at,
                "saved_by": upsert.excluded.saved_by,
            },
            where=TwinState.lease_token <= upsert.excluded.lease_token,
        ).returning(TwinState.charge_point_id)

    def forget(self, charge_point_id: str) -> None:
        """The charge point is about to be deleted, or runs elsewhere now: nothing more is
        written for it."""
        self._rows.pop(charge_point_id, None)
        self._tokens.pop(charge_point_id, None)
        self._changed.pop(charge_point_id, None)
        self._progressed.pop(charge_point_id, None)
        # Another host may log its frames now: counted again if it comes back.
        self._forgets += 1
        self._stored_frames.pop(charge_point_id, None)
        self._driver_ids.pop(charge_point_id, None)
        for per_connector in (self._links, self._measured):
            for key in [key for key in per_connector if key[0] == charge_point_id]:
                del per_connector[key]

    def _write_one_by_one(self, batch: list[TwinEvent]) -> None:
        """A batch the database refused (a row deleted meanwhile, say): write what it
        takes and drop, with a log line, only the events that cannot be written."""
        for event in batch:
            try:
                self._write([event])
            except IntegrityError as error:
                logger.warning("dropped %s: %s", type(event).__name__, error.orig)

    def _driver_id(self, value: str | uuid.UUID) -> Any:
        """The id as the driver takes it (what SQLAlchemy's Uuid type would bind), kept."""
        try:
            return self._driver_ids[value]
        except KeyError:
            pass
        ident = value if isinstance(value, uuid.UUID) else uuid.UUID(value)
        if len(self._driver_ids) >= _DRIVER_IDS_KEPT:
            self._driver_ids.clear()
        driver_id = self._driver_ids[value] = self._driver.uuid(ident)
        return driver_id

    @functools.cached_property
    def _driver(self) -> _DriverForm:
        return _DriverForm(self.engine.dialect.name, self.engine.dialect.paramstyle)

    def _frame_row(self, event: FrameLogged) -> tuple[Any, ...]:
        return (
            self._driver_id(event.charge_point_id),
            self._driver.time(event.at),
            event.direction,
            event.message_type,
            event.unique_id[:64],
            event.action,
            dumps_json(event.payload),
        )

    def _sample_row(self, event: MeterSampled) -> tuple[Any, ...] | None:
        rows = self._rows.get(event.charge_point_id)
        if rows is None or event.connector_id not in rows.connectors:
            return None
        transaction_ref = event.transaction_ref
        return (
            self._driver_id(event.charge_point_id),
            self._driver_id(rows.connectors[event.connector_id][0]),
            None if transaction_ref is None else self._driver_id(transaction_ref),
            self._driver.time(event.at),
            event.context,
            event.energy_wh,
            event.power_w,
            event.current_a,
            event.voltage_v,
            event.soc,
        )

    def _write(self, batch: list[TwinEvent], *, everything: bool = False) -> None:
        """Write one batch in one transaction: a few executemany statements, one per kind
        of row, with repeated updates of a row coalesced to its latest state, and updates
        that only move along the charging curve held back (ROW_REFRESH)."""
        frames: list[tuple[Any, ...]] = []
        samples: list[tuple[Any, ...]] = []
        logged: dict[str, int] = {}
        charge_points: dict[str, ChargePointChanged] = {}
        connectors: dict[tuple[str, int], ConnectorChanged] = {}
        transactions: dict[str, TransactionChanged] = {}
        vehicles: dict[str, VehicleChanged] = {}
        configurations: dict[str, ConfigurationChanged] = {}
        for event in batch:
            match event:
                case FrameLogged():
                    frames.append(self._frame_row(event))
                    logged[event.charge_point_id] = logged.get(event.charge_point_id, 0) + 1
                case MeterSampled():
                    row = self._sample_row(event)
                    if row is not None:
                        samples.append(row)
                case ChargePointChanged():
                    charge_points[event.charge_point_id] = event
                case ConnectorChanged():
                    connectors[(event.charge_point_id, event.connector_id)] = event
                case TransactionChanged():
                    transactions[event.transaction_ref] = event
                case VehicleChanged():
                    vehicles[event.vehicle_ref] = event
                case ConfigurationChanged():
                    configurations[event.charge_point_id] = event
        now = time.monotonic()
        held = _HeldBack(self._rows_written, self._young_rows, now, self._row_refresh, everything)
        connectors = held.filter("connector", connectors, _connector_key)
        transactions = held.filter("transaction", transactions, _transaction_key)
        vehicles = held.filter("vehicle", vehicles, _vehicle_key)
        links: dict[tuple[str, int], tuple[str | None, str | None]] = {}
        try:
            with self.engine.begin() as connection:
                self._write_transactions(connection, transactions.values())
                if frames:
                    connection.exec_driver_sql(self._driver.frame_insert, frames)
                if samples:
                    connection.exec_driver_sql(self._driver.sample_insert, samples)
                for rows in _grouped_by_keys(
                    self._charge_point_row(event) for event in charge_points.values()
                ):
                    self._driver.update_by_id(connection, ChargePoint, rows)
                links = self._write_connectors(connection, connectors.values())
                if vehicles:
                    self._driver.update_by_id(
                        connection,
                        Vehicle,
                        [
                            {"b_id": uuid.UUID(event.vehicle_ref), "soc": event.soc,
                             "status": event.status}
                            for event in vehicles.values()
                        ],
                    )  # fmt: skip
                if configurations:
                    connection.execute(
                        update(OcppConfiguration).where(
                            OcppConfiguration.charge_point_id == bindparam("b_charge_point_id")
                        ),
                        [
                            {"b_charge_point_id": uuid.UUID(event.charge_point_id),
                             "values": event.values}
                            for event in configurations.values()
                        ],
                    )  # fmt: skip
        except BaseException:
            held.undo()
            raise
        self._links.update(links)  # only once the transaction that wrote them committed
        held.commit()
        if logged:
            with self._log_lock:
                since_prune = self._logged_since_prune
                for charge_point_id, count in logged.items():
                    since_prune[charge_point_id] = since_prune.get(charge_point_id, 0) + count

    def _charge_point_row(self, event: ChargePointChanged) -> dict[str, Any]:
        row: dict[str, Any] = {
            "b_id": uuid.UUID(event.charge_point_id),
            "status": event.status,
            "connected": event.connected,
        }
        if event.boot_reason is not None:
            row["boot_reason"] = event.boot_reason
        if event.last_heartbeat is not None:
            row["last_heartbeat"] = event.last_heartbeat
        return row

    def _write_connectors(
        self, connection: Connection, events: Iterable[ConnectorChanged]
    ) -> dict[tuple[str, int], tuple[str | None, str | None]]:
        """Connectors and their EVSEs; a vehicle's link to its connector and transaction
        only when it changed (not with every meter sample). Answers the links written."""
        connector_rows: list[dict[str, Any]] = []
        evse_rows: list[dict[str, Any]] = []
        unplugged: list[dict[str, Any]] = []
        plugged: list[dict[str, Any]] = []
        links: dict[tuple[str, int], tuple[str | None, str | None]] = {}
        for event in events:
            rows = self._rows.get(event.charge_point_id)
            if rows is None or event.connector_id not in rows.connectors:
                continue
            connector_id, evse_id = rows.connectors[event.connector_id]
            ac = event.current_type == "AC"
            vehicle_id = _uuid(event.vehicle_ref)
            transaction_id = _uuid(event.transaction_ref)
            connector_rows.append(
                {
                    "b_id": connector_id,
                    "status": event.status,
                    "error_code": event.error_code,
                    "current_ac_power": event.power_kw if ac else 0.0,
                    "current_ac_current": event.current_a if ac else 0.0,
                    "current_ac_voltage": event.voltage_v if ac else 0.0,
                    "current_dc_power": 0.0 if ac else event.power_kw,
                    "current_dc_current": 0.0 if ac else event.current_a,
                    "current_dc_voltage": 0.0 if ac else event.voltage_v,
                    "current_energy": event.energy_kwh,
                    "total_energy": event.total_energy_kwh,
                    "soc": event.soc,
                    "id_tag": event.id_tag,
                    "transactionid": event.csms_transaction_id,
                    "transaction_id": transaction_id,
                    "vehicle_id": vehicle_id,
                    "measured_at": self._measured.get(
                        (event.charge_point_id, event.connector_id), event.at
                    ),
                }
            )
            active = connector_id if event.vehicle_ref or event.transaction_ref else None
            evse_rows.append(
                {"b_id": evse_id, "status": event.status, "active_connector_id": active}
            )
            key = (event.charge_point_id, event.connector_id)
            link = (event.vehicle_ref, event.transaction_ref)
            if self._links.get(key, _UNKNOWN) == link:
                continue
            links[key] = link
            unplugged.append({"b_connector_id": connector_id, "b_keep": vehicle_id or _NO_ID})
            if vehicle_id is not None:
                plugged.append(
                    {
                        "b_id": vehicle_id,
                        "connector_id": connector_id,
                        "transaction_id": transaction_id,
                    }
                )
        if connector_rows:
            self._driver.update_by_id(connection, Connector, connector_rows)
            self._driver.update_by_id(connection, Evse, evse_rows)
        if unplugged:
            connection.execute(
                update(Vehicle)
                .where(
                    Vehicle.connector_id == bindparam("b_connector_id"),
                    Vehicle.id != bindparam("b_keep"),
                )
                .values(connector_id=None, transaction_id=None),
                unplugged,
            )
        if plugged:
            self._driver.update_by_id(connection, Vehicle, plugged)
        return links

    def _write_transactions(
        self, connection: Connection, events: Iterable[TransactionChanged]
    ) -> None:
        """Insert the transactions not stored yet, update the others."""
        rows: dict[uuid.UUID, dict[str, Any]] = {}
        for event in events:
            twin_rows = self._rows.get(event.charge_point_id)
            if twin_rows is None:
                continue
            connector_id, evse_id = twin_rows.connectors.get(event.connector_id, (None, None))
            end_time = event.end_time
            if end_time is None and event.status == "Rejected":
                end_time = event.at  # a start that never happened is not a running session
            rows[uuid.UUID(event.transaction_ref)] = {
                "status": event.status,
                "id_tag": event.id_tag,
                "transactionid": event.csms_transaction_id,
                "start_time": event.start_time,
                "end_time": end_time,
                "energy": event.energy_kwh,
                "meter_start": event.meter_start_wh,
                "meter_stop": event.meter_stop_wh,
                "stop_reason": event.stop_reason,
                "user_id": twin_rows.user_id,
                "charge_point_id": uuid.UUID(event.charge_point_id),
                "evse_id": evse_id,
                "connector_id": connector_id,
                "vehicle_id": _uuid(event.vehicle_ref),
            }
        if not rows:
            return
        unknown = [ref for ref in rows if ref not in self._stored_transactions]
        missing = set(unknown) - set(
            connection.scalars(select(Transaction.id).where(Transaction.id.in_(unknown)))
            if unknown
            else ()
        )
        new = [{"id": ref} | row for ref, row in rows.items() if ref in missing]
        changed = [
            {"b_id": ref} | {key: row[key] for key in _TRANSACTION_CHANGES}
            for ref, row in rows.items()
            if ref not in missing
        ]
        if new:
            connection.execute(insert(Transaction), new)
        if changed:
            self._driver.update_by_id(connection, Transaction, changed)
        for ref, row in rows.items():
            if row["end_time"] is None:
                self._stored_transactions.add(ref)
            else:  # ended: no more changes expected; a late one looks it up again
                self._stored_transactions.discard(ref)


#: The columns of a transaction that change after it was stored.
_TRANSACTION_CHANGES = (
    "status",
    "id_tag",
    "transactionid",
    "start_time",
    "end_time",
    "energy",
    "meter_start",
    "meter_stop",
    "stop_reason",
)
#: A connector's vehicle and transaction not yet written by this writer.
_UNKNOWN: tuple[str | None, str | None] = ("?", "?")
#: Stands for "no vehicle" where SQL needs a value to compare with.
_NO_ID = uuid.UUID(int=0)


#: Charge points whose stored frames one query counts (see EventWriter._count_frames).
_COUNTED_AT_ONCE = 500
#: Twin states per upsert statement (5 parameters each: SQLite takes 32,766).
_STATES_PER_STATEMENT = 500
#: Driver-form ids kept (the cache starts over beyond: transactions come and go).
_DRIVER_IDS_KEPT = 200_000


class _DriverForm:
    """The hot statements (message log frames and meter samples inserted, rows updated by
    id) as the database driver takes them, without SQLAlchemy's per-row bind processing:
    a UUID as the ``Uuid`` type stores it (32 hex digits on SQLite, native on Postgres), a
    time as ``UTCDateTime`` stores it (UTC; on SQLite the naive ISO text SQLAlchemy
    writes), JSON as ``dumps_json`` encodes it."""

    def __init__(self, dialect: str, paramstyle: str) -> None:
        self.sqlite = dialect == "sqlite"
        self.marker = "?" if paramstyle == "qmark" else "%s"
        casts = (
            {}
            if self.sqlite
            else {"uuid": "::UUID", "json": "::JSON", "time": "::TIMESTAMP WITH TIME ZONE"}
        )
        self.frame_insert = _insert_sql(MessageLogEntry, self.marker, casts)
        self.sample_insert = _insert_sql(MeterSample, self.marker, casts)
        self._updates: dict[tuple[type[Any], tuple[str, ...]], _UpdatePlan] = {}
        #: Whole seconds (since the epoch) as SQLite's times begin with them.
        self._seconds: dict[int, str] = {}

    def uuid(self, value: uuid.UUID) -> Any:
        return value.hex if self.sqlite else value

    def upsert_states(self, connection: Connection, rows: list[dict[str, Any]]) -> set[uuid.UUID]:
        """``EventWriter._state_upsert`` for many rows, as multi-row statements (SQLite's
        executemany takes no RETURNING); answers the ids written."""
        written: set[uuid.UUID] = set()
        for first in range(0, len(rows), _STATES_PER_STATEMENT):
            chunk = rows[first : first + _STATES_PER_STATEMENT]
            params: list[Any] = []
            for row in chunk:
                params += (
                    self.uuid(row["charge_point_id"]),
                    row["lease_token"],
                    dumps_json(row["state"]),
                    self.time(row["saved_at"]),
                    row["saved_by"],
                )
            for ident in connection.exec_driver_sql(self._states_sql(len(chunk)), tuple(params)):
                written.add(uuid.UUID(ident[0]) if self.sqlite else ident[0])
        return written

    def _states_sql(self, count: int) -> str:
        marker = self.marker
        if self.sqlite:
            row = f"({marker}, {marker}, {marker}, {marker}, {marker})"
        else:
            row = f"({marker}::UUID, {marker}, {marker}::JSON, {marker}::TIMESTAMPTZ, {marker})"
        return (
            "INSERT INTO twin_states (charge_point_id, lease_token, state, saved_at, saved_by)"
            f" VALUES {', '.join([row] * count)} ON CONFLICT (charge_point_id) DO UPDATE SET"
            " lease_token = excluded.lease_token, state = excluded.state,"
            " saved_at = excluded.saved_at, saved_by = excluded.saved_by"
            " WHERE twin_states.lease_token <= excluded.lease_token"
            " RETURNING charge_point_id"
        )

    def update_by_id(
        self, connection: Connection, model: type[Any], rows: list[dict[str, Any]]
    ) -> None:
        """``UPDATE <table> SET <the columns given> WHERE id = :b_id`` for many rows that
        set the same columns (and what the model updates on update: ``updated_at``), in
        the driver's form."""
        keys = tuple(key for key in rows[0] if key != "b_id")
        plan = self._updates.get((model, keys))
        if plan is None:
            plan = self._updates[(model, keys)] = self._update_plan(model, keys)
        on_update = [convert(make(None)) for convert, make in plan.on_update]
        columns = list(zip(keys, plan.converters, strict=True))
        uuid_of = self.uuid
        params: list[tuple[Any, ...]] = []
        for row in rows:
            values = []
            for key, convert in columns:
                value = row[key]
                values.append(value if convert is None or value is None else convert(value))
            values += on_update
            values.append(uuid_of(row["b_id"]))
            params.append(tuple(values))
        connection.exec_driver_sql(plan.sql, params)

    def _update_plan(self, model: type[Any], keys: tuple[str, ...]) -> _UpdatePlan:
        table = model.__table__
        converters = [self._converter(table.c[key]) for key in keys]
        on_update = [
            (self._converter(column) or _same, column.onupdate.arg)
            for column in table.c
            if column.onupdate is not None and column.onupdate.is_callable
            and column.key not in keys
        ]  # fmt: skip
        updated = [table.c[key].name for key in keys]
        updated += [column.name for column in table.c if column.onupdate is not None
                    and column.onupdate.is_callable and column.key not in keys]  # fmt: skip
        assignments = ", ".join(f"{name} = {self.marker}" for name in updated)
        sql = f"UPDATE {table.name} SET {assignments} WHERE id = {self.marker}"
        return _UpdatePlan(sql, converters, on_update)

    def _converter(self, column: Any) -> Callable[[Any], Any] | None:
        if isinstance(column.type, Uuid):
            return self.uuid
        if isinstance(column.type, UTCDateTime):
            return self.time
        if isinstance(column.type, JSON):
            return dumps_json
        return None

    def time(self, value: datetime) -> Any:
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        if value.tzinfo is not UTC:
            value = value.astimezone(UTC)
        if not self.sqlite:
            return value
        # Formatting a time costs more than the rest of its row: the whole seconds of a
        # batch's rows are mostly the same few, formatted once.
        second = value.timestamp().__floor__()
        prefix = self._seconds.get(second)
        if prefix is None:
            if len(self._seconds) >= 1_000:
                self._seconds.clear()
            prefix = self._seconds[second] = value.replace(microsecond=0, tzinfo=None).isoformat(
                " "
            )
        return f"{prefix}.{value.microsecond:06d}"


@dataclass(frozen=True, slots=True)
class _UpdatePlan:
    sql: str
    converters: list[Callable[[Any], Any] | None]
    on_update: list[tuple[Callable[[Any], Any], Callable[[Any], Any]]]


def _same(value: Any) -> Any:
    return value


#: The columns of the hot inserts, in the order of their rows (see _DriverForm), with
#: what kind of value each takes.
_INSERT_COLUMNS: dict[type[Any], tuple[tuple[str, str], ...]] = {
    MessageLogEntry: (
        ("charge_point_id", "uuid"),
        ("timestamp", "time"),
        ("direction", ""),
        ("message_type", ""),
        ("unique_id", ""),
        ("action", ""),
        ("payload", "json"),
    ),
    MeterSample: (
        ("charge_point_id", "uuid"),
        ("connector_id", "uuid"),
        ("transaction_id", "uuid"),
        ("timestamp", "time"),
        ("context", ""),
        ("energy_wh", ""),
        ("power_w", ""),
        ("current_a", ""),
        ("voltage_v", ""),
        ("soc", ""),
    ),
}


def _insert_sql(model: type[Any], marker: str, casts: dict[str, str]) -> str:
    columns = _INSERT_COLUMNS[model]
    names = ", ".join(name for name, _ in columns)
    values = ", ".join(marker + casts.get(kind, "") for _, kind in columns)
    return f"INSERT INTO {model.__tablename__} ({names}) VALUES ({values})"


def _grouped_by_keys(rows: Iterable[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Rows grouped by the columns they set (one executemany per group)."""
    groups: dict[frozenset[str], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(frozenset(row), []).append(row)
    return list(groups.values())


def _uuid(value: str | None) -> uuid.UUID | None:
    return None if value is None else uuid.UUID(value)


@dataclass(slots=True)
class _Written:
    """What of a row was last written (its fixed part and its power), when, and the
    newest event held back since."""

    key: tuple[Any, ...]
    power: float
    at: float
    held: Any = None


def _connector_key(event: ConnectorChanged) -> tuple[tuple[Any, ...], float]:
    return (
        event.status,
        event.error_code,
        event.vehicle_ref,
        event.transaction_ref,
        event.csms_transaction_id,
        event.id_tag,
        event.current_type,
    ), event.power_kw


def _transaction_key(event: TransactionChanged) -> tuple[tuple[Any, ...], float]:
    return (
        event.status,
        event.id_tag,
        event.csms_transaction_id,
        event.vehicle_ref,
        event.start_time,
        event.end_time,
        event.meter_start_wh,
        event.meter_stop_wh,
        event.stop_reason,
    ), 0.0


def _vehicle_key(event: VehicleChanged) -> tuple[tuple[Any, ...], float]:
    return (event.status,), 0.0


class _HeldBack:
    """Decides, for one batch, which row updates are written and which are held back
    (only their continuous values moved, and their row is younger than ROW_REFRESH);
    held-back events are written once their row is older, or with ``everything``.

    An event is only ever held back on a row written less than ROW_REFRESH ago, so the
    rows that may hold one are kept apart in ``young``, in the order they were written:
    finding the due ones takes the oldest off its front, and costs nothing per idle row."""

    def __init__(
        self,
        written: dict[tuple[str, object], _Written],
        young: OrderedDict[tuple[str, object], None],
        now: float,
        refresh: float,
        everything: bool,
    ) -> None:
        self.written = written
        self.young = young
        self.now = now
        self.refresh = refresh
        self.everything = everything
        #: The rows written by this batch, with what of them was written.
        self._marks: list[tuple[tuple[str, object], tuple[Any, ...], float]] = []
        self._due = self._take_due()

    def _take_due(self) -> dict[tuple[str, object], _Written]:
        due: dict[tuple[str, object], _Written] = {}
        while self.young:
            row = next(iter(self.young))
            last = self.written[row]
            if not self.everything and self.now - last.at < self.refresh:
                break
            del self.young[row]
            if last.held is not None:
                due[row] = last
        return due

    def filter(
        self,
        kind: str,
        events: dict[Any, Any],
        key_of: Callable[[Any], tuple[tuple[Any, ...], float]],
    ) -> dict[Any, Any]:
        chosen: dict[Any, Any] = {}
        written = self.written
        for name, event in events.items():
            row = (kind, name)
            key, power = key_of(event)
            last = written.get(row)
            if (
                self.everything
                or last is None
                or last.key != key
                or abs(power - last.power) > 0.01 * max(abs(last.power), 0.1)
                or self.now - last.at >= self.refresh
            ):
                chosen[name] = event
                self._marks.append((row, key, power))
            else:
                # Not written: true whether or not the batch commits.
                last.held = event
        for row, last in self._due.items():  # held back long enough: written now
            if row[0] == kind and row[1] not in events:
                chosen[row[1]] = last.held
                self._marks.append((row, last.key, last.power))
        return chosen

    def commit(self) -> None:
        """The batch's transaction committed: remember what was written, and when."""
        written, young, now = self.written, self.young, self.now
        for row, key, power in self._marks:
            written[row] = _Written(key, power, now)
            young[row] = None
            young.move_to_end(row)  # the youngest now: to the end

    def undo(self) -> None:
        """The batch's transaction failed: the due rows stay due."""
        for row in self._due:
            self.young[row] = None
