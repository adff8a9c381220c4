"""The vehicle: a battery, its state of charge and how much power it accepts.

Energy is integrated exactly, piece by piece, never by small time steps, so a
meter value is the same whether the twin meters every second or every hour.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

CurrentType = Literal["AC", "DC"]

#: SoC (percent) within which a battery counts as full.
FULL_EPSILON = 1e-9
#: Width (percent of SoC) under which a piece of the curve is treated as already crossed.
_SOC_EPSILON = 1e-12


@dataclass(frozen=True)
class ChargingCurve:
    """Power the vehicle accepts (kW) as a piecewise-linear function of SoC (%).

    ``points`` must be strictly ascending in SoC, start at 0 and end at 100, with
    finite non-negative powers; :meth:`from_points` builds one from looser input.
    """

    points: tuple[tuple[float, float], ...]
    _socs: tuple[float, ...] = field(init=False, repr=False, compare=False)
    #: ``points`` as JSON-ready lists, made once: a twin's state carries its vehicle's
    #: curves at every save. Shared, so never to be changed in place.
    as_lists: list[list[float]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _check_points(self.points)
        object.__setattr__(self, "_socs", tuple(s for s, _ in self.points))
        object.__setattr__(self, "as_lists", [list(point) for point in self.points])

    def power_at(self, soc: float) -> float:
        """Power (kW) accepted at ``soc`` percent, clamped to 0..100."""
        i = self.piece_index(soc)
        (s0, p0), (s1, p1) = self.points[i], self.points[i + 1]
        x = 0.0 if soc < 0.0 else 100.0 if soc > 100.0 else soc
        return p0 + (p1 - p0) * (x - s0) / (s1 - s0)

    def piece_index(self, soc: float) -> int:
        """Index ``i`` of the linear piece ``points[i]..points[i + 1]`` that holds ``soc``."""
        index = bisect_right(self._socs, soc) - 1  # no min()/max(): twice per meter value
        if index < 0:
            return 0
        last = len(self._socs) - 2
        return last if index > last else index

    @classmethod
    def from_points(cls, points: Iterable[Sequence[float]]) -> ChargingCurve:
        """Validate ``(soc %, kW)`` pairs; extend flat to 0 % and 100 % where they stop short."""
        pairs: list[tuple[float, float]] = []
        for n, point in enumerate(points):
            if len(point) != 2:
                raise ValueError(f"point {n} must be (soc, kW), got {list(point)!r}")
            try:
                soc, kw = float(point[0]), float(point[1])
            except (TypeError, ValueError):
                raise ValueError(f"point {n} must hold numbers, got {list(point)!r}") from None
            pairs.append((soc, kw))
        if not pairs:
            raise ValueError("a charging curve needs at least one point")
        for n, (soc, kw) in enumerate(pairs):
            if not (math.isfinite(soc) and 0.0 <= soc <= 100.0):
                raise ValueError(f"point {n}: soc {soc!r} is outside 0..100")
            if not (math.isfinite(kw) and kw >= 0.0):
                raise ValueError(f"point {n}: power {kw!r} kW must be finite and >= 0")
        for n in range(1, len(pairs)):
            if pairs[n][0] <= pairs[n - 1][0]:
                raise ValueError(
                    f"soc must be strictly ascending: point {n} ({pairs[n][0]}) "
                    f"follows {pairs[n - 1][0]}"
                )
        if pairs[0][0] > 0.0:
            pairs.insert(0, (0.0, pairs[0][1]))
        if pairs[-1][0] < 100.0:
            pairs.append((100.0, pairs[-1][1]))
        return cls(tuple(pairs))

    @classmethod
    def default_dc(cls, max_kw: float) -> ChargingCurve:
        """A typical fast-charging curve: ramp up, plateau to ~55 %, taper, trickle at 100 %."""
        m = _check_max(max_kw)
        return cls.from_points(
            [
                (0, 0.85 * m),
                (10, m),
                (55, m),
                (70, 0.75 * m),
                (80, 0.5 * m),
                (90, 0.25 * m),
                (100, 0.05 * m),
            ]
        )

    @classmethod
    def default_ac(cls, max_kw: float) -> ChargingCurve:
        """Flat at the on-board charger limit, with a slight taper above 90 %."""
        m = _check_max(max_kw)
        return cls.from_points([(0, m), (90, m), (100, 0.6 * m)])


def _check_max(max_kw: float) -> float:
    if not (math.isfinite(max_kw) and max_kw >= 0):
        raise ValueError(f"max_kw must be finite and >= 0, got {max_kw!r}")
    return float(max_kw)


def _check_points(points: tuple[tuple[float, float], ...]) -> None:
    if len(points) < 2:
        raise ValueError("a charging curve needs points at soc 0 and soc 100")
    if points[0][0] != 0.0 or points[-1][0] != 100.0:
        raise ValueError("a charging curve must start at soc 0 and end at soc 100")
    for n, (soc, kw) in enumerate(points):
        if not (math.isfinite(kw) and kw >= 0.0):
            raise ValueError(f"point {n}: power {kw!r} kW must be finite and >= 0")
        if n and soc <= points[n - 1][0]:
            raise ValueError(f"soc must be strictly ascending at point {n}")


class Vehicle:
    """A battery that charges along a curve, and a bidirectional one also discharges.

    Charging is modelled at 100 % efficiency: the energy metered by the charge
    point equals the energy stored in the battery. A ``bidirectional`` vehicle
    gives energy back (V2X) at up to ``max_discharge_kw``, never below ``min_soc``.
    """

    __slots__ = (
        "ac_curve",
        "bidirectional",
        "capacity_kwh",
        "dc_curve",
        "max_ac_kw",
        "max_dc_kw",
        "max_discharge_kw",
        "min_soc",
        "soc",
    )

    def __init__(
        self,
        capacity_kwh: float,
        soc: float,
        max_ac_kw: float,
        max_dc_kw: float,
        ac_curve: ChargingCurve | None = None,
        dc_curve: ChargingCurve | None = None,
        *,
        bidirectional: bool = False,
        max_discharge_kw: float = 0.0,
        min_soc: float = 0.0,
    ) -> None:
        if not (math.isfinite(capacity_kwh) and capacity_kwh > 0):
            raise ValueError(f"capacity_kwh must be positive, got {capacity_kwh!r}")
        if not (math.isfinite(soc) and 0.0 <= soc <= 100.0):
            raise ValueError(f"soc must be within 0..100, got {soc!r}")
        self.capacity_kwh = float(capacity_kwh)
        self.soc = float(soc)
        self.max_ac_kw = _check_max(max_ac_kw)
        self.max_dc_kw = _check_max(max_dc_kw)
        self.ac_curve = ac_curve or ChargingCurve.default_ac(self.max_ac_kw)
        self.dc_curve = dc_curve or ChargingCurve.default_dc(self.max_dc_kw)
        if not (math.isfinite(min_soc) and 0.0 <= min_soc <= 100.0):
            raise ValueError(f"min_soc must be within 0..100, got {min_soc!r}")
        self.bidirectional = bool(bidirectional)
        self.max_discharge_kw = _check_max(max_discharge_kw)
        self.min_soc = float(min_soc)

    def __repr__(self) -> str:
        return (
            f"Vehicle(capacity_kwh={self.capacity_kwh}, soc={self.soc:.3f}, "
            f"max_ac_kw={self.max_ac_kw}, max_dc_kw={self.max_dc_kw})"
        )

    @property
    def is_full(self) -> bool:
        return self.soc >= 100.0 - FULL_EPSILON

    def _curve_and_max(self, current_type: CurrentType) -> tuple[ChargingCurve, float]:
        if current_type == "AC":
            return self.ac_curve, self.max_ac_kw
        if current_type == "DC":
            return self.dc_curve, self.max_dc_kw
        raise ValueError(f"current_type must be 'AC' or 'DC', got {current_type!r}")

    def max_power_kw(self, current_type: CurrentType) -> float:
        """Power the vehicle would draw now without an external limit (0 when full)."""
        curve, max_kw = self._curve_and_max(current_type)
        if self.is_full:
            return 0.0
        return min(curve.power_at(self.soc), max_kw)

    def charge(self, seconds: float, limit_kw: float, current_type: CurrentType) -> float:
        """Charge for ``seconds`` at ``min(curve(soc), max rate, limit_kw)``; return kWh.

        The ODE ``dsoc/dt = P(soc) / C`` is solved in closed form on each piece where
        the effective power is constant or linear in SoC (a linear piece gives an
        exponential in time). Pieces end at curve points and where the curve
        crosses the cap, so the result does not depend on how time is sliced.
        """
        curve, max_kw = self._curve_and_max(current_type)
        cap = min(max_kw, limit_kw)
        if seconds <= 0 or not cap > 0:
            return 0.0
        capacity = self.capacity_kwh
        hours = seconds / 3600.0
        soc = self.soc
        energy = 0.0
        points = curve.points
        while hours > 0 and soc < 100.0 - FULL_EPSILON:
            i = curve.piece_index(soc)
            (s0, p0), (s1, p1) = points[i], points[i + 1]
            slope = (p1 - p0) / (s1 - s0)  # kW per percent of SoC
            power = p0 + slope * (soc - s0)
            # Split the piece where the curve crosses the cap.
            if slope == 0.0:
                flat, end = True, s1
            else:
                cross = s0 + (cap - p0) / slope
                if slope > 0:
                    flat, end = (False, cross) if soc < cross - _SOC_EPSILON else (True, s1)
                else:
                    flat, end = (True, cross) if soc < cross - _SOC_EPSILON else (False, s1)
                end = min(max(end, soc), s1)
            if flat:
                rate = min(power, cap) if slope == 0.0 else cap
                if rate <= 0:
                    break
                needed = (end - soc) * capacity / (100.0 * rate)
                if needed >= hours:
                    gained = 100.0 * rate * hours / capacity
                    energy += rate * hours
                    soc = min(soc + gained, end)
                    hours = 0.0
                else:
                    energy += (end - soc) * capacity / 100.0
                    soc, hours = end, hours - needed
                continue
            if power <= 0:
                break
            k = 100.0 * slope / capacity  # per hour: P(t) = P0 * exp(k t)
            end_power = p0 + slope * (end - s0)
            needed = math.log(end_power / power) / k if end_power > 0 else math.inf
            if needed >= hours:
                new_power = power * math.exp(k * hours)
                energy += (new_power - power) / k
                soc = min(soc + (new_power - power) / slope, end)
                hours = 0.0
            else:
                energy += (end - soc) * capacity / 100.0
                soc, hours = end, hours - needed
        self.soc = min(soc, 100.0)
        return energy

    def max_discharge_power_kw(self) -> float:
        """Power (kW) the vehicle can give back now: 0 unless bidirectional and above
        its minimum SoC."""
        if not self.bidirectional or self.soc <= self.min_soc + FULL_EPSILON:
            return 0.0
        return self.max_discharge_kw

    def discharge(self, seconds: float, power_kw: float) -> float:
        """Give back energy for ``seconds`` at ``min(power_kw, max_discharge_kw)``,
        stopping at ``min_soc``; return the kWh given (SoC falls linearly in time)."""
        rate = min(power_kw, self.max_discharge_power_kw())
        if seconds <= 0 or not rate > 0:
            return 0.0
        available = (self.soc - self.min_soc) * self.capacity_kwh / 100.0
        energy = min(rate * seconds / 3600.0, available)
        self.soc = max(self.soc - 100.0 * energy / self.capacity_kwh, self.min_soc)
        return energy
