"""Security events a twin reports to its CSMS (SecurityEventNotification).

The events a simulated charger can honestly produce, in neutral (2.0.1) words; the
1.6 adapter spells three of them its way (:data:`OCPP16_NAMES`):

* ``ResetOrReboot``: the boot after a Reset.
* ``FailedToAuthenticateAtCsms``: the CSMS refused the basic-auth credentials (HTTP 401).
* ``InvalidCsmsCertificate``: the CSMS's TLS certificate did not verify.
* ``InvalidChargingStationCertificate``: a CertificateSigned the twin rejected.
* ``ReconfigurationOfSecurityParameters``: the charge point's certificate was replaced,
  or a CSMS root certificate installed or deleted.

All of them are critical in the specifications' sense, so they are kept while the twin
is offline (in the saved state, at most :attr:`SecurityEvents.MAX_PENDING`, the oldest
dropped first; a repeat of the last waiting event is not kept twice) and sent after the
next boot, in order, each once.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

from worker.twin.state import time_from_state, time_to_state
from worker.twin.values import CallFailed, ConnectionLost

if TYPE_CHECKING:
    from worker.twin.protocol import Twin

logger = logging.getLogger(__name__)

#: Neutral (2.0.1) event names → the 1.6 Security Whitepaper's.
OCPP16_NAMES = {
    "FailedToAuthenticateAtCsms": "FailedToAuthenticateAtCentralSystem",
    "InvalidCsmsCertificate": "InvalidCentralSystemCertificate",
    "InvalidChargingStationCertificate": "InvalidChargePointCertificate",
}


class SecurityEvents:
    """The security events of one twin that the CSMS has not acknowledged yet."""

    MAX_PENDING = 50

    __slots__ = ("_pending", "_sending", "twin")

    def __init__(self, twin: Twin) -> None:
        self.twin = twin
        self._pending: list[tuple[str, datetime, str | None]] = []
        self._sending = False

    def __len__(self) -> int:
        return len(self._pending)

    def record(self, kind: str, tech_info: str | None = None) -> None:
        """An event happened now: send it (at once when online, else after the next boot)."""
        if self._pending and self._pending[-1][0] == kind and not self.twin.online:
            return
        self._pending.append((kind, self.twin.now(), tech_info[:255] if tech_info else None))
        del self._pending[: -self.MAX_PENDING]
        logger.info("%s: security event %s", self.twin.config.cid, kind)
        self.twin.mark_changed()
        self.kick()

    def kick(self) -> None:
        """Send what waits, if online and not sending already."""
        if self._pending and self.twin.online and not self._sending:
            self._sending = True
            self.twin.spawn(self._send_all())

    async def _send_all(self) -> None:
        twin = self.twin
        try:
            while self._pending and twin.online:
                kind, at, tech_info = self._pending[0]
                try:
                    await twin.adapter.send_security_event(kind, at, tech_info)  # type: ignore[attr-defined]
                except ConnectionLost:
                    return
                except CallFailed as error:
                    logger.warning(
                        "%s: SecurityEventNotification failed: %s", twin.config.cid, error
                    )
                self._pending.pop(0)
                twin.mark_changed()
        finally:
            self._sending = False

    def save_state(self) -> list[dict[str, Any]]:
        return [
            {"type": kind, "at": time_to_state(at), "tech_info": info}
            for kind, at, info in self._pending
        ]

    def restore_state(self, data: list[dict[str, Any]]) -> None:
        self._pending = []
        for item in data:
            at = time_from_state(item.get("at"))
            if at is not None:
                self._pending.append((item["type"], at, item.get("tech_info")))
