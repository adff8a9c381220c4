"""The charge point twin: state, commands and metering, whatever the OCPP version.

A :class:`ChargePointTwin` is a plain asyncio object. The host gives it its
configuration, a clock and an event sink; it reports every change as an event
(:mod:`worker.twin.events`) and speaks to its CSMS through a
:class:`~worker.twin.protocol.ProtocolAdapter` chosen by ``config.protocol``.

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
import math
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, Literal

from worker.twin.authorization import Authorizer
from worker.twin.clock import Clock
from worker.twin.config import ChargePointConfig, CurrentType
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
    MeterSampled,
    TransactionChanged,
    VehicleChanged,
)
from worker.twin.model import ConnectorState, QueuedMessage, Reservation, Transaction
from worker.twin.ocpp16 import Ocpp16Adapter
from worker.twin.ocpp201 import Ocpp201Adapter
from worker.twin.protocol import ProtocolAdapter
from worker.twin.smart_charging import ChargingProfile, ChargingProfileStore, CompositeSchedule
from worker.twin.state import (
    STATE_VERSION,
    StateError,
    StateStore,
    sample_from_state,
    sample_to_state,
    time_from_state,
    time_to_state,
    vehicle_from_state,
    vehicle_to_state,
)
from worker.twin.values import (
    BootAnswer,
    CallFailed,
    ConnectionLost,
    IdTagInfo,
    InvalidOutgoingCall,
    MeterSample,
)
from worker.twin.vehicle import Vehicle

logger = logging.getLogger(__name__)

#: Seconds (simulated) between boot attempts when the CSMS gives no interval.
DEFAULT_BOOT_RETRY = 30
#: How far ahead (s) the twin looks for the next change of a charging schedule.
LIMIT_HORIZON = 3600
#: Simulated seconds an EVSE is Unavailable while it restarts (2.0.1 Reset of one EVSE).
EVSE_RESTART_SECONDS = 10
#: Real seconds a reset waits for the StopTransactions to go out before rebooting.
RESET_FLUSH_TIMEOUT = 5.0

ReserveStatus = Literal["Accepted", "Faulted", "Occupied", "Rejected", "Unavailable"]
AvailabilityAnswer = Literal["Accepted", "Rejected", "Scheduled"]


class ChargePointTwin:
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
        "_epoch",
        "_heartbeat_due",
        "_heartbeating",
        "_last_error",
        "_last_heartbeat",
        "_loop",
        "_loop_task",
        "_meter_due",
        "_needs_boot",
        "_retry_message",
        "_session_end",
        "_tasks",
        "_timer_task",
        "_waiters",
        "adapter",
        "authorizer",
        "clock",
        "config",
        "connect_timeout",
        "connected_to_csms",
        "online",
        "permit",
        "profiles",
        "queue",
        "response_timeout",
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
        self._connectors: dict[int, ConnectorState] = {
            connector.connector_id: ConnectorState(evse.evse_id, connector)
            for evse, connector in config.connectors()
        }
        self.authorizer = Authorizer(self.mark_changed)
        self.profiles = ChargingProfileStore()
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
        self._timer_task: asyncio.Task[None] | None = None
        self._session_end: asyncio.Future[None] | None = None
        self._waiters: list[asyncio.Future[None]] | None = None
        self._tasks: set[asyncio.Task[Any]] | None = None
        self.adapter: ProtocolAdapter = _make_adapter(self)

    # == helpers for the adapter ====================================================

    def mark_changed(self) -> None:
        """Something :meth:`save_state` covers changed: tell the store (cheap)."""
        if self.store is not None:
            self.store.state_changed(self)

    def permitted(self) -> bool:
        """Whether the host still holds the twin's lease (always, without a hook)."""
        return self.permit is None or self.permit()

    def now(self) -> datetime:
        return self.clock.now()

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

    def settings_changed(self, *, heartbeat: bool = False, metering: bool = False) -> None:
        """The adapter changed configuration: re-plan what moved, report the values.

        ``heartbeat``/``metering``: the interval changed, so the next one is due one
        new interval from now.
        """
        settings = self.adapter.settings
        now = self.clock.monotonic()
        if heartbeat and self._heartbeat_due is not None:
            self._heartbeat_due = now + settings.heartbeat_interval
        if metering and self._meter_due is not None:
            self._meter_due = now + settings.meter_value_sample_interval
        if heartbeat or metering:
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

    # == connection lifecycle =======================================================

    async def start(self) -> None:
        """Connect to the CSMS and keep connected (boot, heartbeat, reconnect)."""
        if self._loop_task is not None and not self._loop_task.done():
            return
        self._loop = ConnectionLoop(self)
        self._loop_task = asyncio.ensure_future(self._loop.run())
        self._reschedule()

    async def connected(self, timeout: float = 30.0) -> None:
        """Wait (real seconds) until the CSMS has accepted the boot.

        Raises Rejected when the CSMS rejects the boot, and on timeout
        CommandTimeout (boot Pending or no answer) or NotConnected (no connection),
        saying what happened.
        """
        if self.online:
            return
        if self._loop_task is None or self._loop_task.done():
            raise NotConnected(f"charge point {self.config.cid} is not started; connect it first")
        waiter = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(waiter)
        try:
            await asyncio.wait_for(waiter, timeout)
        except TimeoutError:
            raise self._not_online_error(timeout) from None
        finally:
            if self._waiters is not None and waiter in self._waiters:
                self._waiters.remove(waiter)

    def _not_online_error(self, waited: float | None = None) -> Exception:
        cid = self.config.cid
        after = f" after {waited:g} s" if waited is not None else ""
        if self.connected_to_csms and self._boot_status == "Pending":
            return CommandTimeout(f"{self._retry_message or 'BootNotification Pending'}{after}")
        if self.connected_to_csms and self._boot_status == "Rejected":
            return Rejected(self._retry_message or "BootNotification Rejected")
        if self.connected_to_csms:
            return CommandTimeout(f"charge point {cid} is connected but not booted yet{after}")
        if self._last_error:
            return NotConnected(f"charge point {cid} is not connected: {self._last_error}")
        return NotConnected(f"charge point {cid} is not connected to its CSMS")

    def _resolve_waiters(self, error: Exception | None = None) -> None:
        if not self._waiters:
            return
        for waiter in self._waiters:
            if not waiter.done():
                if error is None:
                    waiter.set_result(None)
                else:
                    waiter.set_exception(error)
        self._waiters = None

    async def stop(self) -> None:
        """Disconnect and stop reconnecting. Transactions keep running; their
        messages are queued for the next :meth:`start`."""
        task, self._loop_task = self._loop_task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        self._loop = None
        if self.online or self.connected_to_csms:
            self.session_ended("stopped")
        self._resolve_waiters(NotConnected(f"charge point {self.config.cid} was disconnected"))

    async def close(self) -> None:
        """Stop everything the twin runs (for the host's shutdown and tests)."""
        await self.stop()
        for task in [self._timer_task, *(self._tasks or ())]:
            if task is not None:
                task.cancel()
        self.queue.cancel()
        pending = [t for t in [self._timer_task, *(self._tasks or ())] if t is not None]
        await asyncio.gather(*pending, return_exceptions=True)
        self._timer_task = None

    # -- called by the ConnectionLoop ------------------------------------------------

    def connection_failed(self, message: str) -> None:
        self._last_error = message
        logger.warning("%s: %s", self.config.cid, message)

    def retrying_in(self, delay: float) -> None:
        logger.info("%s: reconnecting in %.1f s (simulated)", self.config.cid, delay)

    async def run_session(self) -> None:
        """One connection: boot if needed, report statuses, then serve until closed."""
        self.connected_to_csms = True
        self._last_error = None
        self._session_end = asyncio.get_running_loop().create_future()
        self._emit_charge_point()
        if self._needs_boot:
            await self._boot()
        self.online = True
        self._heartbeat_due = self.clock.monotonic() + self.adapter.settings.heartbeat_interval
        self._reschedule()
        self._emit_charge_point()
        await self._send_status(0, self._charge_point_status(), self._cp_error(), None)
        for connector in self._connectors.values():
            connector.status = self._derive_status(connector)
            await self._send_status(
                connector.connector_id,
                connector.status,
                connector.error_code or "NoError",
                connector.fault_info,
            )
        self.queue.kick()
        # Connected means: booted and the CSMS knows every connector's status.
        self._resolve_waiters()
        await self._session_end

    async def _send_status(
        self, connector_id: int, status: str, error_code: str, info: str | None
    ) -> None:
        try:
            await self.adapter.send_status_notification(connector_id, status, error_code, info)
        except CallFailed as error:
            logger.warning("%s: StatusNotification failed: %s", self.config.cid, error)

    async def _boot(self) -> None:
        while True:
            try:
                answer = await self.adapter.send_boot_notification(self._boot_reason)
            except CallFailed as error:
                answer = BootAnswer("Pending", DEFAULT_BOOT_RETRY)
                logger.warning("%s: BootNotification failed: %s", self.config.cid, error)
            self._boot_status = answer.status
            if answer.status == "Accepted":
                self._needs_boot = False
                self._retry_message = None
                if answer.interval > 0:
                    self.adapter.heartbeat_interval_from_boot(answer.interval)
                return
            retry = answer.interval if answer.interval > 0 else DEFAULT_BOOT_RETRY
            self._retry_message = f"BootNotification {answer.status}, retrying in {retry} s"
            logger.info("%s: %s", self.config.cid, self._retry_message)
            self._emit_charge_point()
            if answer.status == "Rejected":
                self._resolve_waiters(
                    Rejected(
                        f"CSMS at {self.config.csms_url} rejected the BootNotification, "
                        f"retrying in {retry} s"
                    )
                )
            await self.clock.sleep(retry)

    def session_ended(self, reason: str) -> bool:
        """The connection is gone; True if it got as far as an accepted boot."""
        lasted = self.online
        self.online = False
        self.connected_to_csms = False
        self._heartbeat_due = None
        self.queue.cancel()
        self.queue.drop_volatile()
        for item in self.queue.durable_items():
            # A command waiting on this message returns now: it is queued, not lost.
            if item.done is not None and not item.done.done():
                item.done.set_result(None)
        if self._session_end is not None and not self._session_end.done():
            self._session_end.cancel()
        self._session_end = None
        logger.info("%s: disconnected (%s)", self.config.cid, reason)
        self._emit_charge_point()
        self._reschedule()
        return lasted

    async def trigger_boot(self) -> None:
        """TriggerMessage BootNotification: boot again on this connection."""
        answer = await self.adapter.send_boot_notification("Triggered")
        if answer.status == "Accepted" and answer.interval > 0:
            self.adapter.heartbeat_interval_from_boot(answer.interval)
            self._heartbeat_due = self.clock.monotonic() + answer.interval
            self._reschedule()

    async def send_heartbeat(self) -> None:
        await self.adapter.send_heartbeat()
        self._last_heartbeat = self.now()
        self._emit_charge_point()

    async def _periodic_heartbeat(self) -> None:
        self._heartbeating = True
        try:
            await self.send_heartbeat()
        finally:
            self._heartbeating = False

    # == commands ===================================================================

    def _get_connector(self, connector_id: int) -> ConnectorState:
        connector = self._connectors.get(connector_id)
        if connector is None:
            known = ", ".join(str(c) for c in self._connectors)
            raise UnknownTarget(
                f"charge point {self.config.cid} has no connector {connector_id} (it has {known})"
            )
        return connector

    async def plug_in(
        self, connector_id: int, vehicle: Vehicle, vehicle_ref: str, id_tag: str | None = None
    ) -> ConnectorChanged:
        """Plug a vehicle in: the connector goes Preparing.

        The connector must be Available, or Reserved for ``id_tag`` (or its parent).
        """
        return self._plug_in(connector_id, vehicle, vehicle_ref, id_tag)

    def _plug_in(
        self, connector_id: int, vehicle: Vehicle, vehicle_ref: str, id_tag: str | None
    ) -> ConnectorChanged:
        connector = self._get_connector(connector_id)
        if connector.vehicle is not None:
            raise InvalidState(
                f"connector {connector_id} already has vehicle {connector.vehicle_ref} plugged in"
            )
        status = connector.status
        if connector.error_code is not None or self._cp_fault is not None:
            raise InvalidState(f"connector {connector_id} is Faulted; clear the fault first")
        reservation = connector.reservation
        if reservation is not None and id_tag not in (
            reservation.id_tag,
            reservation.parent_id_tag,
        ):
            raise InvalidState(
                f"connector {connector_id} is reserved for id tag {reservation.id_tag} "
                f"until {reservation.expiry.isoformat()}"
            )
        if status == "Unavailable":
            raise InvalidState(f"connector {connector_id} is Unavailable")
        connector.vehicle = vehicle
        connector.vehicle_ref = vehicle_ref
        connector.finishing = False
        self._set_vehicle_status(connector, "plugged-in")
        return self._publish(connector)

    async def unplug(self, connector_id: int) -> ConnectorChanged:
        """Unplug the vehicle; a running transaction ends with EVDisconnected."""
        connector = self._get_connector(connector_id)
        if connector.vehicle is None:
            raise InvalidState(f"no vehicle is plugged in on connector {connector_id}")
        if connector.transaction is not None:
            self._end_transaction(connector, "EVDisconnected")
        return self._unplug(connector)

    def _unplug(self, connector: ConnectorState) -> ConnectorChanged:
        vehicle_ref = connector.vehicle_ref
        vehicle = connector.vehicle
        connector.vehicle = None
        connector.vehicle_ref = None
        connector.vehicle_status = None
        connector.finishing = False
        if vehicle_ref is not None and vehicle is not None:
            self.sink(
                VehicleChanged(
                    self.config.charge_point_id,
                    self.now(),
                    vehicle_ref,
                    vehicle.soc,
                    "ready-to-charge",
                )
            )
        return self._publish(connector)

    async def start_transaction(
        self,
        connector_id: int,
        id_tag: str,
        vehicle: Vehicle | None = None,
        vehicle_ref: str | None = None,
        *,
        timeout: float = 30.0,
    ) -> TransactionChanged:
        """Authorise ``id_tag`` and start a transaction; plugs ``vehicle`` in if needed.

        Returns once the CSMS has accepted the StartTransaction (or, offline with
        LocalAuthorizeOffline, once it is queued: then ``csms_transaction_id`` is
        None). Raises Rejected when the id tag is not accepted, NotConnected when
        offline without local authorisation, CommandTimeout (real seconds).
        """
        connector = self._get_connector(connector_id)
        self._check_can_start(connector, id_tag)
        plugged_here = None
        if connector.vehicle is None:
            if vehicle is None:
                raise InvalidState(
                    f"no vehicle is plugged in on connector {connector_id}; plug one in first"
                )
            self._plug_in(connector_id, vehicle, vehicle_ref or "vehicle", id_tag)
            plugged_here = vehicle
        tx = Transaction(connector, id_tag, self.now(), round(connector.register_wh))
        self._emit_transaction(tx)
        try:
            info = await self._authorize(id_tag, timeout)
            self._check_can_start(connector, id_tag, info.parent_id_tag)
            if connector.vehicle is None:
                raise InvalidState(f"the vehicle on connector {connector_id} was unplugged")
        except BaseException:
            tx.status = "Rejected"
            self._emit_transaction(tx)
            if plugged_here is not None and connector.vehicle is plugged_here:
                # The command plugged the vehicle in; a start that failed takes it out.
                self._unplug(connector)
            else:
                self._publish(connector)
            raise
        done = self._begin_transaction(connector, tx)
        if done is None:
            return self._transaction_event(tx)
        try:
            await asyncio.wait_for(asyncio.shield(done), timeout)
        except TimeoutError:
            raise CommandTimeout(
                f"CSMS did not answer StartTransaction within {timeout:g} s; the transaction "
                f"{tx.ref} runs and the message stays queued"
            ) from None
        except CallFailed as error:
            raise Rejected(f"CSMS refused StartTransaction: {error}") from None
        if tx.suspended_by_csms:
            outcome = "stopped it" if tx.ended else "the transaction is suspended"
            raise Rejected(f"CSMS did not accept id tag {id_tag} in StartTransaction; {outcome}")
        return self._transaction_event(tx)

    def _check_can_start(
        self, connector: ConnectorState, id_tag: str, parent_id_tag: str | None = None
    ) -> None:
        cid = connector.connector_id
        if connector.error_code is not None or self._cp_fault is not None:
            raise InvalidState(f"connector {cid} is Faulted; clear the fault first")
        if connector.rebooting:
            raise InvalidState(f"connector {cid} is Unavailable while its EVSE restarts")
        if self._out_of_service(connector):
            raise InvalidState(f"connector {cid} is Unavailable (set Inoperative)")
        if connector.transaction is not None:
            raise InvalidState(
                f"connector {cid} already has transaction {connector.transaction.ref} running"
            )
        reservation = connector.reservation
        if (
            reservation is not None
            and not _matches(reservation, id_tag, parent_id_tag)
            # With a parent id tag, only the authorisation answer can tell.
            and (reservation.parent_id_tag is None or parent_id_tag is not None)
        ):
            raise InvalidState(f"connector {cid} is reserved for id tag {reservation.id_tag}")

    async def _authorize(self, id_tag: str, timeout: float) -> IdTagInfo:
        settings = self.adapter.settings
        local = self.authorizer.local_answer(
            id_tag,
            self.now(),
            use_list=settings.local_auth_list_enabled,
            use_cache=settings.authorization_cache_enabled,
        )
        if self.online:
            if settings.local_pre_authorize and local is not None and local.accepted:
                return local
            try:
                info = await asyncio.wait_for(self.adapter.send_authorize(id_tag), timeout)
            except TimeoutError:
                raise CommandTimeout(
                    f"CSMS did not answer Authorize within {timeout:g} s"
                ) from None
            except CallFailed as error:
                if error.timeout:
                    raise CommandTimeout(f"CSMS did not answer Authorize: {error}") from None
                raise Rejected(f"CSMS answered Authorize with an error: {error}") from None
            except ConnectionLost:
                info = None
            if info is not None:
                if settings.authorization_cache_enabled:
                    self.authorizer.remember(id_tag, info)
                if not info.accepted:
                    raise Rejected(f"CSMS did not accept id tag {id_tag}: {info.status}")
                return info
        if settings.local_authorize_offline:
            if local is not None:
                if local.accepted:
                    return local
                raise Rejected(f"id tag {id_tag} is {local.status} (local list / cache, offline)")
            if settings.allow_offline_tx_for_unknown_id:
                return IdTagInfo("Accepted")
            raise NotConnected(
                f"charge point {self.config.cid} is offline and id tag {id_tag} is not in its "
                "local list or cache"
            )
        raise NotConnected(
            f"charge point {self.config.cid} is not connected to its CSMS"
            + (f" ({self._last_error})" if self._last_error else "")
            + "; offline authorisation is off (LocalAuthorizeOffline)"
        )

    def _begin_transaction(
        self, connector: ConnectorState, tx: Transaction
    ) -> asyncio.Future[Any] | None:
        """Start charging and queue the StartTransaction; returns its answer future
        when online (None when queued offline)."""
        self._integrate(connector)
        reservation = connector.reservation
        if reservation is not None:
            tx.reservation_id = reservation.id
            connector.reservation = None
        connector.transaction = tx
        connector.finishing = False
        tx.meter_start_wh = round(connector.register_wh)
        tx.start_time = self._at(connector.integrated_at)
        tx.status = "Started"
        if self._meter_due is None:
            self._meter_due = (
                self.clock.monotonic() + self.adapter.settings.meter_value_sample_interval
            )
            self._reschedule()
        done: asyncio.Future[Any] | None = None
        if self.online:
            done = asyncio.get_running_loop().create_future()
        self._refresh(connector)
        self.queue.put(QueuedMessage("start", tx, done=done))
        self._emit_transaction(tx)
        return done

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

    async def stop_transaction(
        self, transaction_ref: str, reason: str = "Local"
    ) -> TransactionChanged:
        """End a transaction (by the twin's ref or the CSMS's id). The
        StopTransaction is queued: delivered now when online, else after reconnecting."""
        tx = self.find_transaction(transaction_ref)
        if tx is None:
            raise UnknownTarget(f"no running transaction {transaction_ref} on {self.config.cid}")
        connector = self._connectors[tx.connector_id]
        self._end_transaction(connector, reason)
        return self._transaction_event(tx)

    def _end_transaction(
        self,
        connector: ConnectorState,
        reason: str,
        id_tag: str | None = None,
        *,
        at: datetime | None = None,
    ) -> None:
        """End the connector's transaction now, or (``at``, after a power loss) at
        that past time with the register as it is, nothing drawn since."""
        tx = connector.transaction
        assert tx is not None
        if at is None:
            self._integrate(connector)
            tx.end_time = self._at(connector.integrated_at)
            tx.end_sample = self._sample(connector, "Transaction.End")
        else:
            tx.end_time = at
            tx.end_sample = replace(
                self._sample(connector, "Transaction.End"), at=at, power_w=0.0, current_a=0.0
            )
        tx.meter_stop_wh = round(connector.register_wh)
        tx.stop_reason = reason
        tx.stop_id_tag = id_tag
        tx.status = "Ended"
        connector.transaction = None
        connector.finishing = connector.vehicle is not None
        self.profiles.clear_transaction_profiles(connector.connector_id)
        self.queue.put(QueuedMessage("stop", tx))
        if connector.scheduled_operative is not None:
            connector.operative = connector.scheduled_operative
            connector.scheduled_operative = None
        if self._cp_scheduled_operative is not None and not self._any_transaction():
            self._cp_operative = self._cp_scheduled_operative
            self._cp_scheduled_operative = None
            for other in self._connectors.values():
                if other is not connector:
                    self._publish(other)
        if not self._any_transaction():
            self._meter_due = None
        self._refresh(connector)
        self._emit_transaction(tx)

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

    # == saved state: failover and restart ===========================================

    def save_state(self) -> dict[str, Any]:
        """Everything needed to resume this twin elsewhere, as plain JSON data.

        ``json.dumps`` takes it as it is (datetimes are ISO 8601 strings). The
        energy registers are integrated to now first. It holds the charge point
        (boot status, heartbeat interval, operative / fault), every connector (flags,
        reservation, register, the plugged vehicle's whole model), the transactions
        that run or whose messages are not delivered yet (with what the OCPP version
        adds, e.g. 2.0.1 seqNo), the durable part of the outbound queue in order,
        the charging profiles and the local authorisation list and cache. The
        configuration is included for reference; a restore takes it from
        ``config.ocpp_configuration`` (ConfigurationChanged events keep that).
        """
        self._integrate_all()
        adapter = self.adapter
        transactions: dict[str, Transaction] = {}
        for connector in self._connectors.values():
            if connector.transaction is not None:
                transactions[connector.transaction.ref] = connector.transaction
        queue = []
        for item in self.queue.durable_items():
            tx = item.transaction
            if tx is None:
                continue
            transactions.setdefault(tx.ref, tx)
            queue.append(
                {
                    "kind": item.kind,
                    "transaction_ref": tx.ref,
                    "sample": sample_to_state(item.sample) if item.sample is not None else None,
                    "attempts": item.attempts,
                }
            )
        saved_transactions = []
        for tx in transactions.values():
            data = tx.save_state()
            data["adapter"] = adapter.transaction_state(tx)
            saved_transactions.append(data)
        return {
            "version": STATE_VERSION,
            "charge_point_id": self.config.charge_point_id,
            "protocol": self.config.protocol,
            "saved_at": time_to_state(self.now()),
            "boot": {
                "status": self._boot_status,
                "reason": self._boot_reason,
                "needs_boot": self._needs_boot,
                "heartbeat_interval": adapter.settings.heartbeat_interval,
                "last_heartbeat": time_to_state(self._last_heartbeat),
            },
            "charge_point": {
                "operative": self._cp_operative,
                "scheduled_operative": self._cp_scheduled_operative,
                "fault": self._cp_fault,
            },
            "connectors": [self._connector_state(c) for c in self._connectors.values()],
            "transactions": saved_transactions,
            "queue": queue,
            "profiles": self.profiles.save_state(),
            "authorization": self.authorizer.save_state(),
            "adapter": adapter.save_state(),
            "configuration": adapter.configuration_values(),
        }

    @staticmethod
    def _connector_state(connector: ConnectorState) -> dict[str, Any]:
        reservation = connector.reservation
        vehicle = connector.vehicle
        tx = connector.transaction
        return {
            "connector_id": connector.connector_id,
            "evse_id": connector.evse_id,
            "status": connector.status,
            "operative": connector.operative,
            "scheduled_operative": connector.scheduled_operative,
            "error_code": connector.error_code,
            "fault_info": connector.fault_info,
            "finishing": connector.finishing,
            "register_wh": connector.register_wh,
            "reservation": None
            if reservation is None
            else {
                "reservation_id": reservation.id,
                "id_tag": reservation.id_tag,
                "parent_id_tag": reservation.parent_id_tag,
                "expiry": time_to_state(reservation.expiry),
            },
            "vehicle": vehicle_to_state(vehicle) if vehicle is not None else None,
            "vehicle_ref": connector.vehicle_ref,
            "vehicle_status": connector.vehicle_status,
            "transaction_ref": tx.ref if tx is not None else None,
        }

    def restore_state(self, state: dict[str, Any], *, resume: bool, last_alive: datetime) -> None:
        """Take back what :meth:`save_state` returned, on a fresh twin before :meth:`start`.

        ``resume=True`` (back within the resume window, or taken over by another
        worker): everything carries on. On connecting, no BootNotification if the
        saved boot was Accepted (a reconnect, not a reboot); StatusNotifications for
        connector 0 (1.6) and every connector; then every transaction message not
        acknowledged, in order (at least once). Running transactions go on with the
        same transaction ref and CSMS id, 2.0.1 seqNo carries on, the registers from
        their saved values: no energy is counted for the time the twin was down
        (integration restarts now), and meter sampling restarts one interval from now.

        ``resume=False`` (down too long: a power loss). The twin boots
        (BootNotification, reason PowerUp) and every running transaction ends as
        of ``last_alive``, with the saved register and reason PowerLoss (1.6
        StopTransaction reason PowerLoss; 2.0.1 TransactionEvent Ended with
        triggerReason AbnormalCondition, 2.0.1 having no PowerLoss trigger, and
        stoppedReason PowerLoss), queued behind what of it was still undelivered.
        The vehicle stays plugged in, so the connector shows what a real charger
        shows once a session has ended with the cable still in: Finishing (1.6),
        which 2.0.1 reports as Occupied, until the vehicle is unplugged.
        Availability, reservations, charging profiles (but TxProfiles, which end
        with their transaction), faults and the local list survive, as in a
        charger's non-volatile memory.

        Either way the restored state is reported as events (ConnectorChanged,
        TransactionChanged, VehicleChanged, ChargePointChanged). Raises
        :class:`~worker.twin.state.StateError` for a state of another version or
        charge point, or once the twin was started.
        """
        if state.get("version") != STATE_VERSION:
            raise StateError(f"cannot restore state version {state.get('version')!r}")
        if state.get("charge_point_id") != self.config.charge_point_id:
            raise StateError(
                f"state of charge point {state.get('charge_point_id')!r} given to "
                f"{self.config.charge_point_id!r}"
            )
        if self._loop_task is not None:
            raise StateError(f"charge point {self.config.cid} is started; restore before start")
        adapter = self.adapter
        self.authorizer.restore_state(state["authorization"])
        self.profiles.restore_state(state["profiles"])
        adapter.restore_state(state.get("adapter") or {})
        charge_point = state["charge_point"]
        self._cp_operative = charge_point["operative"]
        self._cp_scheduled_operative = charge_point["scheduled_operative"]
        self._cp_fault = charge_point["fault"]
        boot = state["boot"]
        interval = boot["heartbeat_interval"]
        if interval and interval != adapter.settings.heartbeat_interval:
            adapter.heartbeat_interval_from_boot(interval)
        self._last_heartbeat = time_from_state(boot["last_heartbeat"])

        transactions: dict[str, Transaction] = {}
        for data in state["transactions"]:
            tx = Transaction.from_state(data)
            transactions[tx.ref] = tx
            if data.get("adapter"):
                adapter.restore_transaction_state(tx, data["adapter"])
        now = self.clock.monotonic()
        for data in state["connectors"]:
            connector = self._connectors.get(data["connector_id"])
            if connector is None:
                logger.warning(
                    "%s: saved connector %s no longer exists", self.config.cid, data["connector_id"]
                )
                continue
            self._restore_connector(connector, data, transactions, now)
        for data in state["queue"]:
            tx = transactions.get(data["transaction_ref"])
            if tx is None:
                continue
            sample = data["sample"]
            self.queue.put(
                QueuedMessage(
                    data["kind"],
                    tx,
                    sample=sample_from_state(sample) if sample is not None else None,
                    attempts=data["attempts"],
                    persisted=True,
                )
            )

        ended_now: set[str] = set()
        if resume:
            self._boot_status = boot["status"]
            self._boot_reason = boot["reason"]
            self._needs_boot = boot["needs_boot"] or self._boot_status != "Accepted"
        else:
            self._boot_status = None
            self._boot_reason = "PowerUp"
            self._needs_boot = True
            for connector in self._connectors.values():
                tx = connector.transaction
                if tx is not None:
                    ended_now.add(tx.ref)
                    self._end_transaction(connector, "PowerLoss", at=last_alive)
        if self._any_transaction():
            self._meter_due = now + adapter.settings.meter_value_sample_interval
        for connector in self._connectors.values():
            connector.vehicle_status = None  # so that the restored status is reported
            self._refresh(connector)
            if connector.vehicle is not None and connector.transaction is None:
                self._set_vehicle_status(
                    connector, "full" if connector.vehicle.is_full else "plugged-in"
                )
        for tx in transactions.values():
            if tx.ref not in ended_now:
                self._emit_transaction(tx)
        self._emit_charge_point()

    @staticmethod
    def _restore_connector(
        connector: ConnectorState,
        data: dict[str, Any],
        transactions: dict[str, Transaction],
        now: float,
    ) -> None:
        connector.operative = data["operative"]
        connector.scheduled_operative = data["scheduled_operative"]
        connector.error_code = data["error_code"]
        connector.fault_info = data["fault_info"]
        connector.finishing = data["finishing"]
        connector.register_wh = data["register_wh"]
        connector.integrated_at = now
        reservation = data["reservation"]
        if reservation is not None:
            expiry = time_from_state(reservation["expiry"])
            assert expiry is not None
            connector.reservation = Reservation(
                reservation["reservation_id"],
                reservation["id_tag"],
                reservation["parent_id_tag"],
                expiry,
            )
        vehicle = data["vehicle"]
        connector.vehicle = vehicle_from_state(vehicle) if vehicle is not None else None
        connector.vehicle_ref = data["vehicle_ref"]
        ref = data["transaction_ref"]
        connector.transaction = transactions.get(ref) if ref is not None else None

    # == CSMS-initiated operations (called by the adapter) ==========================

    def handle_remote_start(
        self, id_tag: str, connector_id: int | None, profile: ChargingProfile | None
    ) -> bool:
        """Decide on a RemoteStartTransaction; if accepted, start after the answer.

        A vehicle must be plugged in on the connector (a twin cannot plug one in by
        itself): without ``connector_id`` the first connector with a vehicle and no
        transaction is used; with none the answer is Rejected.
        """
        if connector_id is not None:
            connector = self._connectors.get(connector_id)
            candidates = [connector] if connector is not None else []
        else:
            candidates = list(self._connectors.values())
        chosen = None
        for connector in candidates:
            if connector.vehicle is None:
                continue
            try:
                self._check_can_start(connector, id_tag)
            except InvalidState:
                continue
            chosen = connector
            break
        if chosen is None:
            return False
        if profile is not None and profile.purpose != "TxProfile":
            return False
        self.adapter.after_answer(lambda: self.spawn(self._remote_start(chosen, id_tag, profile)))
        return True

    async def _remote_start(
        self, connector: ConnectorState, id_tag: str, profile: ChargingProfile | None
    ) -> None:
        tx = Transaction(connector, id_tag, self.now(), round(connector.register_wh))
        self._emit_transaction(tx)
        try:
            if self.adapter.settings.authorize_remote_tx_requests:
                info = await self._authorize(id_tag, self.response_timeout)
            else:
                info = IdTagInfo("Accepted")
            self._check_can_start(connector, id_tag, info.parent_id_tag)
            if connector.vehicle is None:
                raise InvalidState("vehicle unplugged")
        except (Rejected, NotConnected, CommandTimeout, InvalidState) as error:
            logger.info(
                "%s: remote start of %s not carried out: %s", self.config.cid, id_tag, error
            )
            tx.status = "Rejected"
            self._emit_transaction(tx)
            return
        if profile is not None:
            self._integrate_all()
            self.profiles.install(connector.connector_id, profile, installed_at=self.now())
        self._begin_transaction(connector, tx)

    def handle_remote_stop(self, csms_transaction_id: str) -> bool:
        tx = self.find_transaction(csms_transaction_id)
        if tx is None or tx.csms_transaction_id != csms_transaction_id:
            return False
        connector = self._connectors[tx.connector_id]

        def stop() -> None:
            if connector.transaction is tx:
                self._end_transaction(connector, "Remote")

        self.adapter.after_answer(stop)
        return True

    def handle_reserve(
        self,
        connector_id: int,
        expiry: datetime,
        id_tag: str,
        parent_id_tag: str | None,
        reservation_id: int,
    ) -> ReserveStatus:
        connector = self._connectors.get(connector_id)
        if connector is None:
            return "Rejected"
        if connector.error_code is not None or self._cp_fault is not None:
            return "Faulted"
        if self._out_of_service(connector):
            return "Unavailable"
        existing = connector.reservation
        if connector.transaction is not None or connector.vehicle is not None:
            return "Occupied"
        if existing is not None and existing.id != reservation_id:
            return "Occupied"
        for other in self._connectors.values():
            if (
                other is not connector
                and other.reservation
                and other.reservation.id == reservation_id
            ):
                other.reservation = None
                self._publish(other)
        connector.reservation = Reservation(reservation_id, id_tag, parent_id_tag, expiry)
        self._publish(connector)
        self._reschedule()
        return "Accepted"

    def handle_cancel_reservation(self, reservation_id: int) -> bool:
        for connector in self._connectors.values():
            if connector.reservation is not None and connector.reservation.id == reservation_id:
                connector.reservation = None
                self._publish(connector)
                self._reschedule()
                return True
        return False

    def handle_unlock(
        self, connector_id: int
    ) -> Literal["Unlocked", "UnlockFailed", "NotSupported"]:
        """Unlock: a running transaction ends with UnlockCommand; the vehicle stays
        plugged in (the driver takes the cable) until unplugged."""
        connector = self._connectors.get(connector_id)
        if connector is None:
            return "NotSupported"
        if connector.transaction is not None:
            self._end_transaction(connector, "UnlockCommand")
        return "Unlocked"

    def handle_change_availability(self, connector_id: int, operative: bool) -> AvailabilityAnswer:
        if connector_id == 0:
            if self._any_transaction() and not operative:
                self._cp_scheduled_operative = operative
                return "Scheduled"
            self._cp_operative = operative
            self._cp_scheduled_operative = None
            self._send_cp_status(None)
            for connector in self._connectors.values():
                self._refresh(connector)
            return "Accepted"
        connector = self._connectors.get(connector_id)
        if connector is None:
            return "Rejected"
        if connector.transaction is not None and not operative:
            connector.scheduled_operative = operative
            return "Scheduled"
        connector.operative = operative
        connector.scheduled_operative = None
        self._refresh(connector)
        return "Accepted"

    def handle_reset(self, hard: bool) -> None:
        """Accept a reset: transactions end, then the twin reconnects and boots."""
        self.adapter.after_answer(lambda: self.spawn(self._reset(hard)))

    async def _reset(self, hard: bool) -> None:
        reason = "HardReset" if hard else "SoftReset"
        for connector in self._connectors.values():
            if connector.transaction is not None:
                self._end_transaction(connector, reason)
        await self.queue.wait_empty(RESET_FLUSH_TIMEOUT)
        self._boot_reason = "RemoteReset"
        self._needs_boot = True
        self._boot_status = None
        if self._loop is not None:
            self._loop.reconnect_now = True
        if self._session_end is not None and not self._session_end.done():
            self._session_end.set_result(None)

    def reset_evse(self, evse_id: int, reason: str) -> None:
        """Restart one EVSE (an OCPP 2.0.1 Reset with an evseId): its transactions end
        with ``reason``, its connectors are Unavailable for ``EVSE_RESTART_SECONDS``
        (simulated), then come back; the rest of the charge point carries on."""
        connectors = [c for c in self._connectors.values() if c.evse_id == evse_id]
        for connector in connectors:
            if connector.transaction is not None:
                self._end_transaction(connector, reason)
            connector.rebooting = True
            self._refresh(connector)
        self.spawn(self._end_evse_restart(connectors))

    async def _end_evse_restart(self, connectors: list[ConnectorState]) -> None:
        await self.clock.sleep(EVSE_RESTART_SECONDS)
        for connector in connectors:
            connector.rebooting = False
            self._refresh(connector)

    def handle_set_charging_profile(self, connector_id: int, profile: ChargingProfile) -> bool:
        """Install a profile; the power drawn follows at once. False = Rejected."""
        if connector_id != 0 and connector_id not in self._connectors:
            return False
        if self.profiles.rejection_reason(connector_id, profile):
            return False
        if profile.purpose == "TxProfile":
            tx = self._connectors[connector_id].transaction
            if tx is None:
                return False
            if (
                profile.transaction_id is not None
                and profile.transaction_id != tx.csms_transaction_id
            ):
                return False
        self._integrate_all()
        self.profiles.install(connector_id, profile, installed_at=self.now())
        self._refresh_all()
        return True

    def handle_clear_charging_profile(
        self,
        profile_id: int | None,
        connector_id: int | None,
        purpose: str | None,
        stack_level: int | None,
    ) -> bool:
        self._integrate_all()
        removed = self.profiles.clear(
            profile_id=profile_id,
            connector_id=connector_id,
            purpose=purpose,
            stack_level=stack_level,
        )
        self._refresh_all()
        return removed > 0

    def handle_composite_schedule(
        self, connector_id: int, duration: int, unit: Literal["A", "W"] | None
    ) -> CompositeSchedule | None:
        if connector_id != 0 and connector_id not in self._connectors:
            return None
        connector = self._connectors.get(connector_id)
        tx = connector.transaction if connector else None
        current_type: CurrentType = connector.current_type if connector else "AC"
        voltage, phases, max_kw = self._electrics(current_type)
        return self.profiles.composite_schedule(
            connector_id,
            self.now(),
            duration,
            unit=unit,
            transaction_id=tx.csms_transaction_id if tx else None,
            transaction_start=tx.start_time if tx else None,
            voltage=voltage,
            phases=phases,
            current_type=current_type,
            connector_max_kw=max_kw,
        )

    def current_sample(self, connector: ConnectorState, context: str) -> MeterSample:
        """Integrate and sample one connector now (for meter values and triggers)."""
        self._integrate(connector)
        self._refresh(connector)
        return self._sample(connector, context)

    def status_of(self, connector_id: int) -> tuple[str, str, str | None]:
        """(status, error code, info) for a StatusNotification; 0 = charge point."""
        if connector_id == 0:
            return self._charge_point_status(), self._cp_error(), None
        connector = self._connectors[connector_id]
        return connector.status, connector.error_code or "NoError", connector.fault_info

    # == delivery callbacks ==========================================================

    def _delivered(self, item: QueuedMessage, result: Any) -> None:
        tx = item.transaction
        if item.kind != "start" or tx is None:
            return
        csms_id, info = result
        tx.csms_transaction_id = csms_id
        if self.adapter.settings.authorization_cache_enabled:
            self.authorizer.remember(tx.id_tag, info)
        connector = self._connectors[tx.connector_id]
        if info.accepted:
            self._emit_transaction(tx)
            self._publish(connector)
            return
        logger.info("%s: CSMS answered StartTransaction with %s", self.config.cid, info.status)
        if tx.ended:
            return
        self._integrate(connector)
        tx.suspended_by_csms = True
        if self.adapter.settings.stop_transaction_on_invalid_id:
            self._end_transaction(connector, "DeAuthorized")
        else:
            self._refresh(connector)

    # == metering and the timer ======================================================

    def _electrics(self, current_type: CurrentType) -> tuple[float, int, float]:
        """(voltage, phases, maximum kW) for connectors of this current type."""
        config = self.config
        if current_type == "DC":
            return config.voltage_dc, 1, config.maximum_dc_power
        return config.voltage_ac, config.phases_ac, config.maximum_ac_power

    def _at(self, monotonic: float) -> datetime:
        """The clock time of a monotonic reading, so that a sample's timestamp and
        the energy integrated up to it are the same instant."""
        return self._epoch + timedelta(seconds=monotonic)

    def _integrate(self, connector: ConnectorState) -> None:
        """Add the energy drawn since the last step.

        Without charging profiles the limit is the one computed at the last step.
        With profiles, the step is cut where the composite schedule changes, so a
        schedule period that begins between two samples counts from its start.
        """
        now = self.clock.monotonic()
        start = connector.integrated_at
        elapsed = now - start
        connector.integrated_at = now
        tx = connector.transaction
        vehicle = connector.vehicle
        if tx is None or vehicle is None or elapsed <= 0:
            return
        if connector.error_code is not None or self._cp_fault is not None or tx.suspended_by_csms:
            return
        current_type = connector.current_type
        if len(self.profiles):
            kwh = 0.0
            for seconds, limit_kw in self._limit_pieces(connector, tx, start, elapsed):
                kwh += vehicle.charge(seconds, limit_kw, current_type)
        elif connector.limit_kw > 0:
            kwh = vehicle.charge(elapsed, connector.limit_kw, current_type)
        else:
            return
        connector.register_wh += kwh * 1000.0
        tx.energy_wh += kwh * 1000.0

    def _limit_pieces(
        self, connector: ConnectorState, tx: Transaction, start: float, elapsed: float
    ) -> list[tuple[float, float]]:
        """(seconds, kW) pieces of the limit from ``start`` for ``elapsed`` seconds."""
        current_type = connector.current_type
        voltage, phases, max_kw = self._electrics(current_type)
        periods = self.profiles.composite_schedule(
            connector.connector_id,
            self._at(start),
            math.ceil(elapsed),
            unit="W",
            transaction_id=tx.csms_transaction_id,
            transaction_start=tx.start_time,
            voltage=voltage,
            phases=phases,
            current_type=current_type,
            connector_max_kw=max_kw,
        ).periods
        if not periods:
            return [(elapsed, connector.limit_kw)]
        pieces = []
        for index, period in enumerate(periods):
            begin = min(float(period.start_period), elapsed)
            end = elapsed
            if index + 1 < len(periods):
                end = min(float(periods[index + 1].start_period), elapsed)
            if end > begin:
                pieces.append((end - begin, period.limit / 1000.0))
        return pieces

    def _integrate_all(self) -> None:
        for connector in self._connectors.values():
            self._integrate(connector)

    def _refresh(self, connector: ConnectorState) -> None:
        """Recompute the limit, power and status after a change, and publish."""
        tx = connector.transaction
        vehicle = connector.vehicle
        if tx is None or vehicle is None:
            connector.limit_kw = connector.power_kw = connector.current_a = 0.0
            connector.limit_due = None
            self._publish(connector)
            return
        current_type = connector.current_type
        voltage, phases, max_kw = self._electrics(current_type)
        due = self._next_limit_change(connector, tx) if len(self.profiles) else None
        if due != connector.limit_due:
            connector.limit_due = due
            self._reschedule()
        limit = max_kw
        smart = self.profiles.limit_kw(
            connector.connector_id,
            self.now(),
            transaction_id=tx.csms_transaction_id,
            transaction_start=tx.start_time,
            voltage=voltage,
            phases=phases,
            current_type=current_type,
        )
        if smart is not None:
            limit = min(limit, smart)
        if connector.error_code is not None or self._cp_fault is not None or tx.suspended_by_csms:
            limit = 0.0
        connector.limit_kw = max(limit, 0.0)
        wanted = vehicle.max_power_kw(current_type)
        power = min(connector.limit_kw, wanted)
        connector.power_kw = power
        if power <= 0:
            connector.current_a = 0.0
        elif current_type == "DC":
            connector.current_a = power * 1000.0 / voltage
        else:
            connector.current_a = power * 1000.0 / (voltage * phases)
        if connector.limit_kw <= 0:
            tx.status = "SuspendedEVSE"
        elif wanted <= 0:
            tx.status = "SuspendedEV"
        else:
            tx.status = "Charging"
        self._set_vehicle_status(
            connector, "full" if vehicle.is_full else "charging" if power > 0 else "plugged-in"
        )
        self._publish(connector)

    def _next_limit_change(self, connector: ConnectorState, tx: Transaction) -> float | None:
        """When (monotonic) the composite schedule next changes within the hour."""
        current_type = connector.current_type
        voltage, phases, max_kw = self._electrics(current_type)
        now = self.clock.monotonic()
        periods = self.profiles.composite_schedule(
            connector.connector_id,
            self._at(now),
            LIMIT_HORIZON,
            unit="W",
            transaction_id=tx.csms_transaction_id,
            transaction_start=tx.start_time,
            voltage=voltage,
            phases=phases,
            current_type=current_type,
            connector_max_kw=max_kw,
        ).periods
        for period in periods[1:]:
            if period.start_period > 0:
                return now + period.start_period
        return None

    def _refresh_all(self) -> None:
        for connector in self._connectors.values():
            self._refresh(connector)

    def _sample(self, connector: ConnectorState, context: str) -> MeterSample:
        current_type = connector.current_type
        voltage, phases, _ = self._electrics(current_type)
        vehicle = connector.vehicle
        return MeterSample(
            at=self._at(connector.integrated_at),
            connector_id=connector.connector_id,
            energy_wh=connector.register_wh,
            power_w=connector.power_kw * 1000.0,
            current_a=connector.current_a,
            voltage_v=voltage,
            soc=vehicle.soc if vehicle is not None else None,
            phases=phases if current_type == "AC" else 1,
            context=context,
        )

    def _meter(self) -> None:
        """A sample interval is due: integrate, sample, queue MeterValues."""
        for connector in self._connectors.values():
            tx = connector.transaction
            if tx is None:
                continue
            self._integrate(connector)
            self._refresh(connector)
            sample = self._sample(connector, "Sample.Periodic")
            self.queue.put(QueuedMessage("meter", tx, sample=sample))
            self.sink(
                MeterSampled(
                    self.config.charge_point_id,
                    sample.at,
                    connector.evse_id,
                    connector.connector_id,
                    tx.ref,
                    sample.energy_wh,
                    sample.power_w,
                    sample.current_a,
                    sample.voltage_v,
                    sample.soc,
                )
            )
            self._emit_transaction(tx)

    def _reschedule(self) -> None:
        """Re-plan the timer after something changed what is due next."""
        if asyncio.current_task() is self._timer_task and self._timer_task is not None:
            return
        if self._timer_task is not None:
            self._timer_task.cancel()
            self._timer_task = None
        if self._next_due() is not None:
            self._timer_task = asyncio.ensure_future(self._timer())

    def _next_due(self) -> float | None:
        dues = []
        if (
            self.online
            and self._heartbeat_due is not None
            and self.adapter.settings.heartbeat_interval > 0
        ):
            dues.append(self._heartbeat_due)
        if self._meter_due is not None and self.adapter.settings.meter_value_sample_interval > 0:
            dues.append(self._meter_due)
        expiry = self._next_expiry()
        if expiry is not None:
            dues.append(expiry)
        for connector in self._connectors.values():
            if connector.limit_due is not None:
                dues.append(connector.limit_due)
        return min(dues) if dues else None

    def _next_expiry(self) -> float | None:
        soonest: datetime | None = None
        for connector in self._connectors.values():
            reservation = connector.reservation
            if reservation is not None and (soonest is None or reservation.expiry < soonest):
                soonest = reservation.expiry
        if soonest is None:
            return None
        return self.clock.monotonic() + (soonest - self.now()).total_seconds()

    async def _timer(self) -> None:
        clock = self.clock
        while True:
            due = self._next_due()
            if due is None:
                self._timer_task = None
                return
            delay = due - clock.monotonic()
            if delay > 0:
                await clock.sleep(delay)
            now = clock.monotonic()
            settings = self.adapter.settings
            if self.online and self._heartbeat_due is not None and self._heartbeat_due <= now:
                interval = settings.heartbeat_interval
                self._heartbeat_due = _next_after(self._heartbeat_due, interval, now)
                if not self._heartbeating:  # a CSMS that answers slowly gets no pile-up
                    self.spawn(self._periodic_heartbeat())
            if self._meter_due is not None and self._meter_due <= now:
                interval = settings.meter_value_sample_interval
                self._meter_due = _next_after(self._meter_due, interval, now)
                self._meter()
            for connector in self._connectors.values():
                if connector.limit_due is not None and connector.limit_due <= now:
                    self._integrate(connector)
                    self._refresh(connector)
            wall = self.now()
            for connector in self._connectors.values():
                reservation = connector.reservation
                if reservation is not None and reservation.expiry <= wall:
                    logger.info("%s: reservation %d expired", self.config.cid, reservation.id)
                    connector.reservation = None
                    self._publish(connector)

    # == status and events ===========================================================

    def _any_transaction(self) -> bool:
        return any(c.transaction is not None for c in self._connectors.values())

    def _derive_status(self, connector: ConnectorState) -> str:
        if connector.error_code is not None or self._cp_fault is not None:
            return "Faulted"
        tx = connector.transaction
        if tx is not None:
            if tx.status in ("SuspendedEV", "SuspendedEVSE"):
                return tx.status
            return "Charging"
        if self._out_of_service(connector):
            return "Unavailable"
        if connector.finishing:
            return "Finishing"
        if connector.vehicle is not None:
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
                self.queue.put(
                    QueuedMessage(
                        "status",
                        connector_id=connector.connector_id,
                        status=status,
                        error_code=connector.error_code or "NoError",
                        info=connector.fault_info,
                    )
                )
        event = self._connector_event(connector)
        self.sink(event)
        self.mark_changed()
        return event

    def _connector_event(self, connector: ConnectorState) -> ConnectorChanged:
        tx = connector.transaction
        voltage = self._electrics(connector.current_type)[0]
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
        self.mark_changed()

    def _set_vehicle_status(self, connector: ConnectorState, status: str) -> None:
        vehicle = connector.vehicle
        if vehicle is None or connector.vehicle_ref is None:
            return
        if status != connector.vehicle_status or status == "charging":
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


def _matches(reservation: Reservation, id_tag: str, parent_id_tag: str | None) -> bool:
    if id_tag == reservation.id_tag:
        return True
    return reservation.parent_id_tag is not None and parent_id_tag == reservation.parent_id_tag


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
    return Ocpp201Adapter(twin)
