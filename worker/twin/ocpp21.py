"""The OCPP 2.1 adapter: the 2.0.1 adapter with the 2.1 messages, schemas and subprotocol.

OCPP 2.1 keeps every 2.0.1 message the twin sends and answers, adding optional fields,
so :class:`Ocpp21Adapter` is :class:`~worker.twin.ocpp201.Ocpp201Adapter` validating
against the 2.1 JSON schemas (``ocpp/v21/schemas``, both the CALLs the twin sends and
the CSMS's CALLs and answers) and offering the ``ocpp2.1`` subprotocol. What 2.1 adds
for the twin:

* bidirectional power transfer (V2X): charging schedule periods with an
  ``operationMode``, ``setpoint`` and ``dischargeLimit`` (see
  :mod:`worker.twin.smart_charging`, :mod:`worker.twin.metering`); a discharging
  vehicle's energy goes to the Energy.Active.Export.Register, which meter values
  carry next to the import register (:meth:`Ocpp21Adapter.readings`);
* NotifyEVChargingNeeds once a transaction has started (the EV is connected and
  authorised), with the vehicle's needs (:mod:`worker.twin.charging_needs`). It is
  not queued: a session that starts offline does not send it later.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any, ClassVar

from ocpp.exceptions import NotImplementedError as OcppNotImplemented
from ocpp.exceptions import NotSupportedError, OCPPError
from ocpp.v21.enums import Action

from worker.twin.charging_needs import charging_needs
from worker.twin.ocpp201 import Ocpp201Adapter
from worker.twin.protocol import CallFailed, ConnectionLost, IdTagInfo, InvalidOutgoingCall
from worker.twin.smart_charging import format_time
from worker.twin.values import MeterSample

logger = logging.getLogger(__name__)

_KNOWN_ACTIONS = frozenset(action.value for action in Action)
_IMPORT = "Energy.Active.Import.Register"
_EXPORT = "Energy.Active.Export.Register"


class Ocpp21Adapter(Ocpp201Adapter):
    """OCPP 2.1 for one twin."""

    subprotocol: ClassVar[str] = "ocpp2.1"
    _ocpp_version: ClassVar[str] = "2.1"

    async def send_start_transaction(self, transaction: Any) -> tuple[str, IdTagInfo]:
        """TransactionEvent Started, then (the EV is connected and authorised) what the
        vehicle needs, in NotifyEVChargingNeeds."""
        answer = await super().send_start_transaction(transaction)
        if answer[1].accepted:
            self.twin.spawn(self._notify_charging_needs(transaction.connector_id))
        return answer

    async def _notify_charging_needs(self, connector_id: int) -> None:
        twin = self.twin
        connector = twin.connector(connector_id)
        vehicle = connector.vehicle if connector is not None else None
        if vehicle is None:
            return
        config = twin.config
        dc = connector.current_type == "DC"
        needs = charging_needs(
            vehicle,
            connector.current_type,
            config.voltage_dc if dc else config.voltage_ac,
            1 if dc else config.phases_ac,
        )
        payload = {
            "evseId": connector.evse_id,
            "chargingNeeds": needs,
            "timestamp": format_time(twin.now()),
        }
        try:
            result = await self._call("NotifyEVChargingNeeds", payload)
        except (CallFailed, ConnectionLost, InvalidOutgoingCall) as error:
            logger.info("%s: NotifyEVChargingNeeds not delivered: %s", self.id, error)
            return
        logger.debug("%s: NotifyEVChargingNeeds answered %s", self.id, result.get("status"))

    def readings(
        self, sample: MeterSample, measurands: Iterable[str]
    ) -> list[tuple[str, float, int]]:
        """As 2.0.1, and the export register next to the import register whenever the
        connector can give energy back (a bidirectional vehicle) or has given some, so
        that a CSMS steering V2X sees it without configuring it. Power.Active.Import
        and Current.Import are negative while the vehicle discharges, as setpoints are."""
        wanted = list(measurands)
        if sample.export_wh is not None and _IMPORT in wanted and _EXPORT not in wanted:
            wanted.insert(wanted.index(_IMPORT) + 1, _EXPORT)
        return super().readings(sample, wanted)

    def unhandled_action(self, action: str) -> OCPPError:
        """NotSupported for an action 2.1 knows, NotImplemented for one it does not."""
        if action in _KNOWN_ACTIONS:
            cause = f"{action} is not supported by this charging station"
            return NotSupportedError(details={"cause": cause})
        return OcppNotImplemented(details={"cause": f"{action} is not an OCPP action"})


__all__ = ["Ocpp21Adapter"]
