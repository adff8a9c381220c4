"""Reporting connector statuses to the CSMS, and OCPP 1.6 MinimumStatusDuration.

A connector's status is derived from its state (``_derive_status``); a new status is
queued as a StatusNotification in the one outbound queue, in order with the
transaction messages. With ``MinimumStatusDuration`` above 0 (1.6 §9.1.21: "the
minimum duration that a Charge Point or Connector status is stable before a
StatusNotification.req PDU is sent") a new status is reported only once it has held
that many simulated seconds: a status that gives way sooner (a Preparing of a few
seconds before Charging, say) is never reported, and a status that comes back to the
one last reported before the duration is over sends nothing. A change of the key
applies at once, to the statuses held back as well.

Not debounced: the statuses sent on every (re)connection, which tell the CSMS what
each connector is now, and connector 0 (the charge point as a whole: faults and
availability, rare and wanted at once).

:class:`StatusReportMixin` is that part of
:class:`~worker.twin.charge_point.ChargePointTwin`; nothing of it is saved (a
restored twin reports every status on connecting).
"""

from __future__ import annotations

from worker.twin.model import ConnectorState, QueuedMessage


class StatusReportMixin:
    """Connector StatusNotifications of :class:`~worker.twin.charge_point.ChargePointTwin`."""

    __slots__ = ()

    def _status_changed(self, connector: ConnectorState) -> None:
        """The connector's status changed (and the twin is online): report it now, or
        once it has lasted MinimumStatusDuration."""
        if self.adapter.settings.minimum_status_duration <= 0:
            connector.status_since = None
            self._queue_status(connector)
            return
        connector.status_since = self.clock.monotonic()
        self._reschedule()

    def _queue_status(self, connector: ConnectorState) -> None:
        connector.reported_status = connector.status
        self.queue.put(
            QueuedMessage(
                "status",
                connector_id=connector.connector_id,
                status=connector.status,
                error_code=connector.error_code or "NoError",
                info=connector.fault_info,
            )
        )

    def _next_status_due(self) -> float | None:
        since = [c.status_since for c in self._connectors.values() if c.status_since is not None]
        if not since:
            return None
        return min(since) + max(self.adapter.settings.minimum_status_duration, 0)

    def _report_lasting_statuses(self, now: float) -> None:
        """The timer: statuses that have held MinimumStatusDuration go out, unless they
        are what the CSMS was last told."""
        duration = max(self.adapter.settings.minimum_status_duration, 0)
        for connector in self._connectors.values():
            since = connector.status_since
            if since is None or since + duration > now:
                continue
            connector.status_since = None
            if self.online and connector.status != connector.reported_status:
                self._queue_status(connector)
