"""A scripted OCPP 2.1 CSMS for twin tests.

The 2.0.1 one (:mod:`tests.twin.scripted_csms201`) with an ``ocpp.v21.ChargePoint`` per
connection, subprotocol ``ocpp2.1``: every CALL the twin sends is checked against the
OCPP 2.1 JSON schema; one that does not validate is recorded with ``valid=False``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from ocpp.v21 import ChargePoint

from tests.twin.scripted_csms import CsmsSide, EventLog
from tests.twin.scripted_csms201 import ScriptedCsms201, make_config
from worker.twin.charge_point import ChargePointTwin
from worker.twin.clock import Clock, SystemClock


class _CsmsSide21(CsmsSide, ChargePoint):
    """The CSMS end of one 2.1 connection."""


class ScriptedCsms21(ScriptedCsms201):
    """The 2.0.1 scripted CSMS's answers (all valid in 2.1), plus NotifyEVChargingNeeds."""

    subprotocol: ClassVar[str] = "ocpp2.1"
    side: ClassVar[type[Any]] = _CsmsSide21

    def version_scripts(self) -> dict[str, Any]:
        return {**super().version_scripts(), "NotifyEVChargingNeeds": {"status": "Accepted"}}


async def booted_twin21(
    csms: ScriptedCsms21,
    events: EventLog,
    *,
    clock: Clock | None = None,
    speed: float = 600,
    **config: Any,
) -> ChargePointTwin:
    """A 2.1 twin connected to ``csms`` whose boot was accepted."""
    twin = ChargePointTwin(
        make_config(csms.url, protocol="ocpp2.1", **config),
        clock or SystemClock(speed=speed),
        events,
    )
    await twin.start()
    await twin.connected(timeout=5)
    return twin


__all__ = ["ScriptedCsms21", "booted_twin21"]
