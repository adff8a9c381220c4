"""A fleet: many charge points and vehicles made from templates, and the sessions they run.

Times of the session scenario (arrival intervals, the hourly profile, dwell times, fault
durations) are simulated seconds, at the charge points' ``speed_factor``, like everything a
twin does. ``duration_seconds`` and the connect pacing are real seconds: how long the load
test lasts and how fast the CSMS under test is asked to accept connections.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shared.schemas.charge_point import (
    CSMS_URL_MAX_LENGTH,
    CSMS_URL_PATTERN,
    MESSAGE_LOG_DESCRIPTION,
    ConnectorType,
    OcppProtocol,
    check_csms_url,
)
from shared.schemas.common import Boolean, RequestBody

#: Charge points one fleet may have (each twin also counts against the user's quota).
FLEET_MAX_CHARGE_POINTS = 10_000
#: Digits of the running number appended to ``identity_prefix``.
CID_DIGITS = 5
CID_PREFIX_PATTERN = r"^[A-Za-z0-9._~-]{1,40}$"
#: A charge point's csms_url, or one ending with /{cid}.
FLEET_CSMS_URL_PATTERN = CSMS_URL_PATTERN.removesuffix("$") + r"(/\{cid\})?$"


class _DistributionBody(BaseModel):
    """Like a RequestBody (unknown fields refused), without field validators that would
    run before ``kind`` picks the distribution."""

    model_config = ConfigDict(extra="forbid")


class Uniform(_DistributionBody):
    kind: Literal["uniform"]
    low: float
    high: float

    @model_validator(mode="after")
    def _ordered(self) -> Uniform:
        if self.low > self.high:
            raise ValueError(f"low ({self.low:g}) must not be above high ({self.high:g})")
        return self


class Normal(_DistributionBody):
    """A normal distribution, clipped to [low, high] when they are given."""

    kind: Literal["normal"]
    mean: float
    sd: float = Field(ge=0)
    low: float | None = None
    high: float | None = None


class Exponential(_DistributionBody):
    kind: Literal["exponential"]
    mean: float = Field(gt=0)


class Choice(_DistributionBody):
    """One of ``values``, with ``weights`` (relative; equal when not given)."""

    kind: Literal["choice"]
    values: list[float] = Field(min_length=1, max_length=100)
    weights: list[float] | None = None

    @model_validator(mode="after")
    def _weights(self) -> Choice:
        if self.weights is not None:
            if len(self.weights) != len(self.values):
                raise ValueError("weights must have one entry per value")
            if any(w < 0 for w in self.weights) or sum(self.weights) <= 0:
                raise ValueError("weights must be non-negative and not all zero")
        return self


#: A number drawn for each vehicle or session: a constant, or a distribution.
Distribution = (
    float | Annotated[Uniform | Normal | Exponential | Choice, Field(discriminator="kind")]
)


def check_range(distribution: Distribution, low: float, high: float, name: str) -> None:
    """A distribution whose values can leave [low, high] is refused (unless it is clipped)."""
    match distribution:
        case float() | int():
            bounds = (float(distribution), float(distribution))
        case Uniform():
            bounds = (distribution.low, distribution.high)
        case Choice():
            bounds = (min(distribution.values), max(distribution.values))
        case Normal():
            bounds = (
                distribution.low if distribution.low is not None else -float("inf"),
                distribution.high if distribution.high is not None else float("inf"),
            )
        case Exponential():
            bounds = (0.0, float("inf"))
    if bounds[0] < low or bounds[1] > high:
        raise ValueError(
            f"{name} must stay within {low:g}..{high:g} (give a normal distribution low and high)"
        )


#: One protocol's share of a fleet's mix (relative to the others; bounded so that the
#: shares add up to a finite number).
ProtocolShare = Annotated[float, Field(ge=0, le=1_000_000)]


class ChargePointTemplate(RequestBody):
    """What each charge point of the fleet is like."""

    count: int = Field(ge=1, le=FLEET_MAX_CHARGE_POINTS)
    protocol: OcppProtocol | dict[OcppProtocol, ProtocolShare] = Field(
        default="ocpp1.6",
        description='one protocol, or a mix of shares such as {"ocpp1.6": 0.7, "ocpp2.0.1": 0.3}',
    )
    evses: int = Field(default=1, ge=1, le=32)
    connectors_per_evse: int = Field(default=1, ge=1, le=8)
    connector_type: ConnectorType = "cType2"
    maximum_ac_power: float = Field(default=22, ge=0, le=100, description="kW")
    maximum_dc_power: float = Field(default=50, ge=0, le=1000, description="kW")
    csms_url: str = Field(
        max_length=CSMS_URL_MAX_LENGTH,
        json_schema_extra={"pattern": FLEET_CSMS_URL_PATTERN},
        description="the CSMS; a trailing /{cid} may be written out (the twin appends it)",
    )
    csms_url_v201: str | None = Field(
        default=None,
        max_length=CSMS_URL_MAX_LENGTH,
        json_schema_extra={"pattern": FLEET_CSMS_URL_PATTERN},
        description="the CSMS of the 2.0.1 and 2.1 charge points in a mix (default: csms_url)",
    )
    identity_prefix: str = Field(
        default="FLEET-",
        pattern=CID_PREFIX_PATTERN,
        description=f"cid = prefix + a {CID_DIGITS}-digit number (00001, 00002, ...)",
    )
    password: str | None = Field(default=None, min_length=1, max_length=64)
    speed_factor: float = Field(default=1.0, gt=0, le=3600)
    message_log: Boolean = Field(
        default=True,
        description=f"{MESSAGE_LOG_DESCRIPTION} The fleet's figures read from the frames "
        "(messages per action and per second, CALLERRORs, the CSMS's response times) stay "
        "empty without it, and a stop does not wait for the CSMS to answer the session ends "
        "(a twin delivers one left over at its next connection).",
    )
    ocpp_configuration: dict[str, str] = Field(default_factory=dict)
    ocpp_configuration_v201: dict[str, str] | None = Field(
        default=None,
        description="2.0.1 variables for the 2.0.1 and 2.1 charge points of a mix "
        "(default: ocpp_configuration)",
    )

    @field_validator("csms_url", "csms_url_v201")
    @classmethod
    def _url(cls, url: str | None) -> str | None:
        if url is None:
            return None
        if "{cid}" in url:
            if not url.endswith("/{cid}") or url.count("{cid}") > 1:
                raise ValueError(
                    "{cid} may only end the URL path (the twin appends /<cid> to csms_url)"
                )
            url = url.removesuffix("/{cid}")
        if re.search(r"[{}]", url):
            raise ValueError("the only placeholder is {cid}, at the end of the path")
        return check_csms_url(url)

    @field_validator("protocol")
    @classmethod
    def _mix(
        cls, protocol: OcppProtocol | dict[OcppProtocol, ProtocolShare]
    ) -> OcppProtocol | dict[OcppProtocol, float]:
        if isinstance(protocol, dict):
            if not protocol or any(share < 0 for share in protocol.values()):
                raise ValueError("a mix gives each protocol a non-negative share")
            if sum(protocol.values()) <= 0:
                raise ValueError("the shares of a mix must not all be zero")
        return protocol


class VehicleTemplate(RequestBody):
    """The vehicles: one per connector, each drawing its battery and rates once; its state
    of charge is drawn again for each arrival (a new driver at the same bay)."""

    battery_capacity: Distribution = Field(default=60.0, description="kWh")
    maximum_ac_charging_rate: Distribution = Field(default=11.0, description="kW")
    maximum_dc_charging_rate: Distribution = Field(default=50.0, description="kW")
    start_soc: Distribution = Field(
        default=Uniform(kind="uniform", low=10, high=50), description="%, drawn per session"
    )

    @model_validator(mode="after")
    def _ranges(self) -> VehicleTemplate:
        check_range(self.battery_capacity, 1, 1000, "battery_capacity")
        check_range(self.maximum_ac_charging_rate, 1, 1000, "maximum_ac_charging_rate")
        check_range(self.maximum_dc_charging_rate, 1, 1000, "maximum_dc_charging_rate")
        check_range(self.start_soc, 0, 100, "start_soc")
        return self


class SessionScenario(RequestBody):
    """How sessions come and go at each charge point (times in simulated seconds)."""

    seed: int = Field(default=0, ge=0, le=2**63 - 1)
    mean_arrival_interval: float | None = Field(
        default=3600.0,
        gt=0,
        description="mean simulated seconds between arrivals at a charge point (Poisson)",
    )
    arrivals_per_hour: list[float] | None = Field(
        default=None,
        min_length=24,
        max_length=24,
        description="24 values: arrivals per charge point in each hour of the simulated day "
        "(replaces mean_arrival_interval)",
    )
    dwell_time: Distribution | None = Field(
        default=Uniform(kind="uniform", low=1200, high=3600),
        description="simulated seconds a session charges before the driver stops it",
    )
    target_soc: Distribution | None = Field(
        default=None, description="% at which the driver stops the session (replaces dwell_time)"
    )
    remote_start_share: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="share of sessions where the vehicle plugs in and waits for the CSMS to "
        "start it (RemoteStartTransaction / RequestStartTransaction)",
    )
    remote_start_wait: float = Field(
        default=120.0, gt=0, description="simulated seconds to wait for that remote start"
    )
    rejected_share: float = Field(
        default=0.0, ge=0, le=1, description="share of arrivals that present rejected_id_tag"
    )
    rejected_id_tag: str = Field(
        default="ELU-UNKNOWN-TAG",
        min_length=1,
        max_length=20,
        description="an id tag the CSMS under test is expected to reject",
    )
    faults_per_hour: float = Field(
        default=0.0, ge=0, le=60, description="faults per connector per simulated hour (idle)"
    )
    fault_duration: Distribution = Field(default=300.0, description="simulated seconds")
    duration_seconds: float | None = Field(
        default=None, gt=0, le=7 * 86400, description="real seconds; none: until stopped"
    )
    connect_rate: float | None = Field(
        default=50.0,
        gt=0,
        le=10_000,
        description="new connections per real second; null: as fast as possible",
    )
    command_timeout: float = Field(default=30.0, gt=0, le=600, description="real seconds")

    @field_validator("arrivals_per_hour")
    @classmethod
    def _profile(cls, profile: list[float] | None) -> list[float] | None:
        if profile is None:
            return None
        if len(profile) != 24:
            raise ValueError(f"needs 24 values (one per hour), got {len(profile)}")
        if any(rate < 0 for rate in profile) or sum(profile) <= 0:
            raise ValueError("rates must be non-negative and not all zero")
        return profile

    @model_validator(mode="after")
    def _one_of_each(self) -> SessionScenario:
        if self.arrivals_per_hour is None and self.mean_arrival_interval is None:
            raise ValueError("give mean_arrival_interval or arrivals_per_hour")
        if "target_soc" in self.model_fields_set and self.target_soc is not None:
            if "dwell_time" in self.model_fields_set and self.dwell_time is not None:
                raise ValueError("give dwell_time or target_soc, not both")
            self.dwell_time = None
            check_range(self.target_soc, 0, 100, "target_soc")
        elif self.dwell_time is None:
            raise ValueError("give dwell_time or target_soc")
        else:
            check_range(self.dwell_time, 0, 30 * 86400, "dwell_time")
        check_range(self.fault_duration, 0, 86400, "fault_duration")
        return self


class FleetCreate(RequestBody):
    name: str = Field(default="fleet", min_length=1, max_length=100)
    charge_points: ChargePointTemplate
    vehicles: VehicleTemplate = Field(default_factory=VehicleTemplate)
    scenario: SessionScenario = Field(default_factory=SessionScenario)


FleetStatus = Literal["creating", "connecting", "running", "stopping", "stopped", "failed"]


class LatencyPublic(BaseModel):
    """The CSMS's response times to one action, real milliseconds."""

    count: int
    p50_ms: float | None
    p99_ms: float | None
    max_ms: float | None


class MessageCounts(BaseModel):
    """Frames of one action: ``sent`` twin → CSMS, ``received`` CSMS → twin (calls and answers)."""

    sent: int = 0
    received: int = 0


class FleetCounts(BaseModel):
    charge_points: int = 0
    vehicles: int = 0
    connected: int = Field(0, description="charge points connected now")
    booted: int = Field(0, description="charge points whose boot the CSMS accepted")
    connect_rate: float | None = Field(
        None, description="connections begun per real second, as measured"
    )
    charging: int = Field(0, description="sessions running now")
    sessions_started: int = 0
    sessions_ended: int = 0
    sessions_rejected: int = 0
    arrivals: int = 0
    faults_injected: int = 0
    messages: dict[str, MessageCounts] = Field(default_factory=dict)
    messages_per_second: float = 0.0
    errors: dict[str, int] = Field(default_factory=dict)
    latency: dict[str, LatencyPublic] = Field(default_factory=dict)


class FleetPublic(BaseModel):
    id: uuid.UUID
    name: str
    status: FleetStatus
    created_at: datetime
    started_at: datetime | None
    stopped_at: datetime | None
    error: str | None
    seed: int
    counts: FleetCounts


class FleetSummary(BaseModel):
    """What a CSMS developer wants at the end of a load test."""

    id: uuid.UUID
    name: str
    status: FleetStatus
    seed: int
    started_at: datetime | None
    stopped_at: datetime | None
    duration_seconds: float | None
    counts: FleetCounts
    arrivals: list[ArrivalPublic] = Field(
        description="the first arrivals, in the order the seed draws them per connector"
    )


class ArrivalPublic(BaseModel):
    """One arrival the scenario drew: at which charge point and connector, when and what."""

    charge_point: int = Field(description="index of the charge point in the fleet, from 0")
    connector: int
    at: float = Field(description="simulated seconds after the scenario began")
    kind: Literal["local", "remote", "rejected"]
    start_soc: float
    dwell_time: float | None
    target_soc: float | None


FleetSummary.model_rebuild()
