import math
import random

import pytest

from worker.twin.vehicle import ChargingCurve, Vehicle


def linear_taper() -> ChargingCurve:
    """100 kW at 0 % falling linearly to 0 kW at 100 %: P(soc) = 100 - soc."""
    return ChargingCurve.from_points([(0, 100), (100, 0)])


def test_flat_curve_is_linear_in_time() -> None:
    vehicle = Vehicle(
        50, 20, max_ac_kw=11, max_dc_kw=50, ac_curve=ChargingCurve.from_points([(0, 11)])
    )

    energy = vehicle.charge(3600, limit_kw=100, current_type="AC")

    assert energy == pytest.approx(11.0, abs=1e-12)
    assert vehicle.soc == pytest.approx(42.0, abs=1e-12)


def test_limit_below_curve_is_used() -> None:
    vehicle = Vehicle(50, 20, max_ac_kw=11, max_dc_kw=50)

    assert vehicle.charge(1800, limit_kw=4.14, current_type="AC") == pytest.approx(2.07, abs=1e-12)


def test_linear_taper_follows_the_exponential_solution() -> None:
    # C = 100 kWh, P = 100 - soc, so dP/dt = -P per hour and P(t) = 80 e^-t from 20 %.
    vehicle = Vehicle(100, 20, max_ac_kw=11, max_dc_kw=1000, dc_curve=linear_taper())

    energy = vehicle.charge(3600, limit_kw=1000, current_type="DC")

    assert energy == pytest.approx(80 * (1 - math.exp(-1)), abs=1e-9)
    assert vehicle.soc == pytest.approx(20 + 80 * (1 - math.exp(-1)), abs=1e-9)


def test_limit_crossing_splits_into_flat_then_exponential() -> None:
    # Capped at 50 kW until the curve falls below it at 50 % (30 kWh in 0.6 h),
    # then P(t) = 50 e^-t for the remaining 0.4 h.
    vehicle = Vehicle(100, 20, max_ac_kw=11, max_dc_kw=1000, dc_curve=linear_taper())

    energy = vehicle.charge(3600, limit_kw=50, current_type="DC")

    assert energy == pytest.approx(30 + 50 * (1 - math.exp(-0.4)), abs=1e-9)


def test_max_rate_crossing_on_a_rising_curve() -> None:
    # P = 10 + soc, C = 100 kWh: exponential e^t from 10 kW until 60 kW (50 %), then flat.
    curve = ChargingCurve.from_points([(0, 10), (100, 110)])
    vehicle = Vehicle(100, 0, max_ac_kw=60, max_dc_kw=60, ac_curve=curve)
    t_cross = math.log(6)  # hours to reach 60 kW

    energy = vehicle.charge(3600 * (t_cross + 0.5), limit_kw=1000, current_type="AC")

    assert energy == pytest.approx(50 + 60 * 0.5, abs=1e-9)
    assert vehicle.soc == pytest.approx(80, abs=1e-9)


def test_charging_stops_at_full() -> None:
    vehicle = Vehicle(
        50, 90, max_ac_kw=11, max_dc_kw=50, dc_curve=ChargingCurve.from_points([(0, 50)])
    )

    energy = vehicle.charge(7200, limit_kw=100, current_type="DC")

    assert energy == pytest.approx(5.0, abs=1e-12)
    assert vehicle.soc == 100
    assert vehicle.is_full
    assert vehicle.max_power_kw("DC") == 0
    assert vehicle.charge(3600, limit_kw=100, current_type="DC") == 0


@pytest.mark.parametrize("current_type", ["AC", "DC"])
def test_many_small_steps_equal_one_big_step(current_type: str) -> None:
    one = Vehicle(60, 5, max_ac_kw=11, max_dc_kw=150)
    many = Vehicle(60, 5, max_ac_kw=11, max_dc_kw=150)
    rng = random.Random(7)

    total_one = one.charge(4 * 3600, limit_kw=120, current_type=current_type)
    total_many = 0.0
    remaining = 4 * 3600.0
    while remaining > 0:
        step = min(rng.uniform(0.1, 30.0), remaining)
        total_many += many.charge(step, limit_kw=120, current_type=current_type)
        remaining -= step

    assert total_many == pytest.approx(total_one, abs=1e-9)
    assert many.soc == pytest.approx(one.soc, abs=1e-9)


def test_zero_time_or_zero_limit_delivers_nothing() -> None:
    vehicle = Vehicle(50, 20, max_ac_kw=11, max_dc_kw=50)

    assert vehicle.charge(0, limit_kw=11, current_type="AC") == 0
    assert vehicle.charge(60, limit_kw=0, current_type="AC") == 0
    assert vehicle.soc == 20


def test_max_power_is_curve_capped_by_max_rate() -> None:
    vehicle = Vehicle(
        50, 50, max_ac_kw=7.4, max_dc_kw=50, ac_curve=ChargingCurve.from_points([(0, 11)])
    )

    assert vehicle.max_power_kw("AC") == 7.4
    assert vehicle.max_power_kw("DC") == 50


def test_default_curves_have_realistic_shapes() -> None:
    dc = ChargingCurve.default_dc(150)
    ac = ChargingCurve.default_ac(11)

    assert dc.power_at(30) == 150
    assert dc.power_at(55) == 150
    assert dc.power_at(80) < 0.6 * 150
    assert 0 < dc.power_at(100) < 0.1 * 150
    assert ac.power_at(50) == 11
    assert ac.power_at(90) == 11
    assert 0.5 * 11 < ac.power_at(100) < 11


def test_from_points_extends_flat_and_interpolates() -> None:
    curve = ChargingCurve.from_points([[10, 5], [60, 15]])

    assert curve.points == ((0, 5), (10, 5), (60, 15), (100, 15))
    assert curve.power_at(35) == 10
    assert curve.power_at(-5) == 5
    assert curve.power_at(120) == 15


@pytest.mark.parametrize(
    ("points", "message"),
    [
        ([], "at least one point"),
        ([(0, 10), (0, 20)], "strictly ascending"),
        ([(50, 10), (20, 20)], "strictly ascending"),
        ([(0, 10), (101, 20)], "outside 0..100"),
        ([(0, -1)], "must be finite and >= 0"),
        ([(0, float("nan"))], "must be finite"),
        ([(0, 1, 2)], "must be \\(soc, kW\\)"),
        ([("a", 1)], "must hold numbers"),
    ],
)
def test_from_points_rejects_bad_input(points: list, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ChargingCurve.from_points(points)


def test_direct_construction_must_cover_0_to_100() -> None:
    with pytest.raises(ValueError, match="start at soc 0"):
        ChargingCurve(((10.0, 5.0), (100.0, 5.0)))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"capacity_kwh": 0}, "capacity_kwh"),
        ({"soc": 101}, "soc"),
        ({"soc": -1}, "soc"),
        ({"max_ac_kw": -1}, "max_kw"),
    ],
)
def test_vehicle_rejects_bad_input(kwargs: dict, message: str) -> None:
    args = {"capacity_kwh": 50, "soc": 20, "max_ac_kw": 11, "max_dc_kw": 50} | kwargs
    with pytest.raises(ValueError, match=message):
        Vehicle(**args)


def test_unknown_current_type_is_rejected() -> None:
    with pytest.raises(ValueError, match="current_type"):
        Vehicle(50, 20, 11, 50).charge(60, 11, "XX")  # type: ignore[arg-type]
