"""What a fleet is made of and what its drivers do, drawn from a seed.

Everything random comes from :class:`random.Random` instances seeded from the
scenario's seed and a fixed label (the charge point's index and connector), so the
same seed gives the same charge points, vehicles and, per connector, the same
sequence of arrivals and choices, however fast the CSMS answers.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from shared.schemas.charge_point import ChargePointCreate, ConnectorCreate, EvseCreate
from shared.schemas.fleet import (
    CID_DIGITS,
    Choice,
    Distribution,
    Exponential,
    FleetCreate,
    Normal,
    SessionScenario,
    Uniform,
)
from shared.schemas.vehicle import VehicleCreate

ArrivalKind = Literal["local", "remote", "rejected"]


def rng_for(seed: int, *label: object) -> random.Random:
    """An independent, reproducible stream for one part of the fleet."""
    return random.Random(":".join(str(part) for part in (seed, *label)))


def draw(distribution: Distribution, rng: random.Random) -> float:
    match distribution:
        case Uniform():
            return rng.uniform(distribution.low, distribution.high)
        case Normal():
            value = rng.gauss(distribution.mean, distribution.sd)
            if distribution.low is not None:
                value = max(value, distribution.low)
            if distribution.high is not None:
                value = min(value, distribution.high)
            return value
        case Exponential():
            return rng.expovariate(1 / distribution.mean)
        case Choice():
            return rng.choices(distribution.values, weights=distribution.weights)[0]
        case _:
            return float(distribution)


def protocols(fleet: FleetCreate) -> list[str]:
    """Each charge point's protocol: the shares of a mix, rounded to whole charge points
    (largest remainder), placed in an order drawn from the seed."""
    template = fleet.charge_points
    if isinstance(template.protocol, str):
        return [template.protocol] * template.count
    total = sum(template.protocol.values())
    exact = {name: template.count * share / total for name, share in template.protocol.items()}
    whole = {name: math.floor(value) for name, value in exact.items()}
    by_remainder = sorted(exact, key=lambda name: (whole[name] - exact[name], name))
    for name in by_remainder[: template.count - sum(whole.values())]:
        whole[name] += 1
    order = [name for name in sorted(whole) for _ in range(whole[name])]
    rng_for(fleet.scenario.seed, "protocols").shuffle(order)
    return order


#: Seconds: the longest ConnectionTimeOut a fleet sets for its remote starts (a year).
MAX_CONNECTION_TIMEOUT = 365 * 24 * 3600


def cid(prefix: str, index: int) -> str:
    return f"{prefix}{index + 1:0{CID_DIGITS}d}"


def charge_point_bodies(fleet: FleetCreate) -> list[ChargePointCreate]:
    template = fleet.charge_points
    bodies = []
    for index, protocol in enumerate(protocols(fleet)):
        v201 = protocol != "ocpp1.6"  # 2.0.1 and 2.1 share the device model and CSMS
        configuration = template.ocpp_configuration
        if v201 and template.ocpp_configuration_v201 is not None:
            configuration = template.ocpp_configuration_v201
        if not v201:
            configuration = _waits_for_remote_starts(fleet, configuration)
        bodies.append(
            ChargePointCreate(
                name=f"{fleet.name} {index + 1}",
                cid=cid(template.identity_prefix, index),
                password=template.password,
                csms_url=(template.csms_url_v201 if v201 else None) or template.csms_url,
                ocpp_protocol=protocol,  # type: ignore[arg-type]
                maximum_ac_power=template.maximum_ac_power,
                maximum_dc_power=template.maximum_dc_power,
                speed_factor=template.speed_factor,
                message_log=template.message_log,
                evses=[
                    EvseCreate(
                        connectors=[
                            ConnectorCreate(connector_type=template.connector_type)
                            for _ in range(template.connectors_per_evse)
                        ]
                    )
                    for _ in range(template.evses)
                ],
                ocpp_configuration=configuration,
            )
        )
    return bodies


def _waits_for_remote_starts(fleet: FleetCreate, configuration: dict[str, str]) -> dict[str, str]:
    """A 1.6 charger gives up on a plugged-in vehicle that nobody authorises after
    ``ConnectionTimeOut`` (60 s); a fleet whose drivers wait ``remote_start_wait`` for the
    app's RemoteStartTransaction keeps the session waiting that long, unless the template
    sets the key itself."""
    if fleet.scenario.remote_start_share <= 0 or "ConnectionTimeOut" in configuration:
        return configuration
    wait = min(math.ceil(fleet.scenario.remote_start_wait), MAX_CONNECTION_TIMEOUT)
    return {**configuration, "ConnectionTimeOut": str(max(wait, 60))}


def connectors_per_charge_point(fleet: FleetCreate) -> int:
    return fleet.charge_points.evses * fleet.charge_points.connectors_per_evse


def vehicle_bodies(fleet: FleetCreate) -> list[VehicleCreate]:
    """One vehicle per connector, in charge point then connector order."""
    template = fleet.vehicles
    rng = rng_for(fleet.scenario.seed, "vehicles")
    bodies = []
    for index in range(fleet.charge_points.count):
        for connector in range(1, connectors_per_charge_point(fleet) + 1):
            bodies.append(
                VehicleCreate(
                    name=f"{fleet.name} {index + 1}/{connector}",
                    battery_capacity=round(draw(template.battery_capacity, rng), 3),
                    maximum_ac_charging_rate=round(draw(template.maximum_ac_charging_rate, rng), 3),
                    maximum_dc_charging_rate=round(draw(template.maximum_dc_charging_rate, rng), 3),
                    soc=round(draw(template.start_soc, rng), 3),
                )
            )
    return bodies


@dataclass(frozen=True, slots=True)
class Fault:
    """A fault while the connector is idle: ``at`` simulated seconds into the scenario."""

    at: float
    duration: float


@dataclass(frozen=True, slots=True)
class Arrival:
    """A driver arriving at one connector ``at`` simulated seconds into the scenario, with
    the faults drawn for the idle time before."""

    charge_point: int
    connector: int
    at: float
    kind: ArrivalKind
    start_soc: float
    dwell_time: float | None
    target_soc: float | None
    faults_before: tuple[Fault, ...] = ()


def _next_arrival(scenario: SessionScenario, rng: random.Random, now: float, bays: int) -> float:
    """The next arrival time at one connector after ``now``: a Poisson process at the charge
    point's rate shared by its connectors (by thinning for an hourly profile)."""
    if scenario.arrivals_per_hour is None:
        assert scenario.mean_arrival_interval is not None
        return now + rng.expovariate(1 / (scenario.mean_arrival_interval * bays))
    profile = [rate / 3600 / bays for rate in scenario.arrivals_per_hour]
    peak = max(profile)
    t = now
    while True:
        t += rng.expovariate(peak)
        if rng.random() * peak <= profile[int(t // 3600) % 24]:
            return t


def arrivals(fleet: FleetCreate, charge_point: int, connector: int) -> Iterator[Arrival]:
    """The endless sequence of arrivals at one connector, drawn without regard to how long
    sessions take: a driver who finds the previous session still running waits for it, so
    every drawn arrival is served, in order, whatever the CSMS's speed."""
    scenario = fleet.scenario
    rng = rng_for(scenario.seed, "arrivals", charge_point, connector)
    bays = connectors_per_charge_point(fleet)
    now = 0.0
    while True:
        at = _next_arrival(scenario, rng, now, bays)
        faults = []
        if scenario.faults_per_hour > 0:
            t = now
            while True:
                t += rng.expovariate(scenario.faults_per_hour / 3600)
                if t >= at:
                    break
                duration = max(draw(scenario.fault_duration, rng), 0.0)
                faults.append(Fault(t, min(duration, at - t)))
                t += duration
        choice = rng.random()
        kind: ArrivalKind = "local"
        if choice < scenario.rejected_share:
            kind = "rejected"
        elif choice < scenario.rejected_share + (1 - scenario.rejected_share) * (
            scenario.remote_start_share
        ):
            kind = "remote"
        start_soc = min(max(draw(fleet.vehicles.start_soc, rng), 0.0), 100.0)
        dwell = None if scenario.dwell_time is None else max(draw(scenario.dwell_time, rng), 0.0)
        target = (
            None
            if scenario.target_soc is None
            else min(max(draw(scenario.target_soc, rng), 0.0), 100.0)
        )
        arrival = Arrival(
            charge_point, connector, at, kind, start_soc, dwell, target, tuple(faults)
        )
        yield arrival
        now = at
