"""A start that waits for the cable: the incipient transaction of ConnectionTimeOut.

A remote start (1.6 RemoteStartTransaction, 2.0.1 RequestStartTransaction) for a
connector with no vehicle plugged in is accepted when the connection timeout (1.6
``ConnectionTimeOut``, 2.0.1 ``TxCtrlr.EVConnectionTimeOut``) is above 0: the
connector goes Preparing (1.6; 2.0.1 shows no status for it, the connector staying
Available until the cable is in), the id tag is authorised as for any remote start,
and the driver has that many simulated seconds from the beginning of Preparing to
plug a vehicle in. Plugged in in time, the transaction starts as if the vehicle had
been there (the 2.0.1 TransactionEvent Started carries the remoteStartId). Not in
time, the incipient transaction is cancelled and the connector goes back to
Available (OCPP 1.6 §9.1 ConnectionTimeOut). The twin's 2.0.1 TxStartPoint is
PowerPathClosed, so no transaction exists before the cable is in and a timeout
sends no TransactionEvent.

A vehicle plugged in without any authorisation has a timeout of its own, counted from
the plug-in (:mod:`worker.twin.plug_timeout`).

:class:`PendingStartMixin` is the part of :class:`~worker.twin.charge_point.ChargePointTwin`
that runs it; the pending start itself is saved with its connector.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from worker.twin.errors import CommandTimeout, InvalidState, NotConnected, Rejected
from worker.twin.model import ConnectorState, Transaction
from worker.twin.smart_charging import ChargingProfile
from worker.twin.state import time_from_state, time_to_state

logger = logging.getLogger(__name__)


class PendingStart:
    """An accepted remote start waiting for the vehicle ``since`` (clock time: the
    beginning of Preparing). ``authorized``: its id tag was accepted (or needed no
    Authorize)."""

    __slots__ = ("authorized", "id_tag", "profile", "since")

    def __init__(
        self,
        id_tag: str,
        since: datetime,
        profile: ChargingProfile | None,
        authorized: bool = False,
    ) -> None:
        self.id_tag = id_tag
        self.since = since
        self.profile = profile
        self.authorized = authorized

    def save_state(self) -> dict[str, Any]:
        return {
            "id_tag": self.id_tag,
            "since": time_to_state(self.since),
            "profile": self.profile.to_ocpp201() if self.profile is not None else None,
            "authorized": self.authorized,
        }

    @classmethod
    def from_state(cls, data: dict[str, Any]) -> PendingStart:
        since = time_from_state(data["since"])
        assert since is not None
        profile = data.get("profile")
        return cls(
            data["id_tag"],
            since,
            ChargingProfile.from_ocpp201(profile) if profile is not None else None,
            bool(data.get("authorized")),
        )


class PendingStartMixin:
    """Remote starts waiting for the cable, of
    :class:`~worker.twin.charge_point.ChargePointTwin` (its state lives in the twin's
    slots and on its connectors)."""

    __slots__ = ()

    def _can_await_vehicle(self) -> bool:
        return self.adapter.settings.connection_timeout > 0

    def _await_vehicle(
        self, connector: ConnectorState, id_tag: str, profile: ChargingProfile | None
    ) -> None:
        """After the remote start's answer: Preparing, then authorise and wait."""
        pending = PendingStart(id_tag, self.now(), profile)
        connector.pending_start = pending
        self._publish(connector)
        self._reschedule()
        self.spawn(self._authorize_pending(connector, pending))

    async def _authorize_pending(self, connector: ConnectorState, pending: PendingStart) -> None:
        if self.adapter.settings.authorize_remote_tx_requests:
            try:
                await self._authorize(pending.id_tag, self.response_timeout)
            except (Rejected, NotConnected, CommandTimeout) as error:
                logger.info(
                    "%s: remote start of %s not carried out: %s",
                    self.config.cid,
                    pending.id_tag,
                    error,
                )
                if connector.pending_start is pending:
                    self._cancel_pending_start(connector)
                return
        if connector.pending_start is not pending:
            return  # timed out (or cancelled) while the CSMS answered
        pending.authorized = True
        self.mark_changed()
        self._start_pending(connector)

    def _start_pending(self, connector: ConnectorState) -> None:
        """The vehicle is in (or the authorisation is through): start if both are."""
        pending = connector.pending_start
        if pending is None or not pending.authorized or connector.vehicle is None:
            return
        connector.pending_start = None
        try:
            self._check_can_start(connector, pending.id_tag)
        except InvalidState as error:
            logger.info(
                "%s: remote start of %s dropped: %s", self.config.cid, pending.id_tag, error
            )
            self._publish(connector)
            self._reschedule()
            return
        tx = Transaction(connector, pending.id_tag, self.now(), round(connector.register_wh))
        if pending.profile is not None:
            self._integrate_all()
            self.profiles.install(connector.connector_id, pending.profile, installed_at=self.now())
        self._begin_transaction(connector, tx)
        self._reschedule()

    def _cancel_pending_start(self, connector: ConnectorState) -> None:
        pending = connector.pending_start
        connector.pending_start = None
        if pending is not None:
            self.adapter.start_abandoned(pending.id_tag)
        self._publish(connector)
        self._begin_plug_wait(connector)  # a vehicle already in now waits for an id tag
        self._reschedule()

    def _pending_deadline(self, pending: PendingStart) -> datetime:
        """The connection timeout in force now counts (a change applies at once)."""
        return pending.since + timedelta(seconds=self.adapter.settings.connection_timeout)

    def _next_pending_deadline(self) -> datetime | None:
        deadlines = [
            self._pending_deadline(c.pending_start)
            for c in self._connectors.values()
            if c.pending_start
        ]
        return min(deadlines) if deadlines else None

    def _expire_pending_starts(self, wall: datetime) -> None:
        for connector in self._connectors.values():
            pending = connector.pending_start
            if pending is not None and self._pending_deadline(pending) <= wall:
                logger.info(
                    "%s: no vehicle plugged in on connector %d within the connection "
                    "timeout: remote start of %s cancelled",
                    self.config.cid,
                    connector.connector_id,
                    pending.id_tag,
                )
                self._cancel_pending_start(connector)
