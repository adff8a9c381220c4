"""The twin's state as one plain, JSON-serialisable value, and the hooks of its host.

:meth:`ChargePointTwin.save_state() <worker.twin.charge_point.ChargePointTwin.save_state>`
returns a dict that ``json.dumps`` takes as it is (datetimes as ISO 8601 strings,
``"version": STATE_VERSION``); :meth:`~worker.twin.charge_point.ChargePointTwin.restore_state`
takes it back on a freshly built twin. This module holds what both need and what
does not depend on the twin itself: the :class:`StateStore` protocol a host
implements, and the converters of the value types (vehicles, meter samples,
authorisation answers, datetimes) to and from plain data.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from worker.twin.values import IdTagInfo, MeterSample
from worker.twin.vehicle import ChargingCurve, Vehicle

#: The layout of :meth:`ChargePointTwin.save_state`; bumped when it changes.
STATE_VERSION = 1

#: Asked by the host before the twin opens a websocket and before every frame:
#: does this process still hold the twin's lease?
Permit = Callable[[], bool]


class SavesState(Protocol):
    """A twin, as its store sees it (the charge point twin)."""

    def save_state(self) -> dict[str, Any]: ...


class StateStore(Protocol):
    """Where a host keeps a twin's state (see :meth:`ChargePointTwin.save_state`).

    ``state_changed`` is called, synchronously and often, whenever something the
    saved state covers has changed: it must be cheap (mark the twin dirty); the
    store coalesces and calls ``twin.save_state()`` later, on the loop thread.
    ``state_progressed`` is called instead when only what moves continuously changed
    (registers, SoC, energy, a delivered meter value leaving the queue): the store
    saves such a twin within its progress interval. ``saved`` returns once the twin's
    state as of the call is durably written; the twin awaits it before the first send
    of every transaction message but a periodic meter value that goes out at once, so
    that whatever the CSMS has seen (a transaction, its messages) is in the state a
    restore starts from (for those meter values, ``ProtocolAdapter.skip_unsaved_numbers``
    and the restore's energy count cover the unsaved moments).
    """

    def state_changed(self, twin: SavesState) -> None: ...

    def state_progressed(self, twin: SavesState) -> None:
        """Only what moves continuously changed: save it within a while, not at once."""
        ...

    async def saved(self, twin: SavesState) -> None: ...


class StateError(ValueError):
    """A saved state this twin cannot restore (other version, other charge point)."""


# -- value types -------------------------------------------------------------------------


def time_to_state(when: datetime | None) -> str | None:
    return when.isoformat() if when is not None else None


def time_from_state(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value is not None else None


def vehicle_to_state(vehicle: Vehicle) -> dict[str, Any]:
    return {
        "capacity_kwh": vehicle.capacity_kwh,
        "soc": vehicle.soc,
        "max_ac_kw": vehicle.max_ac_kw,
        "max_dc_kw": vehicle.max_dc_kw,
        "ac_curve": vehicle.ac_curve.as_lists,
        "dc_curve": vehicle.dc_curve.as_lists,
        "bidirectional": vehicle.bidirectional,
        "max_discharge_kw": vehicle.max_discharge_kw,
        "min_soc": vehicle.min_soc,
    }


def vehicle_from_state(data: dict[str, Any]) -> Vehicle:
    return Vehicle(
        capacity_kwh=data["capacity_kwh"],
        soc=data["soc"],
        max_ac_kw=data["max_ac_kw"],
        max_dc_kw=data["max_dc_kw"],
        ac_curve=ChargingCurve(tuple((float(s), float(p)) for s, p in data["ac_curve"])),
        dc_curve=ChargingCurve(tuple((float(s), float(p)) for s, p in data["dc_curve"])),
        bidirectional=data.get("bidirectional", False),
        max_discharge_kw=data.get("max_discharge_kw", 0.0),
        min_soc=data.get("min_soc", 0.0),
    )


def sample_to_state(sample: MeterSample) -> dict[str, Any]:
    return {
        "at": time_to_state(sample.at),
        "connector_id": sample.connector_id,
        "energy_wh": sample.energy_wh,
        "power_w": sample.power_w,
        "current_a": sample.current_a,
        "voltage_v": sample.voltage_v,
        "soc": sample.soc,
        "phases": sample.phases,
        "context": sample.context,
        "export_wh": sample.export_wh,
    }


def sample_from_state(data: dict[str, Any]) -> MeterSample:
    at = time_from_state(data["at"])
    assert at is not None
    return MeterSample(
        at=at,
        connector_id=data["connector_id"],
        energy_wh=data["energy_wh"],
        power_w=data["power_w"],
        current_a=data["current_a"],
        voltage_v=data["voltage_v"],
        soc=data["soc"],
        phases=data["phases"],
        context=data["context"],
        export_wh=data.get("export_wh"),
    )


def id_tag_info_to_state(info: IdTagInfo) -> dict[str, Any]:
    return {
        "status": info.status,
        "expiry_date": time_to_state(info.expiry_date),
        "parent_id_tag": info.parent_id_tag,
    }


def id_tag_info_from_state(data: dict[str, Any]) -> IdTagInfo:
    return IdTagInfo(
        data["status"], time_from_state(data.get("expiry_date")), data.get("parent_id_tag")
    )


__all__ = [
    "STATE_VERSION",
    "Permit",
    "SavesState",
    "StateError",
    "StateStore",
    "id_tag_info_from_state",
    "id_tag_info_to_state",
    "sample_from_state",
    "sample_to_state",
    "time_from_state",
    "time_to_state",
    "vehicle_from_state",
    "vehicle_to_state",
]
