"""OCPP 1.6 clock-aligned meter values: ClockAlignedDataInterval, MeterValuesAlignedData,
StopTxnAlignedData."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from ocpp.v16 import call

from tests.twin.scripted_csms import (
    EventLog,
    Received,
    ScriptedCsms,
    eventually,
    make_config,
    make_vehicle,
)
from worker.twin.charge_point import ChargePointTwin
from worker.twin.clock import VirtualClock

ALIGNED = {"Energy.Active.Import.Register", "Voltage"}
SAMPLED = {"Energy.Active.Import.Register", "Power.Active.Import"}


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(start=datetime(2026, 1, 1, 10, 0, 5, tzinfo=UTC))


async def start_twin(
    csms: ScriptedCsms, events: EventLog, clock: VirtualClock, **configuration: str
) -> ChargePointTwin:
    config = make_config(
        csms.url,
        connector_types=("cType2", "cType2"),
        ocpp_configuration={
            "MeterValuesAlignedData": ",".join(sorted(ALIGNED)),
            "MeterValuesSampledData": ",".join(sorted(SAMPLED)),
            **configuration,
        },
    )
    twin = ChargePointTwin(config, clock, events)
    await twin.start()
    await twin.connected(timeout=5)
    return twin


@pytest.fixture
async def twin(
    csms: ScriptedCsms, events: EventLog, clock: VirtualClock
) -> AsyncIterator[ChargePointTwin]:
    twin = await start_twin(csms, events, clock, ClockAlignedDataInterval="900")
    yield twin
    await twin.close()


def clocked(csms: ScriptedCsms) -> list[Received]:
    return [
        r
        for r in csms.of("MeterValues")
        if r.payload["meterValue"][0]["sampledValue"][0]["context"] == "Sample.Clock"
    ]


def seconds(meter_value: dict[str, Any]) -> float:
    return datetime.fromisoformat(meter_value["timestamp"].replace("Z", "+00:00")).timestamp()


def measurands(meter_value: dict[str, Any]) -> list[str]:
    return [v["measurand"] for v in meter_value["sampledValue"]]


def assert_aligned(received: Received, interval: int) -> None:
    [meter_value] = received.payload["meterValue"]
    assert seconds(meter_value) % interval == 0
    assert sorted(measurands(meter_value)) == sorted(ALIGNED)
    assert {v["context"] for v in meter_value["sampledValue"]} == {"Sample.Clock"}


async def change(csms: ScriptedCsms, key: str, value: str) -> str:
    result = await csms.call("CP1", call.ChangeConfiguration(key=key, value=value))
    return result.status


async def test_idle_and_transaction_samples_on_the_boundary(
    twin: ChargePointTwin, csms: ScriptedCsms, clock: VirtualClock
) -> None:
    await clock.advance(900, settle=0.02)
    await csms.wait_for("MeterValues", count=2)
    idle = clocked(csms)
    assert sorted(r.payload["connectorId"] for r in idle) == [1, 2]
    for received in idle:
        assert_aligned(received, 900)
        assert "transactionId" not in received.payload
        assert received.payload["meterValue"][0]["timestamp"] == "2026-01-01T10:15:00Z"

    await twin.plug_in(1, make_vehicle(), "veh-1")
    await twin.start_transaction(1, "TAG")
    await clock.advance(900, settle=0.02)
    await csms.wait_for(
        "MeterValues", lambda p: p["meterValue"][0]["timestamp"] == "2026-01-01T10:30:00Z", count=2
    )
    by_connector = {r.payload["connectorId"]: r for r in clocked(csms)[2:]}
    assert set(by_connector) == {1, 2}
    for received in by_connector.values():
        assert_aligned(received, 900)
    assert by_connector[1].payload["transactionId"] == 1
    assert "transactionId" not in by_connector[2].payload

    periodic = [r for r in csms.of("MeterValues") if r not in clocked(csms)]
    assert periodic
    for received in periodic:
        assert set(measurands(received.payload["meterValue"][0])) == SAMPLED
        assert received.payload["meterValue"][0]["sampledValue"][0]["context"] == (
            "Sample.Periodic"
        )
    assert all(r.valid for r in csms.received)


async def test_interval_changes_restart_and_stop_the_samples(
    csms: ScriptedCsms, events: EventLog, clock: VirtualClock
) -> None:
    twin = await start_twin(csms, events, clock)
    try:
        assert twin.adapter._aligned_task is None
        await clock.advance(900, settle=0.02)
        assert clocked(csms) == []

        assert await change(csms, "ClockAlignedDataInterval", "300") == "Accepted"
        assert twin.adapter._aligned_task is not None
        await clock.advance(300, settle=0.02)
        await csms.wait_for("MeterValues", count=2)
        for received in clocked(csms):
            assert_aligned(received, 300)

        assert await change(csms, "ClockAlignedDataInterval", "0") == "Accepted"
        assert twin.adapter._aligned_task is None
        await clock.advance(1800, settle=0.02)
        assert len(clocked(csms)) == 2
        assert all(r.valid for r in csms.received)
    finally:
        await twin.close()


async def test_closing_stops_the_samples(
    csms: ScriptedCsms, events: EventLog, clock: VirtualClock
) -> None:
    twin = await start_twin(csms, events, clock, ClockAlignedDataInterval="900")
    assert twin.adapter._aligned_task is not None
    await twin.close()
    assert twin.adapter._aligned_task is None


async def test_stop_transaction_carries_the_aligned_values_of_the_transaction(
    csms: ScriptedCsms, events: EventLog, clock: VirtualClock
) -> None:
    twin = await start_twin(
        csms,
        events,
        clock,
        ClockAlignedDataInterval="900",
        MeterValuesAlignedData="",
        StopTxnAlignedData="Energy.Active.Import.Register",
        StopTxnSampledData="Energy.Active.Import.Register",
    )
    try:
        await clock.advance(900, settle=0.02)
        started = await twin.start_transaction(1, "TAG", make_vehicle(), "veh-1")
        await clock.advance(1800, settle=0.02)
        stopped = await twin.stop_transaction(started.transaction_ref)
        stop = (await csms.wait_for("StopTransaction")).payload
        aligned, end = stop["transactionData"][:-1], stop["transactionData"][-1]
        assert [v["timestamp"] for v in aligned] == [
            "2026-01-01T10:30:00Z",
            "2026-01-01T10:45:00Z",
        ]
        for meter_value in aligned:
            [value] = meter_value["sampledValue"]
            assert value["context"] == "Sample.Clock"
            assert value["measurand"] == "Energy.Active.Import.Register"
        energies = [float(v["sampledValue"][0]["value"]) for v in aligned]
        assert 0 < energies[0] < energies[1] <= stopped.meter_stop_wh
        assert end["sampledValue"][0]["context"] == "Transaction.End"
        assert clocked(csms) == []
        await eventually(lambda: twin.adapter._stop_aligned is None)
        assert all(r.valid for r in csms.received)
    finally:
        await twin.close()
