"""The charge point twin: state, commands and metering, whatever the OCPP version.

A :class:`ChargePointTwin` is a plain asyncio object. The host gives it its
configuration, a clock and an event sink; it reports every change as an event
(:mod:`worker.twin.events`) and speaks to its CSMS through a
:class:`~worker.twin.protocol.ProtocolAdapter` chosen by ``config.protocol``.

The twin is one object made of parts, one module each, that share its slots:
:mod:`~worker.twin.session` (connect, boot, statuses, heartbeat),
:mod:`~worker.twin.transactions` (vehicles and charging sessions),
:mod:`~worker.twin.metering` (electrics, energy, meter samples),
:mod:`~worker.twin.operations` (what the CSMS asks) and
:mod:`~worker.twin.saved_state` (save and restore). This module holds the state
itself (the slots), the timer, faults, and how a state becomes a status and events.

Cost per twin, because one loop hosts thousands: one timer task that sleeps until
the next due thing (heartbeat, meter sample, reservation expiry), the connection
task with its websocket, and a drain task only while messages wait. Connector and
transaction state live in ``__slots__`` objects; tables (configuration keys,
schemas) are shared by all twins.

Energy is integrated with the vehicle's exact ``charge()`` from the last step to
now at every meter sample and before every change that moves the limit or the
state (start, stop, fault, profile set or cleared, unplug), so the register does
not depend on the sample interval. A limit that changes by itself at a schedule
period boundary takes effect at the next sample or state change.

Status words are those of OCPP 1.6 (ChargePointStatus); the 2.0.1 adapter maps
them. A connector's status is derived from its state by :meth:`_derive_status`,
never set by hand, so that every path ends in a consistent status.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from worker.twin.authorization import Authorizer
from worker.twin.certificates import CertificateStore
from worker.twin.clock import Cancellable, Clock
from worker.twin.config import ChargePointConfig
from worker.twin.connection import ConnectionLoop, OutboundQueue
from worker.twin.errors import (
    CommandTimeout,
    InvalidRequest,
    InvalidState,
    NotConnected,
    Rejected,
    UnknownTarget,
)
from worker.twin.events import (
    ChargePointChanged,
    ConfigurationChanged,
    ConnectorChanged,
    EventSink,
    TransactionChanged,
    VehicleChanged,
)
from worker.twin.metering import MeteringMixin
from worker.twin.model import ConnectorState, QueuedMessage, Transaction
from worker.twin.ocpp16 import Ocpp16Adapter
from worker.twin.ocpp21 import Ocpp21Adapter
from worker.twin.ocpp201 import Ocpp201Adapter
from worker.twin.operations import OperationsMixin
from worker.twin.pending_start import PendingStartMixin
from worker.twin.plug_timeout import PlugTimeoutMixin
from worker.twin.protocol import ProtocolAdapter
from worker.twin.saved_state import SavedStateMixin
from worker.twin.security_events import SecurityEvents
from worker.twin.session import SessionMixin
from worker.twin.smart_charging import ChargingProfileStore
from worker.twin.state import StateStore
from worker.twin.status_report import StatusReportMixin
from worker.twin.transactions import TransactionsMixin
from worker.twin.values import CallFailed, ConnectionLost, InvalidOutgoingCall

logger = logging.getLogger(__name__)

#: Periodic meter samples a twin takes at most per real second, whatever its speed.
MAX_SAMPLES_PER_SECOND = 10
#: Heartbeats a twin sends at most per real second, whatever its speed.
MAX_HEARTBEATS_PER_SECOND = 1


def periodic_messages_per_second(speed: float, connectors: int) -> float:
    """The most periodic messages a twin sends a real second, whatever intervals its CSMS
    sets (at least 1 s each): a MeterValues per connector per meter sample, and its
    Heartbeat. What a user's twins may send together is bounded by this sum."""
    return connectors * min(speed, MAX_SAMPLES_PER_SECOND) + min(speed, MAX_HEARTBEATS_PER_SECOND)


class ChargePointTwin(
    SessionMixin,
    TransactionsMixin,
    OperationsMixin,
    MeteringMixin,
    SavedStateMixin,
    PendingStartMixin,
    PlugTimeoutMixin,
    StatusReportMixin,
):
    """A virtual charge point.

    Commands (the host calls them; each raises a :mod:`worker.twin.errors` error
    whose message says what to do):

    * ``start()`` / ``connected(timeout)`` / ``stop()`` / ``close()``: connection.
      ``connected`` raises Rejected (boot rejected), CommandTimeout (boot Pending
      or unanswered) or NotConnected (no connection, with the reason).
    * ``plug_in(connector_id, vehicle, vehicle_ref, id_tag=None)``,
      ``unplug(connector_id)``: UnknownTarget, InvalidState.
    * ``start_transaction(connector_id, id_tag, vehicle=None, vehicle_ref=None,
      timeout=30)`` → TransactionChanged: UnknownTarget, InvalidState, Rejected,
      NotConnected, CommandTimeout.
    * ``stop_transaction(transaction_ref, reason="Local")`` → TransactionChanged:
      UnknownTarget.
    * ``set_faulted(connector_id, error_code, info)`` / ``clear_fault(connector_id)``
      (0 = the whole charge point): UnknownTarget, InvalidState.
    * ``snapshot()`` → the whole state as plain data.
    * ``save_state()`` → the state to resume from (plain JSON data);
      ``restore_state(state, resume=, last_alive=)`` on a fresh twin before
      ``start()`` (see :mod:`worker.twin.saved_state`).

    CSMS-initiated operations arrive through the adapter as the ``handle_*``
    methods (see :class:`~worker.twin.protocol.ProtocolAdapter`): they decide at
    once and act after the answer is on the wire.
    """

    __slots__ = (
        "_boot_reason",
        "_boot_status",
        "_connectors",
        "_cp_fault",
        "_cp_operative",
        "_cp_scheduled_operative",
        "_electrics_by_type",
        "_ended_interval",
        "_epoch",
        "_frozen",
        "_heartbeat_due",
        "_heartbeating",
        "_last_error",
        "_last_heartbeat",
        "_loop",
        "_loop_task",
        "_meter_due",
        "_needs_boot",
        "_retry_message",
        "_saved_keys",
        "_session_end",
        "_tasks",
        "_timer_handle",
        "_timing",
        "_waiters",
        "_wall",
        "adapter",
        "authorizer",
        "certificates",
        "clock",
        "config",
        "connect_timeout",
        "connected_to_csms",
        "online",
        "permit",
        "profiles",
        "queue",
        "response_timeout",
        "security_events",
        "sink",
        "store",
    )

    def __init__(
        self,
        config: ChargePointConfig,
        clock: Clock,
        sink: EventSink,
        *,
        response_timeout: float = 30.0,
        connect_timeout: float = 10.0,
        store: StateStore | None = None,
        permit: Callable[[], bool] | None = None,
    ) -> None:
        """``response_timeout`` and ``connect_timeout`` are real seconds.

        ``store`` (see :class:`~worker.twin.state.StateStore`) hears of every change
        of the state :meth:`save_state` covers, and is awaited before the first
        send of each transaction message. ``permit`` says whether this process
        still holds the twin's lease: the twin asks it before opening a websocket
        and before every frame, and while it says False the twin stays (or goes)
        off the wire, keeping its state.
        """
        self.config = config
        self.clock = clock
        self.sink = sink
        self.store = store
        self.permit = permit
        self.response_timeout = response_timeout
        self.connect_timeout = connect_timeout
        self._epoch = clock.now() - timedelta(seconds=clock.monotonic())
        #: ``_electrics`` of each current type (the config is frozen): three calls a
        #: meter value become lookups.
        self._electrics_by_type = {"AC": self._electrics("AC"), "DC": self._electrics("DC")}
        self._connectors: dict[int, ConnectorState] = {
            connector.connector_id: ConnectorState(evse.evse_id, connector)
            for evse, connector in config.connectors()
        }
        self.authorizer = Authorizer(self.mark_changed)
        self.profiles = ChargingProfileStore()
        self.certificates = CertificateStore(config.client_certificate, config.client_key)
        self.security_events = SecurityEvents(self)
        self.queue = OutboundQueue(self, self._delivered)
        self.online = False
        self.connected_to_csms = False
        self._boot_status: str | None = None
        self._boot_reason = "PowerUp"
        self._needs_boot = True
        self._last_error: str | None = None
        self._retry_message: str | None = None
        self._last_heartbeat: datetime | None = None
        self._heartbeat_due: float | None = None
        self._heartbeating = False
        self._meter_due: float | None = None
        self._cp_operative = True
        self._cp_scheduled_operative: bool | None = None
        self._cp_fault: str | None = None
        self._loop: ConnectionLoop | None = None
        self._loop_task: asyncio.Task[None] | None = None
        self._timer_handle: Cancellable | None = None
        self._timing = False
        #: The clock's time while the timer runs (see :meth:`now`), else None.
        self._wall: datetime | None = None
        #: What of each connector / transaction was last marked as a change of the saved
        #: state (see _mark_if_changed).
        self._saved_keys: dict[tuple[str, object], tuple[object, ...]] = {}
        self._frozen = False
        #: (TxEndedInterval, since when it is in force): samples missed before, when it
        #: was another, are not caught up.
        self._ended_interval: tuple[int, datetime] | None = None
        self._session_end: asyncio.Future[None] | None = None
        self._waiters: list[asyncio.Future[None]] | None = None
        self._tasks: set[asyncio.Task[Any]] | None = None
        self.adapter: ProtocolAdapter = _make_adapter(self)

    # == helpers for the adapter ====================================================

    def mark_changed(self) -> None:
        """Something :meth:`save_state` covers changed: tell the store (cheap)."""
        if self.store is not None:
            self.store.state_changed(self)

    def mark_progressed(self) -> None:
        """Only what moves continuously changed (registers, SoC, energy): the store saves
        it with its next periodic save, not at once (one save per meter value each
        twin is what a fleet cannot afford; a restore integrates the gap)."""
        if self.store is not None:
            self.store.state_progressed(self)

    def _mark_if_changed(self, key: tuple[str, object], value: tuple[object, ...]) -> None:
        if self._saved_keys.get(key) != value:
            self._saved_keys[key] = value
            self.mark_changed()
        else:
            self.mark_progressed()

    def freeze(self) -> None:
        """Take no more samples and run no more timers: the host is about to save the
        twin's last state before it stops or moves it (a sample after that save would
        be one the saved state does not cover). The state saved from now on is final."""
        self._frozen = True
        self._cancel_timer()

    def permitted(self) -> bool:
        """Whether the host still holds the twin's lease (always, without a hook)."""
        return self.permit is None or self.permit()

    def now(self) -> datetime:
        """The clock's time; while the timer runs, the time it woke at, so that the
        events of one wake-up carry one time (a meter value asked the clock six times)."""
        wall = self._wall
        return self.clock.now() if wall is None else wall

    def connector(self, connector_id: int) -> ConnectorState | None:
        return self._connectors.get(connector_id)

    def connectors(self) -> list[ConnectorState]:
        return list(self._connectors.values())

    def spawn(self, coro: Any) -> None:
        """Run ``coro`` as a task the twin owns; errors are logged, never lost."""
        task = asyncio.ensure_future(coro)
        if self._tasks is None:
            self._tasks = set()
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        if self._tasks is not None:
            self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            error = task.exception()
            if isinstance(error, ConnectionLost | CallFailed):
                logger.info("%s: %s", self.config.cid, error)
            else:
                logger.error("%s: task failed", self.config.cid, exc_info=error)

    def sample_interval(self) -> float:
        """Simulated seconds between periodic meter samples: the configured interval, but
        never more than MAX_SAMPLES_PER_SECOND samples a real second (a twin at speed
        3,600 sampling every second would flood its CSMS and the database)."""
        return max(
            self.adapter.settings.meter_value_sample_interval,
            self.config.speed / MAX_SAMPLES_PER_SECOND,
        )

    def heartbeat_period(self) -> float:
        """Simulated seconds between heartbeats: the CSMS's interval, but never more than
        MAX_HEARTBEATS_PER_SECOND a real second."""
        return max(
            self.adapter.settings.heartbeat_interval,
            self.config.speed / MAX_HEARTBEATS_PER_SECOND,
        )

    def settings_changed(self, *, heartbeat: bool = False, metering: bool = False) -> None:
        """The adapter changed configuration: re-plan what moved, report the values.

        ``heartbeat``/``metering``: the interval changed, so the next one is due one
        new interval from now.
        """
        now = self.clock.monotonic()
        if heartbeat and self._heartbeat_due is not None:
            self._heartbeat_due = now + self.heartbeat_period()
        if metering and self._meter_due is not None:
            self._meter_due = now + self.sample_interval()
        # Any setting may move what is due next (TxEndedInterval, ConnectionTimeOut...).
        self._energy_caps_changed()
        self._reschedule()
        self.sink(
            ConfigurationChanged(
                self.config.charge_point_id, self.now(), self.adapter.configuration_values()
            )
        )

    def find_transaction(self, ref: str) -> Transaction | None:
        """By the twin's ref or the CSMS's transaction id."""
        for connector in self._connectors.values():
            tx = connector.transaction
            if tx is not None and ref in (tx.ref, tx.csms_transaction_id):
                return tx
        return None

    # == commands ===================================================================

    def _get_connector(self, connector_id: int) -> ConnectorState:
        connector = self._connectors.get(connector_id)
        if connector is None:
            known = ", ".join(str(c) for c in self._connectors)
            raise UnknownTarget(
                f"charge point {self.config.cid} has no connector {connector_id} (it has {known})"
            )
        return connector

    async def data_transfer(
        self, vendor_id: str, message_id: str | None = None, data: Any = None
    ) -> tuple[str, Any]:
        """Send a DataTransfer to the CSMS and return its status and data."""
        if not self.online:
            raise self._not_online_error()
        try:
            return await self.adapter.send_data_transfer(vendor_id, message_id, data)
        except InvalidOutgoingCall as error:
            raise InvalidRequest(str(error)) from None
        except CallFailed as error:
            if error.timeout:
                raise CommandTimeout(f"CSMS did not answer DataTransfer: {error}") from None
            raise Rejected(f"CSMS refused DataTransfer: {error}") from None
        except ConnectionLost as error:
            raise NotConnected(f"connection lost during DataTransfer: {error}") from None

    async def set_faulted(
        self, connector_id: int, error_code: str = "OtherError", info: str | None = None
    ) -> None:
        """Fault a connector (0: the whole charge point). A running transaction
        stays but draws no power until the fault is cleared."""
        if error_code == "NoError":
            raise InvalidState("error code NoError is not a fault; use clear_fault")
        if connector_id == 0:
            self._set_charge_point_fault(error_code, info)
            return
        connector = self._get_connector(connector_id)
        self._integrate(connector)
        connector.error_code = error_code
        connector.fault_info = info
        self._refresh(connector)

    def _set_charge_point_fault(self, error_code: str | None, info: str | None) -> None:
        """Fault (or, with None, clear) the charge point as a whole: every connector
        follows, and the CSMS hears it on connector 0."""
        self._integrate_all()
        self._cp_fault = error_code
        self._send_cp_status(info)
        for connector in self._connectors.values():
            self._refresh(connector)
        self._emit_charge_point()

    async def clear_fault(self, connector_id: int) -> None:
        if connector_id == 0:
            self._set_charge_point_fault(None, None)
            return
        connector = self._get_connector(connector_id)
        if connector.error_code is None:
            raise InvalidState(f"connector {connector_id} is not faulted")
        self._integrate(connector)
        connector.error_code = None
        connector.fault_info = None
        self._refresh(connector)

    def snapshot(self) -> dict[str, Any]:
        """The whole state as plain data."""
        self._integrate_all()
        return {
            "charge_point_id": self.config.charge_point_id,
            "cid": self.config.cid,
            "protocol": self.config.protocol,
            "status": self._charge_point_status_word(),
            "connected": self.connected_to_csms,
            "booted": self.online,
            "boot_status": self._boot_status,
            "last_error": self._last_error,
            "last_heartbeat": self._last_heartbeat,
            "heartbeat_interval": self.adapter.settings.heartbeat_interval,
            "queued_messages": len(self.queue.durable_items()),
            "local_list_version": self.authorizer.list_version,
            "configuration": self.adapter.configuration_values(),
            "connectors": [_as_dict(self._connector_event(c)) for c in self._connectors.values()],
            "transactions": [
                _as_dict(self._transaction_event(c.transaction))
                for c in self._connectors.values()
                if c.transaction is not None
            ],
            "reservations": [
                {
                    "reservation_id": c.reservation.id,
                    "connector_id": c.connector_id,
                    "id_tag": c.reservation.id_tag,
                    "expiry": c.reservation.expiry,
                }
                for c in self._connectors.values()
                if c.reservation is not None
            ],
        }

    def _reschedule(self) -> None:
        """Re-plan the timer after something changed what is due next: it looks at the
        next loop iteration (what the caller changes after this call counts too)."""
        if self._frozen or self._timing:
            return
        self._cancel_timer()
        if self._next_due() is not None:
            self._timer_handle = asyncio.get_event_loop().call_soon(self._timer)

    def _cancel_timer(self) -> None:
        if self._timer_handle is not None:
            self._timer_handle.cancel()
            self._timer_handle = None

    def _next_due(self) -> float | None:
        """The monotonic time of the next thing due (None: nothing is). One pass over the
        connectors (``_next_status_due`` inlined); ``_next_expiry`` only when a connector
        has a reservation, a pending start or a plug wait (a charging twin has none)."""
        settings = self.adapter.settings
        dues = []
        if self.online and self._heartbeat_due is not None and settings.heartbeat_interval > 0:
            dues.append(self._heartbeat_due)
        if self._meter_due is not None and settings.meter_value_sample_interval > 0:
            dues.append(self._meter_due)
        ended_sample = self._next_ended_sample()
        if ended_sample is not None:
            dues.append(ended_sample)
        status_since: float | None = None
        waits = False
        for connector in self._connectors.values():
            if connector.limit_due is not None:
                dues.append(connector.limit_due)
            since = connector.status_since
            if since is not None and (status_since is None or since < status_since):
                status_since = since
            if (
                connector.pending_start is not None
                or connector.plug_wait_since is not None
                or connector.reservation is not None
            ):
                waits = True
        if status_since is not None:
            dues.append(status_since + max(settings.minimum_status_duration, 0))
        if waits:
            expiry = self._next_expiry()
            if expiry is not None:
                dues.append(expiry)
        return min(dues) if dues else None

    def _next_expiry(self) -> float | None:
        soonest = self._next_pending_deadline()
        plug_deadline = self._next_plug_deadline()
        if plug_deadline is not None and (soonest is None or plug_deadline < soonest):
            soonest = plug_deadline
        for connector in self._connectors.values():
            reservation = connector.reservation
            if reservation is not None and (soonest is None or reservation.expiry < soonest):
                soonest = reservation.expiry
        if soonest is None:
            return None
        return self.clock.monotonic() + (soonest - self.now()).total_seconds()

    def _timer(self) -> None:
        """Do what is due, then arm one clock callback for the next due thing: no task,
        no future, one timer handle per wake-up (thousands of twins share the loop)."""
        self._wake(armed=False)

    def _timer_armed(self) -> None:
        """The clock callback armed for what :meth:`_next_due` said: go straight to what
        is due (each part checks its own time; a change that moved something earlier
        has re-planned through :meth:`_reschedule`)."""
        self._wake(armed=True)

    def _wake(self, armed: bool) -> None:
        self._timer_handle = None
        self._timing = True
        self._wall = self.clock.now()
        try:
            self._run_due(armed)
        finally:
            self._timing = False
            self._wall = None

    def _run_due(self, armed: bool) -> None:
        clock = self.clock
        while not self._frozen:
            now = clock.monotonic()
            if not armed:
                due = self._next_due()
                if due is None:
                    return
                if due > now:
                    self._timer_handle = clock.call_later(due - now, self._timer_armed)
                    return
            armed = False
            if self.online and self._heartbeat_due is not None and self._heartbeat_due <= now:
                self._heartbeat_due = _next_after(self._heartbeat_due, self.heartbeat_period(), now)
                if not self._heartbeating:  # a CSMS that answers slowly gets no pile-up
                    self.spawn(self._periodic_heartbeat())
            if self._meter_due is not None and self._meter_due <= now:
                self._meter_due = _next_after(self._meter_due, self.sample_interval(), now)
                self._meter()
            if self.adapter.settings.tx_ended_interval > 0:
                self._take_ended_samples()
            connectors = self._connectors.values()
            for connector in connectors:
                if connector.status_since is not None:
                    self._report_lasting_statuses(now)
                    break
            waits = False
            for connector in connectors:
                if connector.limit_due is not None and connector.limit_due <= now:
                    self._integrate(connector)
                    self._refresh(connector)
                if (
                    connector.pending_start is not None
                    or connector.plug_wait_since is not None
                    or connector.reservation is not None
                ):
                    waits = True
            if not waits:  # nothing to expire (a charging twin's wake-ups)
                continue
            wall = self.now()
            for connector in connectors:
                reservation = connector.reservation
                if reservation is not None and reservation.expiry <= wall:
                    logger.info("%s: reservation %d expired", self.config.cid, reservation.id)
                    connector.reservation = None
                    self._publish(connector)
            self._expire_pending_starts(wall)
            self._expire_plug_waits(wall)

    # == status and events ===========================================================

    def _any_transaction(self) -> bool:
        return any(c.transaction is not None for c in self._connectors.values())

    def _derive_status(self, connector: ConnectorState) -> str:
        if connector.error_code is not None or self._cp_fault is not None:
            return "Faulted"
        tx = connector.transaction
        if tx is not None:
            if tx.start_pending and self.online:
                # As a real charger tells its CSMS: Preparing, StartTransaction, and
                # Charging once accepted (also after a reconnect). Offline it charges.
                return "Preparing"
            if tx.status in ("SuspendedEV", "SuspendedEVSE"):
                return tx.status
            return "Charging"
        if self._out_of_service(connector):
            return "Unavailable"
        if connector.finishing:
            return "Finishing"
        if (
            connector.vehicle is not None and not connector.plug_timed_out
        ) or connector.pending_start is not None:
            return "Preparing"
        if connector.reservation is not None:
            return "Reserved"
        return "Available"

    def _out_of_service(self, connector: ConnectorState) -> bool:
        """Inoperative (itself or the whole charge point), or restarting with its EVSE."""
        return connector.rebooting or not (connector.operative and self._cp_operative)

    def _charge_point_status(self) -> str:
        if self._cp_fault is not None:
            return "Faulted"
        return "Available" if self._cp_operative else "Unavailable"

    def _cp_error(self) -> str:
        return self._cp_fault or "NoError"

    def _charge_point_status_word(self) -> str:
        if self._cp_fault is not None:
            return "Faulted"
        if self.online:
            return "Available"
        if self.connected_to_csms and self._boot_status in ("Pending", "Rejected"):
            return self._boot_status
        return "Unavailable"

    def _send_cp_status(self, info: str | None) -> None:
        if self.online:
            self.queue.put(
                QueuedMessage(
                    "status",
                    connector_id=0,
                    status=self._charge_point_status(),
                    error_code=self._cp_error(),
                    info=info,
                )
            )

    def _publish(self, connector: ConnectorState) -> ConnectorChanged:
        """Report the connector; a new status also goes to the CSMS (when online)."""
        status = self._derive_status(connector)
        if status != connector.status:
            connector.status = status
            if self.online:
                self._status_changed(connector)
        event = self._connector_event(connector)
        self.sink(event)
        tx = connector.transaction
        self._mark_if_changed(
            ("connector", connector.connector_id),
            (
                status,
                connector.operative,
                connector.scheduled_operative,
                connector.error_code,
                connector.fault_info,
                connector.finishing,
                connector.reservation,
                connector.pending_start,
                connector.plug_wait_since,
                connector.plug_timed_out,
                connector.vehicle_ref,
                tx.ref if tx is not None else None,
                self.profiles.revision,
            ),
        )
        return event

    def _connector_event(self, connector: ConnectorState) -> ConnectorChanged:
        tx = connector.transaction
        voltage = self._electrics_by_type[connector.current_type][0]
        return ConnectorChanged(
            charge_point_id=self.config.charge_point_id,
            at=self.now(),
            evse_id=connector.evse_id,
            connector_id=connector.connector_id,
            status=connector.status,
            power_kw=connector.power_kw,
            current_a=connector.current_a,
            voltage_v=voltage if connector.vehicle is not None else 0.0,
            current_type=connector.current_type,
            energy_kwh=tx.energy_wh / 1000.0 if tx else 0.0,
            total_energy_kwh=connector.register_wh / 1000.0,
            soc=connector.vehicle.soc if connector.vehicle is not None else None,
            vehicle_ref=connector.vehicle_ref,
            id_tag=tx.id_tag if tx else None,
            transaction_ref=tx.ref if tx else None,
            csms_transaction_id=tx.csms_transaction_id if tx else None,
            error_code=connector.error_code,
        )

    def _transaction_event(self, tx: Transaction) -> TransactionChanged:
        return TransactionChanged(
            charge_point_id=self.config.charge_point_id,
            at=self.now(),
            transaction_ref=tx.ref,
            evse_id=tx.evse_id,
            connector_id=tx.connector_id,
            status=tx.status,
            id_tag=tx.id_tag,
            vehicle_ref=tx.vehicle_ref,
            start_time=tx.start_time,
            meter_start_wh=tx.meter_start_wh,
            energy_kwh=tx.energy_wh / 1000.0,
            csms_transaction_id=tx.csms_transaction_id,
            end_time=tx.end_time,
            meter_stop_wh=tx.meter_stop_wh,
            stop_reason=tx.stop_reason,
        )

    def _emit_transaction(self, tx: Transaction) -> None:
        self.sink(self._transaction_event(tx))
        self._mark_if_changed(
            ("transaction", tx.ref),
            (
                tx.status,
                tx.csms_transaction_id,
                tx.id_tag,
                tx.vehicle_ref,
                tx.end_time,
                tx.meter_stop_wh,
                tx.stop_reason,
                tx.stop_id_tag,
                tx.suspended_by_csms,
                tx.invalid_id,
                tx.start_pending,
            ),
        )
        if tx.end_time is not None:
            self._saved_keys.pop(("transaction", tx.ref), None)

    def _set_vehicle_status(self, connector: ConnectorState, status: str) -> None:
        vehicle = connector.vehicle
        if vehicle is None or connector.vehicle_ref is None:
            return
        if status != connector.vehicle_status or status in ("charging", "discharging"):
            connector.vehicle_status = status
            self.sink(
                VehicleChanged(
                    self.config.charge_point_id,
                    self.now(),
                    connector.vehicle_ref,
                    vehicle.soc,
                    status,
                )
            )

    def _emit_charge_point(self) -> None:
        settings = self.adapter.settings
        self.sink(
            ChargePointChanged(
                charge_point_id=self.config.charge_point_id,
                at=self.now(),
                status=self._charge_point_status_word(),
                connected=self.connected_to_csms,
                boot_reason=self._boot_reason,
                last_heartbeat=self._last_heartbeat,
                heartbeat_interval=settings.heartbeat_interval,
            )
        )
        self.mark_changed()


def _next_after(due: float, interval: float, now: float) -> float:
    """The next due time after ``now`` on the grid ``due + k * interval``."""
    if interval <= 0:
        return now
    due += interval
    if due <= now:
        due = now + interval
    return due


def _as_dict(event: Any) -> dict[str, Any]:
    return {name: getattr(event, name) for name in event.__slots__}


def _make_adapter(twin: ChargePointTwin) -> ProtocolAdapter:
    if twin.config.protocol == "ocpp1.6":
        return Ocpp16Adapter(twin)
    if twin.config.protocol == "ocpp2.1":
        return Ocpp21Adapter(twin)
    return Ocpp201Adapter(twin)
