"""Vehicles and transactions: plug in, authorise, start, stop, and the CSMS's answer.

:class:`TransactionsMixin` is the part of
:class:`~worker.twin.charge_point.ChargePointTwin` that runs charging sessions.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from datetime import datetime
from typing import Any

from worker.twin.errors import CommandTimeout, InvalidState, NotConnected, Rejected, UnknownTarget
from worker.twin.events import ConnectorChanged, TransactionChanged, VehicleChanged
from worker.twin.model import ConnectorState, QueuedMessage, Reservation, Transaction
from worker.twin.values import CallFailed, ConnectionLost, IdTagInfo
from worker.twin.vehicle import Vehicle

logger = logging.getLogger(__name__)


class TransactionsMixin:
    """Sessions of :class:`~worker.twin.charge_point.ChargePointTwin` (its state lives in
    the twin's slots)."""

    __slots__ = ()

    async def plug_in(
        self, connector_id: int, vehicle: Vehicle, vehicle_ref: str, id_tag: str | None = None
    ) -> ConnectorChanged:
        """Plug a vehicle in: the connector goes Preparing.

        The connector must be Available, or Reserved for ``id_tag`` (or its parent).
        """
        return self._plug_in(connector_id, vehicle, vehicle_ref, id_tag)

    def _plug_in(
        self,
        connector_id: int,
        vehicle: Vehicle,
        vehicle_ref: str,
        id_tag: str | None,
        *,
        authorizing: bool = False,
    ) -> ConnectorChanged:
        """``authorizing``: an id tag comes with the vehicle (a start), so it does not
        wait for one under the connection timeout (see plug_timeout.py)."""
        connector = self._get_connector(connector_id)
        if connector.vehicle is not None:
            raise InvalidState(
                f"connector {connector_id} already has vehicle {connector.vehicle_ref} plugged in"
            )
        status = connector.status
        if connector.error_code is not None or self._cp_fault is not None:
            raise InvalidState(f"connector {connector_id} is Faulted; clear the fault first")
        reservation = connector.reservation
        if connector.pending_start is not None:
            id_tag = connector.pending_start.id_tag
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
        pending = connector.pending_start
        connector.vehicle = vehicle
        connector.vehicle_ref = vehicle_ref
        connector.finishing = False
        self._set_vehicle_status(connector, "plugged-in")
        if connector.transaction is not None:
            # Back into a transaction that outlived the unplug: charging resumes.
            self._integrate(connector)
            self._refresh(connector)
            self._emit_transaction(connector.transaction)
            return self._connector_event(connector)
        event = self._publish(connector)
        if pending is not None:
            self._start_pending(connector)  # the remote start waited for this vehicle
        if not authorizing:
            self._begin_plug_wait(connector)  # unless a transaction or remote start has it
        return event

    async def unplug(self, connector_id: int) -> ConnectorChanged:
        """Unplug the vehicle. A running transaction ends with EVDisconnected, unless the
        configuration keeps it (1.6 StopTransactionOnEVSideDisconnect false; 2.0.1
        StopTxOnEVSideDisconnect false and EVConnected not a TxStopPoint): then it goes
        on, drawing nothing (SuspendedEV), until stopped or the vehicle is back."""
        connector = self._get_connector(connector_id)
        if connector.vehicle is None:
            raise InvalidState(f"no vehicle is plugged in on connector {connector_id}")
        if connector.transaction is not None:
            self._integrate(connector)
            if not self.adapter.keeps_transaction_when_unplugged():
                self._end_transaction(connector, "EVDisconnected")
        return self._unplug(connector)

    async def end_sessions(self, reason: str = "Other", timeout: float = 10.0) -> bool:
        """Before the charge point is removed: end every running transaction (``reason``)
        and unplug every vehicle, then wait up to ``timeout`` real seconds until the CSMS
        has the stop messages. Answers whether it has them (False when offline: they
        were queued for a reconnect that will not come)."""
        for connector in self._connectors.values():
            if connector.transaction is not None:
                self._end_transaction(connector, reason)
            if connector.vehicle is not None:
                self._unplug(connector)
        if not self.online:
            return not self.queue.durable_items()
        return await self.queue.wait_empty(timeout)

    def _unplug(self, connector: ConnectorState) -> ConnectorChanged:
        vehicle_ref = connector.vehicle_ref
        vehicle = connector.vehicle
        connector.vehicle = None
        connector.vehicle_ref = None
        connector.vehicle_status = None
        connector.finishing = False
        self._clear_plug_wait(connector)
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
        if connector.transaction is not None:
            self._refresh(connector)
            self._emit_transaction(connector.transaction)
            return self._connector_event(connector)
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
            self._plug_in(connector_id, vehicle, vehicle_ref or "vehicle", id_tag, authorizing=True)
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
        if tx.invalid_id:
            raise Rejected(
                f"CSMS did not accept id tag {id_tag} in StartTransaction; the transaction "
                "charges on up to MaxEnergyOnInvalidId"
            )
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
        if connector.pending_start is not None:
            raise InvalidState(
                f"connector {cid} waits for a vehicle for the remote start of id tag "
                f"{connector.pending_start.id_tag}; plug one in"
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
        self._end_plug_wait(connector)
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
            self._meter_due = self.clock.monotonic() + self.sample_interval()
            self._reschedule()
        done: asyncio.Future[Any] | None = None
        if self.online:
            done = asyncio.get_running_loop().create_future()
        # Queued first: the connector stays Preparing until the CSMS has answered it.
        self.queue.put(QueuedMessage("start", tx, done=done))
        self._refresh(connector)
        self._emit_transaction(tx)
        return done

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

    # == delivery callbacks ==========================================================

    def _delivered(self, item: QueuedMessage, result: Any) -> None:
        tx = item.transaction
        if item.kind != "start" or tx is None:
            return
        if result is None:  # given up unanswered: the session runs on without the CSMS
            connector = self._connectors[tx.connector_id]
            if connector.transaction is tx:
                self._publish(connector)
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
        cap = self.adapter.settings.max_energy_on_invalid_id
        if cap > tx.energy_wh:
            tx.invalid_id = True
            self._refresh(connector)
            self._emit_transaction(tx)
            return
        tx.suspended_by_csms = True
        if self.adapter.settings.stop_transaction_on_invalid_id:
            self._end_transaction(connector, "DeAuthorized")
        else:
            self._refresh(connector)


def _matches(reservation: Reservation, id_tag: str, parent_id_tag: str | None) -> bool:
    if id_tag == reservation.id_tag:
        return True
    return reservation.parent_id_tag is not None and parent_id_tag == reservation.parent_id_tag
