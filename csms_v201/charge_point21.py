"""The OCPP 2.1 side of a charging station connection: the 2.0.1 handlers on the 2.1 schemas.

Every message a 2.0.1 station sends exists in 2.1 with optional additions, and every
answer the 2.0.1 handlers give is valid 2.1, so the session class differs only in the
version it validates with (and the `ocpp.v21` library class it is built on).
NotifyEVChargingNeeds (sent by a 2.1 station when a vehicle tells its needs) is answered
Accepted and kept under the charge point's `notifications`.
"""

from typing import ClassVar

from ocpp.v21 import ChargePoint as OcppChargePoint21

from csms_v201.charge_point import CSMS_INITIATED_ACTIONS, ChargePoint201

CSMS_INITIATED_ACTIONS_21 = CSMS_INITIATED_ACTIONS | frozenset(
    {
        "AFRRSignal",
        "AdjustPeriodicEventStream",
        "ChangeTransactionTariff",
        "ClearDERControl",
        "ClearTariffs",
        "GetDERControl",
        "GetPeriodicEventStream",
        "GetTariffs",
        "NotifyAllowedEnergyTransfer",
        "NotifyWebPaymentStarted",
        "RequestBatterySwap",
        "SetDERControl",
        "SetDefaultTariff",
        "UpdateDynamicSchedule",
        "UsePriorityCharging",
    }
)
"""Every CALL a CSMS may send in OCPP 2.1: those of 2.0.1 and the new ones."""


class ChargePoint21(ChargePoint201, OcppChargePoint21):
    _ocpp_version: ClassVar[str] = "2.1"
