"""A charging session as the CSMS sees it: plug in, authorise, charge, stop."""

from __future__ import annotations

import asyncio

import pytest

from tests.twin.scripted_csms import (
    EventLog,
    ScriptedCsms,
    eventually,
    make_config,
    make_vehicle,
)
from worker.twin.charge_point import ChargePointTwin
from worker.twin.clock import SystemClock
from worker.twin.errors import InvalidState, NotConnected, Rejected, UnknownTarget
from worker.twin.events import (
    ConnectorChanged,
    MeterSampled,
    TransactionChanged,
    VehicleChanged,
)


async def booted_twin(csms: ScriptedCsms, events: EventLog, **config: object) -> ChargePointTwin:
    twin = ChargePointTwin(make_config(csms.url, **config), SystemClock(speed=600), events)
    await twin.start()
    await twin.connected(timeout=5)
    return twin


def sampled(payload: dict) -> dict[str, float]:
    values = payload["meterValue"][0]["sampledValue"]
    return {v["measurand"]: float(v["value"]) for v in values}


def statuses(csms: ScriptedCsms, connector_id: int = 1) -> list[str]:
    return [
        r.payload["status"]
        for r in csms.of("StatusNotification")
        if r.payload["connectorId"] == connector_id
    ]


async def test_plug_in_authorize_charge_and_stop(csms: ScriptedCsms, events: EventLog) -> None:
    twin = await booted_twin(csms, events)
    vehicle = make_vehicle(soc=20.0, capacity_kwh=60.0)
    await twin.plug_in(1, vehicle, "veh-1")
    await csms.wait_for("StatusNotification", lambda p: p["status"] == "Preparing")

    started = await twin.start_transaction(1, "TAG-1")
    assert started.csms_transaction_id == "1"
    assert started.status == "Charging"
    assert csms.of("Authorize")[0].payload == {"idTag": "TAG-1"}
    start = csms.of("StartTransaction")[0].payload
    assert (start["connectorId"], start["idTag"], start["meterStart"]) == (1, "TAG-1", 0)

    meter = await csms.wait_for("MeterValues", count=3)
    values = sampled(meter.payload)
    assert set(values) == {
        "Energy.Active.Import.Register",
        "Power.Active.Import",
        "Current.Import",
        "Voltage",
        "SoC",
    }
    assert meter.payload["transactionId"] == 1
    assert values["Power.Active.Import"] == pytest.approx(22000.0)
    assert values["Current.Import"] == pytest.approx(22000 / (3 * 230), abs=0.01)
    assert values["Voltage"] == 230.0
    assert values["SoC"] > 20.0
    registers = [
        sampled(r.payload)["Energy.Active.Import.Register"] for r in csms.of("MeterValues")
    ]
    assert registers == sorted(registers) and registers[0] > 0

    stopped = await twin.stop_transaction(started.transaction_ref)
    stop = (await csms.wait_for("StopTransaction")).payload
    assert stop["transactionId"] == 1
    assert stop["reason"] == "Local"
    assert stop["meterStop"] == stopped.meter_stop_wh
    assert stop["meterStop"] - start["meterStart"] == round(stopped.energy_kwh * 1000)
    assert stop["meterStop"] >= registers[-1] - 0.5
    # Energy metered is energy stored (the vehicle model is lossless).
    assert stopped.energy_kwh == pytest.approx((vehicle.soc - 20.0) / 100 * 60.0, rel=1e-9)
    assert stopped.status == "Ended"

    await csms.wait_for("StatusNotification", lambda p: p["status"] == "Finishing")
    await twin.unplug(1)
    await csms.wait_for(
        "StatusNotification", lambda p: p == {**p, "connectorId": 1, "status": "Available"}, count=2
    )
    assert statuses(csms) == ["Available", "Preparing", "Charging", "Finishing", "Available"]
    assert all(r.valid for r in csms.received)

    samples = events.of(MeterSampled)
    assert len(samples) >= 3 and samples[0].transaction_ref == started.transaction_ref
    tx_statuses = [e.status for e in events.of(TransactionChanged)]
    assert tx_statuses[0] == "Authorizing" and tx_statuses[-1] == "Ended"
    vehicle_statuses = [e.status for e in events.of(VehicleChanged)]
    assert vehicle_statuses[0] == "plugged-in" and "charging" in vehicle_statuses
    # Stopped, the vehicle is still plugged in (Finishing) until it is unplugged.
    assert vehicle_statuses[-2:] == ["plugged-in", "ready-to-charge"]
    assert events.of(ConnectorChanged)[-1].status == "Available"
    await twin.close()


async def test_start_plugs_in_the_vehicle_given(csms: ScriptedCsms, events: EventLog) -> None:
    twin = await booted_twin(csms, events)
    started = await twin.start_transaction(1, "TAG-1", make_vehicle(), "veh-9")
    assert started.vehicle_ref == "veh-9"
    assert twin.snapshot()["connectors"][0]["vehicle_ref"] == "veh-9"
    await twin.close()


async def test_rejected_id_tag(csms: ScriptedCsms, events: EventLog) -> None:
    csms.rejected_id_tags.add("BAD")
    twin = await booted_twin(csms, events, connector_types=("cType2", "cType2"))
    await twin.plug_in(1, make_vehicle(), "veh-1")
    with pytest.raises(Rejected, match="did not accept id tag BAD: Invalid"):
        await twin.start_transaction(1, "BAD")
    assert csms.of("StartTransaction") == []
    assert twin.snapshot()["connectors"][0]["status"] == "Preparing"
    assert events.of(TransactionChanged)[-1].status == "Rejected"
    # A vehicle the failed start plugged in itself is taken out again.
    with pytest.raises(Rejected):
        await twin.start_transaction(2, "BAD", make_vehicle(), "veh-2")
    assert twin.snapshot()["connectors"][1]["vehicle_ref"] is None
    assert twin.snapshot()["connectors"][1]["status"] == "Available"
    await twin.close()


async def test_start_transaction_answer_invalid_stops_it(
    csms: ScriptedCsms, events: EventLog
) -> None:
    csms.answer("Authorize", {"idTagInfo": {"status": "Accepted"}})
    csms.rejected_id_tags.add("BAD")
    twin = await booted_twin(csms, events)
    await twin.plug_in(1, make_vehicle(), "veh-1")
    with pytest.raises(Rejected, match="in StartTransaction"):
        await twin.start_transaction(1, "BAD")
    stop = await csms.wait_for("StopTransaction")
    assert stop.payload["reason"] == "DeAuthorized"
    await twin.close()


async def test_commands_on_wrong_targets(csms: ScriptedCsms, events: EventLog) -> None:
    twin = await booted_twin(csms, events)
    with pytest.raises(UnknownTarget, match="no connector 7"):
        await twin.plug_in(7, make_vehicle(), "v")
    with pytest.raises(InvalidState, match="no vehicle is plugged in"):
        await twin.start_transaction(1, "TAG")
    with pytest.raises(UnknownTarget):
        await twin.stop_transaction("nope")
    await twin.set_faulted(1, "GroundFailure", "leak")
    fault = await csms.wait_for("StatusNotification", lambda p: p["status"] == "Faulted")
    assert fault.payload["errorCode"] == "GroundFailure" and fault.payload["info"] == "leak"
    with pytest.raises(InvalidState, match="Faulted"):
        await twin.start_transaction(1, "TAG", make_vehicle(), "v")
    await twin.clear_fault(1)
    await csms.wait_for(
        "StatusNotification", lambda p: p == {**p, "connectorId": 1, "status": "Available"}, count=2
    )
    await twin.close()


async def test_offline_start_needs_local_authorisation(events: EventLog) -> None:
    twin = ChargePointTwin(make_config("ws://127.0.0.1:9"), SystemClock(speed=600), events)
    await twin.plug_in(1, make_vehicle(), "veh-1")
    with pytest.raises(NotConnected, match="not in its local list or cache"):
        await twin.start_transaction(1, "TAG")
    await twin.close()


async def test_offline_start_with_cached_id_tag_is_queued(
    csms: ScriptedCsms, events: EventLog
) -> None:
    twin = await booted_twin(csms, events)
    await twin.plug_in(1, make_vehicle(), "veh-1")
    first = await twin.start_transaction(1, "TAG")
    await twin.stop_transaction(first.transaction_ref)
    await csms.wait_for("StopTransaction")
    await twin.stop()

    offline = await twin.start_transaction(1, "TAG")
    assert offline.csms_transaction_id is None
    assert offline.status == "Charging"
    await twin.stop_transaction(offline.transaction_ref)
    assert twin.snapshot()["queued_messages"] >= 2

    await twin.start()
    stop = await csms.wait_for("StopTransaction", count=2)
    assert stop.payload["transactionId"] == 2
    await eventually(lambda: twin.snapshot()["queued_messages"] == 0)
    await twin.close()


async def test_start_transaction_answer_invalid_suspends_when_configured(
    csms: ScriptedCsms, events: EventLog
) -> None:
    csms.answer("Authorize", {"idTagInfo": {"status": "Accepted"}})
    csms.rejected_id_tags.add("BAD")
    twin = await booted_twin(
        csms, events, ocpp_configuration={"StopTransactionOnInvalidId": "false"}
    )
    await twin.plug_in(1, make_vehicle(), "veh-1")
    with pytest.raises(Rejected, match="suspended"):
        await twin.start_transaction(1, "BAD")
    await csms.wait_for("StatusNotification", lambda p: p["status"] == "SuspendedEVSE")
    assert csms.of("StopTransaction") == []
    assert twin.connector(1).power_kw == 0.0
    await twin.close()


async def test_stop_transaction_carries_stop_txn_sampled_data(
    csms: ScriptedCsms, events: EventLog
) -> None:
    twin = await booted_twin(
        csms, events, ocpp_configuration={"StopTxnSampledData": "Energy.Active.Import.Register"}
    )
    started = await twin.start_transaction(1, "TAG", make_vehicle(), "veh-1")
    stopped = await twin.stop_transaction(started.transaction_ref)
    stop = (await csms.wait_for("StopTransaction")).payload
    [value] = stop["transactionData"][0]["sampledValue"]
    assert value["context"] == "Transaction.End"
    # meterStop is the register rounded to Wh, the sampled value to 0.1 Wh.
    assert abs(float(value["value"]) - stopped.meter_stop_wh) <= 0.5
    await twin.close()


async def test_a_fast_twin_samples_at_most_ten_times_a_real_second(
    csms: ScriptedCsms, events: EventLog
) -> None:
    """speed 3,600 with MeterValueSampleInterval 1 would be 3,600 MeterValues a real
    second; the twin takes ten, and delivers every one while it is connected."""
    twin = ChargePointTwin(
        make_config(csms.url, speed=3600, ocpp_configuration={"MeterValueSampleInterval": "1"}),
        SystemClock(speed=3600),
        events,
    )
    await twin.start()
    await twin.connected(timeout=5)
    await twin.plug_in(1, make_vehicle(soc=20.0, capacity_kwh=200.0), "veh-1")
    started = await twin.start_transaction(1, "TAG-1")
    await csms.wait_for("MeterValues", count=5)
    first = len(csms.of("MeterValues"))
    await asyncio.sleep(2)
    sent = len(csms.of("MeterValues")) - first
    assert 10 <= sent <= 25, f"{sent} MeterValues in 2 real seconds"
    sampled_events = [e for e in events.of(MeterSampled) if e.context == "Sample.Periodic"]
    await twin.stop_transaction(started.transaction_ref)
    await csms.wait_for("StopTransaction")
    assert len(csms.of("MeterValues")) == len(sampled_events), "a sample was dropped"
    await twin.close()


async def test_a_fast_twin_sends_at_most_one_heartbeat_a_real_second(
    csms: ScriptedCsms, events: EventLog
) -> None:
    """A CSMS heartbeat interval of 1 s at speed 3,600 would be 3,600 Heartbeats a real
    second; the twin sends one."""
    csms.heartbeat_interval = 1
    twin = ChargePointTwin(make_config(csms.url, speed=3600), SystemClock(speed=3600), events)
    await twin.start()
    await twin.connected(timeout=5)
    await csms.wait_for("Heartbeat", count=1, timeout=5)
    first = len(csms.of("Heartbeat"))
    await asyncio.sleep(3)
    sent = len(csms.of("Heartbeat")) - first
    assert 1 <= sent <= 4, f"{sent} Heartbeats in 3 real seconds"
    await twin.close()
