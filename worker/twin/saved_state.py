"""Saving a twin's state and restoring it elsewhere: failover and restart.

:class:`SavedStateMixin` gives :class:`~worker.twin.charge_point.ChargePointTwin` its
``save_state`` / ``restore_state``; :mod:`worker.twin.state` holds the format's
value converters and the host's hooks.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from worker.twin.model import ConnectorState, QueuedMessage, Reservation, Transaction
from worker.twin.pending_start import PendingStart
from worker.twin.state import (
    STATE_VERSION,
    StateError,
    sample_from_state,
    sample_to_state,
    time_from_state,
    time_to_state,
    vehicle_from_state,
    vehicle_to_state,
)

logger = logging.getLogger(__name__)


class SavedStateMixin:
    """``save_state`` / ``restore_state`` of :class:`~worker.twin.charge_point.ChargePointTwin`."""

    __slots__ = ()

    # == saved state: failover and restart ===========================================

    def save_state(self) -> dict[str, Any]:
        """Everything needed to resume this twin elsewhere, as plain JSON data.

        ``json.dumps`` takes it as it is (datetimes are ISO 8601 strings). The
        energy registers are integrated to now first. It holds the charge point
        (boot status, heartbeat interval, operative / fault), every connector (flags,
        reservation, register, the plugged vehicle's whole model), the transactions
        that run or whose messages are not delivered yet (with what the OCPP version
        adds, e.g. 2.0.1 seqNo), the durable part of the outbound queue in order,
        the charging profiles, the local authorisation list and cache, the certificate
        store (private keys included) and the security events not yet sent. The
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
            "final": self._frozen,
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
            "certificates": self.certificates.save_state(),
            "security_events": self.security_events.save_state(),
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
            "export_wh": connector.export_wh,
            "reservation": None
            if reservation is None
            else {
                "reservation_id": reservation.id,
                "id_tag": reservation.id_tag,
                "parent_id_tag": reservation.parent_id_tag,
                "expiry": time_to_state(reservation.expiry),
            },
            "pending_start": connector.pending_start.save_state()
            if connector.pending_start is not None
            else None,
            "vehicle": vehicle_to_state(vehicle) if vehicle is not None else None,
            "vehicle_ref": connector.vehicle_ref,
            "vehicle_status": connector.vehicle_status,
            "plug_wait_since": time_to_state(connector.plug_wait_since),
            "plug_timed_out": connector.plug_timed_out,
            "transaction_ref": tx.ref if tx is not None else None,
        }

    def restore_state(
        self,
        state: dict[str, Any],
        *,
        resume: bool,
        last_alive: datetime,
        sent_until: datetime | None = None,
    ) -> None:
        """Take back what :meth:`save_state` returned, on a fresh twin before :meth:`start`.

        ``resume=True`` (back within the resume window, or taken over by another
        worker): everything carries on. On connecting, no BootNotification if the
        saved boot was Accepted (a reconnect, not a reboot); StatusNotifications for
        connector 0 (1.6) and every connector; then every transaction message not
        acknowledged, in order (at least once). Running transactions go on with the
        same transaction ref and CSMS id, 2.0.1 seqNo carries on, and meter sampling
        restarts one interval from now. The registers carry on from their saved
        values; no energy is counted for the time the twin was down, but a state that
        is not ``final`` (saved by a host that stopped cleanly, after its last sample)
        may be older than the last meter value the twin sent (a twin's progress is
        saved only every so often, and 1.6 meter values go out unsaved): the energy
        up to ``sent_until`` (the last moment the twin may have sent anything, its
        host's last sign of life plus its lease) is counted at the saved power, so
        that the register the CSMS sees never goes back.

        ``resume=False`` (down too long: a power loss). The twin boots
        (BootNotification, reason PowerUp) and every running transaction ends as
        of ``last_alive``, with the register as above and reason PowerLoss (1.6
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
        # Whatever the OCPP version now: a charger's certificates are not the protocol's.
        self.certificates.restore_state(state.get("certificates") or {})
        self.security_events.restore_state(state.get("security_events") or [])
        # What the OCPP version adds only means something to the same version.
        same_protocol = state.get("protocol") == self.config.protocol
        if not same_protocol:
            logger.warning(
                "%s: state saved under %s, now %s: restoring without its %s details",
                self.config.cid,
                state.get("protocol"),
                self.config.protocol,
                state.get("protocol"),
            )
        if same_protocol:
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
            if same_protocol and data.get("adapter"):
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
        if sent_until is not None and not state.get("final", False):
            unsaved = self._unsaved_seconds(state, sent_until)
            self._count_unsaved_energy(unsaved, now)
            if same_protocol:
                for tx in transactions.values():
                    if tx.end_time is None:
                        adapter.skip_unsaved_numbers(tx, unsaved)
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
                    # Never before it began (a host's last sign of life may be older).
                    at = max(_aware(last_alive), tx.start_time)
                    self._end_transaction(connector, "PowerLoss", at=at)
        if self._any_transaction():
            self._meter_due = now + self.sample_interval()
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

    def _unsaved_seconds(self, state: dict[str, Any], sent_until: datetime) -> float:
        """How long the twin may have gone on after the state was saved: to ``sent_until``."""
        saved_at = time_from_state(state.get("saved_at"))
        if saved_at is None:
            return 0.0
        return max(0.0, (min(sent_until, self.now()) - saved_at).total_seconds())

    def _count_unsaved_energy(self, gap: float, now: float) -> None:
        """Count the energy of the ``gap`` seconds after the state's save at the saved power."""
        if gap <= 0:
            return
        for connector in self._connectors.values():
            if connector.transaction is None or connector.vehicle is None:
                continue
            self._refresh(connector)  # the limit as saved
            connector.integrated_at = now - gap
            self._integrate(connector)

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
        connector.export_wh = data.get("export_wh", 0.0)
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
        pending = data.get("pending_start")
        if pending is not None and pending.get("authorized"):
            # One whose Authorize was still out is lost with that answer.
            connector.pending_start = PendingStart.from_state(pending)
        vehicle = data["vehicle"]
        connector.vehicle = vehicle_from_state(vehicle) if vehicle is not None else None
        connector.vehicle_ref = data["vehicle_ref"]
        if connector.vehicle is not None:
            connector.plug_wait_since = time_from_state(data.get("plug_wait_since"))
            connector.plug_timed_out = bool(data.get("plug_timed_out"))
        ref = data["transaction_ref"]
        connector.transaction = transactions.get(ref) if ref is not None else None


def _aware(when: datetime) -> datetime:
    """A naive datetime is taken as UTC, as the twin's clocks give UTC."""
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)
