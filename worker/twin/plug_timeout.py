"""A vehicle plugged in without authorisation: the connection timeout of plug-in first.

A vehicle plugged in with no transaction and no remote start waiting for it puts the
connector in Preparing (2.0.1: Occupied) until an id tag is presented (the public
API's start), a remote start comes (1.6 RemoteStartTransaction, 2.0.1
RequestStartTransaction), or the connection timeout (1.6 ``ConnectionTimeOut``,
2.0.1 ``TxCtrlr.EVConnectionTimeOut``) runs out, counted in simulated seconds from
the plug-in (the beginning of Preparing). The value in force counts, so a change
applies at once to a wait under way; 0 means no timeout. An authorisation under
way when the time runs out does not stop the wait; a transaction that begins does.

When it runs out:

* 1.6 (§9.1 ConnectionTimeOut: "the incipient Transaction is automatically canceled
  ... The Charge Point SHALL go back to the original state, probably: 'Available'"):
  the connector goes back to Available (or Reserved, if it is), the vehicle staying
  plugged in. A later start on it still works: authorised, the connector is
  Preparing again, then StartTransaction and Charging.
* 2.0.1 and 2.1: the twin's TxStartPoint is PowerPathClosed, so no transaction
  exists before authorisation and nothing is sent: the incipient session is
  forgotten, the connector stays Occupied (the cable is in), and a later
  authorisation starts a transaction as usual. (With TxStartPoint EVConnected a
  charging station would end the transaction with triggerReason EVConnectTimeout
  and stoppedReason Timeout; the twin does not support that start point.)

:class:`PlugTimeoutMixin` is that part of
:class:`~worker.twin.charge_point.ChargePointTwin`; the wait is saved with its
connector (``plug_wait_since``, ``plug_timed_out``).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from worker.twin.model import ConnectorState

logger = logging.getLogger(__name__)


class PlugTimeoutMixin:
    """Vehicles plugged in and waiting for an authorisation, of
    :class:`~worker.twin.charge_point.ChargePointTwin` (the wait lives on its
    connectors)."""

    __slots__ = ()

    def _begin_plug_wait(self, connector: ConnectorState) -> None:
        """The vehicle is in and nothing authorises a start yet: the wait begins now."""
        if (
            connector.vehicle is None
            or connector.transaction is not None
            or connector.pending_start is not None
            or connector.finishing
            or connector.plug_timed_out
        ):
            return
        connector.plug_wait_since = self.now()
        self.mark_changed()
        self._reschedule()

    def _end_plug_wait(self, connector: ConnectorState) -> None:
        """A transaction begins on the connector: the wait is over. A 1.6 connector
        that went back to Available is Preparing again (before its StartTransaction)."""
        if connector.plug_wait_since is None and not connector.plug_timed_out:
            return
        connector.plug_wait_since = None
        if connector.plug_timed_out:
            connector.plug_timed_out = False
            self._publish(connector)
        self.mark_changed()

    @staticmethod
    def _clear_plug_wait(connector: ConnectorState) -> None:
        """The vehicle left: nothing waits any more (the caller publishes)."""
        connector.plug_wait_since = None
        connector.plug_timed_out = False

    def _plug_deadline(self, connector: ConnectorState) -> datetime | None:
        """When the wait runs out, by the connection timeout in force now (None: it
        does not, the timeout being 0)."""
        since = connector.plug_wait_since
        timeout = self.adapter.settings.connection_timeout
        if since is None or timeout <= 0:
            return None
        return since + timedelta(seconds=timeout)

    def _next_plug_deadline(self) -> datetime | None:
        deadlines = [
            deadline
            for connector in self._connectors.values()
            if (deadline := self._plug_deadline(connector)) is not None
        ]
        return min(deadlines) if deadlines else None

    def _expire_plug_waits(self, wall: datetime) -> None:
        for connector in self._connectors.values():
            deadline = self._plug_deadline(connector)
            if deadline is None or deadline > wall:
                continue
            logger.info(
                "%s: no authorisation for the vehicle on connector %d within the connection "
                "timeout: the incipient session is cancelled",
                self.config.cid,
                connector.connector_id,
            )
            connector.plug_wait_since = None
            # 1.6 goes back to Available; a 2.0.1 connector with its cable in stays Occupied.
            connector.plug_timed_out = self.config.protocol == "ocpp1.6"
            self._publish(connector)
            self.mark_changed()
