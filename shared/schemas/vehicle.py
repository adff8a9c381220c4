from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import Field, field_validator, model_validator

from shared.schemas.common import Boolean, Number, ORMModel, PartialUpdate, RequestBody

CurvePoint = tuple[
    Annotated[Number, Field(ge=0, le=100, description="state of charge, %")],
    Annotated[Number, Field(ge=0, description="kW")],
]
#: A charging curve: at least one ``[soc %, kW]`` point, in strictly ascending SoC (which
#: JSON Schema cannot say); flat before the first point and after the last.
CurvePoints = Annotated[list[CurvePoint], Field(min_length=1)]

DEFAULT_DC_RATE_KW = 50.0
DEFAULT_AC_RATE_KW = 11.0


def _check_curve(points: CurvePoints | None) -> CurvePoints | None:
    if points is None:
        return None
    from worker.twin.vehicle import ChargingCurve

    ChargingCurve.from_points(points)
    return points


class VehicleCreate(RequestBody):
    """A vehicle. ``maximum_charging_rate`` (kW) sets both the AC and DC maximum at once."""

    name: str = Field(min_length=1, max_length=100)
    battery_capacity: Number = Field(gt=0, le=1000, description="kWh")
    soc: Number = Field(default=10.0, ge=0, le=100, description="state of charge, %")
    maximum_charging_rate: Number | None = Field(default=None, gt=0, le=1000)
    maximum_dc_charging_rate: Number | None = Field(default=None, gt=0, le=1000)
    maximum_ac_charging_rate: Number | None = Field(default=None, gt=0, le=1000)
    ac_charging_curve: CurvePoints | None = Field(
        default=None,
        description="[[soc %, kW], ...] in ascending soc; default: flat at the AC rate",
    )
    dc_charging_curve: CurvePoints | None = Field(
        default=None,
        description="[[soc %, kW], ...] in ascending soc; default: tapering above ~55 % SoC",
    )
    bidirectional: Boolean = Field(
        default=False, description="gives energy back (V2X) when an OCPP 2.1 CSMS asks"
    )
    maximum_discharge_power: Number = Field(
        default=0, ge=0, le=1000, description="kW given back at most, when bidirectional"
    )
    minimum_soc: Number = Field(
        default=0, ge=0, le=100, description="%: a bidirectional vehicle discharges no lower"
    )

    _curves = field_validator("ac_charging_curve", "dc_charging_curve")(_check_curve)

    @model_validator(mode="after")
    def _rates(self) -> VehicleCreate:
        shared_rate = self.maximum_charging_rate
        if self.maximum_dc_charging_rate is None:
            self.maximum_dc_charging_rate = shared_rate or DEFAULT_DC_RATE_KW
        if self.maximum_ac_charging_rate is None:
            self.maximum_ac_charging_rate = shared_rate or DEFAULT_AC_RATE_KW
        return self


class VehicleUpdate(PartialUpdate):
    """``null`` for a curve goes back to the default curve."""

    nullable = frozenset({"ac_charging_curve", "dc_charging_curve"})

    name: str | None = Field(default=None, min_length=1, max_length=100)
    battery_capacity: Number | None = Field(default=None, gt=0, le=1000)
    soc: Number | None = Field(default=None, ge=0, le=100)
    maximum_dc_charging_rate: Number | None = Field(default=None, gt=0, le=1000)
    maximum_ac_charging_rate: Number | None = Field(default=None, gt=0, le=1000)
    ac_charging_curve: CurvePoints | None = None
    dc_charging_curve: CurvePoints | None = None
    bidirectional: Boolean | None = None
    maximum_discharge_power: Number | None = Field(default=None, ge=0, le=1000)
    minimum_soc: Number | None = Field(default=None, ge=0, le=100)

    _curves = field_validator("ac_charging_curve", "dc_charging_curve")(_check_curve)


class VehiclePublic(ORMModel):
    id: uuid.UUID
    created_at: datetime
    updated_at: datetime
    name: str
    id_tag_suffix: str
    id_tag: str
    battery_capacity: float
    maximum_dc_charging_rate: float
    maximum_ac_charging_rate: float
    soc: float
    status: str
    # Lists, not CurvePoints: schemathesis cannot read the prefixItems of a tuple in a response.
    ac_charging_curve: list[list[float]] | None
    dc_charging_curve: list[list[float]] | None
    bidirectional: bool
    maximum_discharge_power: float
    minimum_soc: float
    connector_id: uuid.UUID | None
    transaction_id: uuid.UUID | None
    user_id: uuid.UUID
