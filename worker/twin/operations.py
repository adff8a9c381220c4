"""What the CSMS asks of the charge point: remote start/stop, reservations, unlock,
availability, reset, charging profiles, and what TriggerMessage reads.

:class:`OperationsMixin` is the part of :class:`~worker.twin.charge_point.ChargePointTwin`
behind :class:`~worker.twin.protocol.Twin`'s ``handle_*`` methods: each decides at once
and acts after the answer is on the wire.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Literal

from worker.twin.config import CurrentType
from worker.twin.errors import (
    CommandTimeout,
    InvalidRequest,
    InvalidState,
    NotConnected,
    Rejected,
)
from worker.twin.firmware import FIRMWARE_FAILURES, FirmwareAdapterMixin
from worker.twin.model import ConnectorState, Reservation, Transaction
from worker.twin.smart_charging import ChargingProfile, CompositeSchedule
from worker.twin.values import IdTagInfo, MeterSample

logger = logging.getLogger(__name__)

#: Simulated seconds an EVSE is Unavailable while it restarts (2.0.1 Reset of one EVSE).
EVSE_RESTART_SECONDS = 10
#: Real seconds a reset waits for the StopTransactions to go out before rebooting.
RESET_FLUSH_TIMEOUT = 5.0

ReserveStatus = Literal["Accepted", "Faulted", "Occupied", "Rejected", "Unavailable"]
AvailabilityAnswer = Literal["Accepted", "Rejected", "Scheduled"]


class OperationsMixin:
    """CSMS-initiated operations of :class:`~worker.twin.charge_point.ChargePointTwin`."""

    __slots__ = ()

    # == CSMS-initiated operations (called by the adapter) ==========================

    def handle_remote_start(
        self, id_tag: str, connector_id: int | None, profile: ChargingProfile | None
    ) -> bool:
        """Decide on a RemoteStartTransaction; if accepted, start after the answer.

        Without ``connector_id`` the first connector with a vehicle and no transaction
        is used. A connector without a vehicle (the one asked for, or else the first
        free one) is taken while the connection timeout is above 0: it waits that long
        for a vehicle (see :mod:`worker.twin.pending_start`). Else the answer is
        Rejected.
        """
        if connector_id is not None:
            connector = self._connectors.get(connector_id)
            candidates = [connector] if connector is not None else []
        else:
            candidates = list(self._connectors.values())
        if profile is not None and profile.purpose != "TxProfile":
            return False
        chosen = self._free_connector([c for c in candidates if c.vehicle is not None], id_tag)
        if chosen is not None:
            self.adapter.after_answer(
                lambda: self.spawn(self._remote_start(chosen, id_tag, profile))
            )
            return True
        if not self._can_await_vehicle():
            return False
        waiting = self._free_connector([c for c in candidates if c.vehicle is None], id_tag)
        if waiting is None:
            return False
        self.adapter.after_answer(lambda: self._await_vehicle(waiting, id_tag, profile))
        return True

    def _free_connector(
        self, candidates: list[ConnectorState], id_tag: str
    ) -> ConnectorState | None:
        for connector in candidates:
            try:
                self._check_can_start(connector, id_tag)
            except InvalidState:
                continue
            return connector
        return None

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
        if (
            connector.transaction is not None
            or connector.vehicle is not None
            or connector.pending_start is not None
        ):
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

    def set_firmware_failure(self, failure: str) -> str:
        """Make the next firmware updates fail at ``failure`` (download, signature,
        install) or succeed (none); see :class:`~worker.twin.firmware.FirmwareSimulator`."""
        if failure not in FIRMWARE_FAILURES:
            raise InvalidRequest(
                f"firmware failure must be one of {', '.join(FIRMWARE_FAILURES)}, not {failure!r}"
            )
        adapter = self.adapter
        assert isinstance(adapter, FirmwareAdapterMixin)
        adapter.firmware().failure = failure  # type: ignore[assignment]
        self.mark_changed()
        return failure

    def handle_reset(self, hard: bool) -> None:
        """Accept a reset: transactions end, then the twin reconnects and boots."""
        self.adapter.after_answer(lambda: self.spawn(self._reset(hard)))

    async def _reset(self, hard: bool) -> None:
        await self.reboot("HardReset" if hard else "SoftReset", "RemoteReset")

    async def end_transactions(self, reason: str) -> None:
        """End every running transaction with ``reason`` and give their messages
        (a while) to reach the CSMS."""
        for connector in self._connectors.values():
            if connector.transaction is not None:
                self._end_transaction(connector, reason)
            if connector.pending_start is not None:  # a reboot forgets an incipient one
                self._cancel_pending_start(connector)
        await self.queue.wait_empty(RESET_FLUSH_TIMEOUT)

    def booted(self) -> bool:
        """Online with the boot accepted since the last reboot."""
        return self.online and not self._needs_boot

    async def reboot(self, stop_reason: str, boot_reason: str) -> None:
        """Reboot as a charger does: transactions end with ``stop_reason``, then the
        twin reconnects and boots with ``boot_reason`` (a 2.0.1 BootReasonEnumType
        word); returns once the reboot has begun (:meth:`booted` is False until the
        CSMS accepts the new boot)."""
        await self.end_transactions(stop_reason)
        self._boot_reason = boot_reason
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
            if connector.pending_start is not None:
                self._cancel_pending_start(connector)
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
