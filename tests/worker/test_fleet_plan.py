"""What a fleet's seed draws: reproducible, and shaped as the scenario says."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from shared.schemas.fleet import FleetCreate
from worker.fleet import plan
from worker.fleet.metrics import BUCKETS_MS, LogRow, MessageStats, histogram_csv


def fleet(**scenario: Any) -> FleetCreate:
    return FleetCreate.model_validate(
        {
            "charge_points": {
                "count": 10,
                "protocol": {"ocpp1.6": 0.7, "ocpp2.0.1": 0.3},
                "csms_url": "ws://csms:9000",
                "evses": 2,
            },
            "vehicles": {"battery_capacity": {"kind": "choice", "values": [40, 60, 80]}},
            "scenario": {"seed": 3} | scenario,
        }
    )


def first(spec: FleetCreate, charge_point: int, connector: int, n: int) -> list[plan.Arrival]:
    return list(itertools.islice(plan.arrivals(spec, charge_point, connector), n))


def test_the_same_seed_draws_the_same_fleet_and_arrivals() -> None:
    assert plan.protocols(fleet()) == plan.protocols(fleet())
    assert plan.vehicle_bodies(fleet()) == plan.vehicle_bodies(fleet())
    assert first(fleet(), 4, 2, 50) == first(fleet(), 4, 2, 50)
    assert first(fleet(), 4, 2, 50) != first(fleet(seed=4), 4, 2, 50)
    assert first(fleet(), 4, 2, 50) != first(fleet(), 4, 1, 50), "each connector its own"


def test_a_mix_is_rounded_to_whole_charge_points() -> None:
    protocols = plan.protocols(fleet())
    assert protocols.count("ocpp1.6") == 7
    assert protocols.count("ocpp2.0.1") == 3
    bodies = plan.charge_point_bodies(fleet())
    assert [body.cid for body in bodies[:2]] == ["FLEET-00001", "FLEET-00002"]
    assert len(plan.vehicle_bodies(fleet())) == 20, "one vehicle per connector"


def test_the_message_log_switch_reaches_every_charge_point() -> None:
    assert all(body.message_log for body in plan.charge_point_bodies(fleet()))
    spec = fleet().model_copy(deep=True)
    spec.charge_points.message_log = False
    assert not any(body.message_log for body in plan.charge_point_bodies(spec))


def test_2_1_charge_points_of_a_mix_take_the_2_x_csms_and_variables() -> None:
    spec = FleetCreate.model_validate(
        {
            "charge_points": {
                "count": 4,
                "protocol": {"ocpp1.6": 0.5, "ocpp2.1": 0.5},
                "csms_url": "ws://csms:9000",
                "csms_url_v201": "ws://csms:9201",
                "ocpp_configuration": {"MeterValueSampleInterval": "10"},
                "ocpp_configuration_v201": {"SampledDataCtrlr/TxUpdatedInterval": "10"},
            },
            "vehicles": {"battery_capacity": 60},
        }
    )
    by_protocol = {body.ocpp_protocol: body for body in plan.charge_point_bodies(spec)}
    assert by_protocol["ocpp2.1"].csms_url == "ws://csms:9201"
    assert by_protocol["ocpp2.1"].ocpp_configuration == {"SampledDataCtrlr/TxUpdatedInterval": "10"}
    assert by_protocol["ocpp1.6"].csms_url == "ws://csms:9000"


def test_1_6_chargers_wait_for_remote_starts_as_long_as_the_drivers_do() -> None:
    """ConnectionTimeOut would send a plugged-in vehicle that nobody authorises back to
    Available before the app's RemoteStartTransaction came."""
    waiting = plan.charge_point_bodies(fleet(remote_start_share=0.5, remote_start_wait=3000))
    assert {
        b.ocpp_configuration.get("ConnectionTimeOut")
        for b in waiting
        if b.ocpp_protocol == "ocpp1.6"
    } == {"3000"}
    assert all(
        "ConnectionTimeOut" not in b.ocpp_configuration
        for b in waiting
        if b.ocpp_protocol != "ocpp1.6"
    )
    assert all(
        "ConnectionTimeOut" not in b.ocpp_configuration for b in plan.charge_point_bodies(fleet())
    )


def test_arrivals_follow_the_mean_interval_and_the_shares() -> None:
    spec = fleet(mean_arrival_interval=1000, rejected_share=0.2, remote_start_share=0.5)
    arrivals = first(spec, 0, 1, 4000)
    gaps = [b.at - a.at for a, b in itertools.pairwise(arrivals)]
    # Two connectors share the charge point's rate: 2,000 s apart at each.
    assert sum(gaps) / len(gaps) == pytest.approx(2000, rel=0.05)
    kinds = [arrival.kind for arrival in arrivals]
    assert kinds.count("rejected") / len(kinds) == pytest.approx(0.2, abs=0.03)
    assert kinds.count("remote") / len(kinds) == pytest.approx(0.4, abs=0.03)
    assert all(10 <= arrival.start_soc <= 50 for arrival in arrivals)


def test_an_hourly_profile_has_no_arrivals_in_its_empty_hours() -> None:
    profile = [0.0] * 6 + [4.0] * 18
    arrivals = first(fleet(mean_arrival_interval=None, arrivals_per_hour=profile), 1, 1, 500)
    assert all((arrival.at // 3600) % 24 >= 6 for arrival in arrivals)


def test_faults_come_at_their_rate_while_idle() -> None:
    arrivals = first(fleet(faults_per_hour=0.5, fault_duration=60), 0, 1, 2000)
    faults = [fault for arrival in arrivals for fault in arrival.faults_before]
    hours = arrivals[-1].at / 3600
    assert len(faults) / hours == pytest.approx(0.5, rel=0.15)
    previous = 0.0
    for arrival in arrivals:
        for fault in arrival.faults_before:
            assert previous <= fault.at < arrival.at
        previous = arrival.at


def test_response_times_match_calls_with_their_answers_in_real_time() -> None:
    from datetime import UTC, datetime, timedelta
    from uuid import uuid4

    fast, slow = uuid4(), uuid4()
    stats = MessageStats({fast: 1.0, slow: 100.0})
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    rows = []
    for number, (charge_point, simulated_ms) in enumerate([(fast, 20), (slow, 2000)]):
        rows.append(LogRow(2 * number, charge_point, t0, "sent", "CALL", "u1", "Heartbeat", {}))
        rows.append(
            LogRow(
                2 * number + 1,
                charge_point,
                t0 + timedelta(milliseconds=simulated_ms),
                "received",
                "CALLRESULT",
                "u1",
                "Heartbeat",
                {},
            )
        )
    stats.add(rows)
    latency = stats.latency()["Heartbeat"]
    assert latency.count == 2
    assert latency.p50_ms == pytest.approx(20)  # 2 s simulated at speed 100 is 20 ms real
    assert stats.messages["Heartbeat"].sent == 2
    assert stats.messages["Heartbeat"].received == 2
    assert histogram_csv(stats.histograms()).splitlines()[1:] == [
        f"Heartbeat,{bound:g},{2 if bound == 20 else 0}" for bound in BUCKETS_MS
    ] + ["Heartbeat,,0"]
