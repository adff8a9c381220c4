"""A scripted OCPP 2.0.1 CSMS for twin tests.

The 1.6 one (:mod:`tests.twin.scripted_csms`) with another version: its server,
waiting, scripting and raw-frame helpers, with an ``ocpp.v201.ChargePoint`` per
connection on the CSMS side, subprotocol ``ocpp2.0.1`` and 2.0.1 default answers.
Every CALL the twin sends is checked against the OCPP 2.0.1 JSON schema; one that
does not validate is recorded with ``valid=False``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from ocpp.v201 import ChargePoint

from tests.twin.scripted_csms import (
    NO_ANSWER,
    CsmsSide,
    EventLog,
    Script,
    ScriptedCsms,
    eventually,
    make_vehicle,
    now_iso,
)
from worker.twin.charge_point import ChargePointTwin
from worker.twin.clock import Clock, SystemClock
from worker.twin.config import ChargePointConfig, ConnectorConfig, EvseConfig

__all__ = [
    "NO_ANSWER",
    "EventLog",
    "ScriptedCsms201",
    "booted_twin",
    "eventually",
    "make_config",
    "make_vehicle",
    "now_iso",
    "sampled",
]


class _CsmsSide201(CsmsSide, ChargePoint):
    """The CSMS end of one 2.0.1 connection."""


class ScriptedCsms201(ScriptedCsms):
    """Accepts boots, authorises every idToken except ``rejected_id_tags`` and
    answers everything else with the smallest valid payload."""

    subprotocol: ClassVar[str] = "ocpp2.0.1"
    side: ClassVar[type[Any]] = _CsmsSide201

    def version_scripts(self) -> dict[str, Script]:
        return {
            "Authorize": lambda p: {
                "idTokenInfo": {"status": self._tag_status(p["idToken"]["idToken"])}
            },
            "TransactionEvent": lambda p: (
                {"idTokenInfo": {"status": self._tag_status(p["idToken"]["idToken"])}}
                if "idToken" in p
                else {}
            ),
        }

    def transaction_events(self, transaction_id: str | None = None) -> list[dict[str, Any]]:
        """TransactionEvent payloads, of one transaction when given."""
        return [
            r.payload
            for r in self.of("TransactionEvent")
            if transaction_id is None
            or r.payload["transactionInfo"]["transactionId"] == transaction_id
        ]


# -- builders --------------------------------------------------------------------------


def make_config(
    url: str,
    *,
    cid: str = "CS1",
    connector_types: tuple[str, ...] = ("cType2",),
    connectors_per_evse: int = 1,
    **overrides: Any,
) -> ChargePointConfig:
    """A 2.0.1 charging station with one EVSE per entry of ``connector_types``."""
    evses = []
    number = 1
    for evse_id, connector_type in enumerate(connector_types, start=1):
        connectors = []
        for n in range(1, connectors_per_evse + 1):
            connectors.append(ConnectorConfig(number, n, connector_type))
            number += 1
        evses.append(EvseConfig(evse_id, tuple(connectors)))
    return ChargePointConfig(
        charge_point_id=f"id-{cid}",
        cid=cid,
        csms_url=url,
        evses=tuple(evses),
        **{"protocol": "ocpp2.0.1", **overrides},
    )


async def booted_twin(
    csms: ScriptedCsms201,
    events: EventLog,
    *,
    clock: Clock | None = None,
    speed: float = 600,
    **config: Any,
) -> ChargePointTwin:
    """A 2.0.1 twin connected to ``csms`` whose boot was accepted."""
    twin = ChargePointTwin(
        make_config(csms.url, **config), clock or SystemClock(speed=speed), events
    )
    await twin.start()
    await twin.connected(timeout=5)
    return twin


def sampled(payload: dict[str, Any], index: int = 0) -> dict[str, float]:
    """Measurand → value of one MeterValue of a TransactionEvent or MeterValues payload."""
    values = payload["meterValue"][index]["sampledValue"]
    return {v.get("measurand", "Energy.Active.Import.Register"): v["value"] for v in values}
