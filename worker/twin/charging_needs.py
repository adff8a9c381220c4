"""What a vehicle tells the charging station it needs (ISO 15118 style), as OCPP 2.1's
NotifyEVChargingNeeds ``chargingNeeds``.

The twin's vehicles speak no ISO 15118, but they know what an EV would say: the
energy to a full battery, the current and power they take, and, for a bidirectional
vehicle (ISO 15118-20 BPT), how much they may give back and down to which SoC. The
vehicle has no departure time, so none is sent (the CSMS assumes none is known).
"""

from __future__ import annotations

from typing import Any

from worker.twin.vehicle import Vehicle

#: AC energy transfer modes by number of phases.
_AC_MODES = {1: "AC_single_phase", 2: "AC_two_phase", 3: "AC_three_phase"}


def _wh(percent: float, vehicle: Vehicle) -> float:
    """``percent`` of the battery, in Wh, rounded to one decimal."""
    return round(percent / 100.0 * vehicle.capacity_kwh * 1000.0, 1)


def charging_needs(
    vehicle: Vehicle, current_type: str, voltage: float, phases: int
) -> dict[str, Any]:
    """The ChargingNeedsType (camelCase) of ``vehicle`` on a connector of
    ``current_type`` at ``voltage`` with ``phases`` (AC)."""
    to_full = _wh(100.0 - vehicle.soc, vehicle)
    needs: dict[str, Any] = {}
    if current_type == "DC":
        base_mode = "DC"
        max_kw = vehicle.max_dc_kw
        needs["dcChargingParameters"] = {
            "evMaxCurrent": round(max_kw * 1000.0 / voltage, 1),
            "evMaxVoltage": voltage,
            "evMaxPower": max_kw * 1000.0,
            "evEnergyCapacity": vehicle.capacity_kwh * 1000.0,
            "energyAmount": to_full,
            "stateOfCharge": int(vehicle.soc),
            "fullSoC": 100,
        }
    else:
        base_mode = _AC_MODES.get(phases, "AC_three_phase")
        max_kw = vehicle.max_ac_kw
        needs["acChargingParameters"] = {
            "energyAmount": to_full,
            "evMinCurrent": 0.0,
            "evMaxCurrent": round(max_kw * 1000.0 / (voltage * phases), 1),
            "evMaxVoltage": voltage,
        }
    if not vehicle.bidirectional:
        needs["requestedEnergyTransfer"] = base_mode
        return needs
    bidirectional_mode = "DC_BPT" if current_type == "DC" else "AC_BPT"
    needs["requestedEnergyTransfer"] = bidirectional_mode
    needs["availableEnergyTransfer"] = [bidirectional_mode, base_mode]
    needs["controlMode"] = "DynamicControl"
    needs["v2xChargingParameters"] = {
        "minChargePower": 0.0,
        "maxChargePower": max_kw * 1000.0,
        "minDischargePower": 0.0,
        "maxDischargePower": vehicle.max_discharge_kw * 1000.0,
        "evTargetEnergyRequest": to_full,
        "evMinEnergyRequest": _wh(vehicle.min_soc - vehicle.soc, vehicle),
        "evMaxEnergyRequest": to_full,
        # Negative: energy the vehicle may give back, down to its minimum SoC.
        "evMinV2XEnergyRequest": _wh(vehicle.min_soc - vehicle.soc, vehicle),
        "evMaxV2XEnergyRequest": to_full,
        "targetSoC": 100,
    }
    return needs


__all__ = ["charging_needs"]
