"""OCPP 2.0.1 device model variables that change what the station does: each at its
default and changed, as the CSMS sees it (TxCtrlr.StopTxOnEVSideDisconnect,
EVConnectionTimeOut for a request start and a plugged vehicle, MaxEnergyOnInvalidId,
SampledDataCtrlr.TxEndedInterval)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from ocpp.v201 import call

from tests.twin.scripted_csms201 import (
    EventLog,
    ScriptedCsms201,
    booted_twin,
    eventually,
    make_vehicle,
)
from worker.twin.charge_point import ChargePointTwin
from worker.twin.clock import VirtualClock
from worker.twin.errors import Rejected

#: The ``csms`` fixture (tests/twin/conftest.py) of this module.
CSMS_TYPE = ScriptedCsms201

START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
SETTLE = 0.05


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(start=START)


@pytest.fixture
async def twin(
    csms: ScriptedCsms201, clock: VirtualClock, events: EventLog
) -> AsyncIterator[ChargePointTwin]:
    twin = await booted_twin(csms, events, clock=clock, connector_types=("cType2", "cType2"))
    await csms.wait_for("StatusNotification", count=2)
    yield twin
    await twin.close()


async def set_variable(csms: ScriptedCsms201, component: str, name: str, value: str) -> None:
    result = await csms.call(
        "CS1",
        call.SetVariables(
            set_variable_data=[
                {
                    "component": {"name": component},
                    "variable": {"name": name},
                    "attributeValue": value,
                }
            ]
        ),
    )
    assert result.set_variable_result[0]["attribute_status"] == "Accepted"


def connector_statuses(csms: ScriptedCsms201, evse_id: int) -> list[str]:
    return [
        r.payload["connectorStatus"]
        for r in csms.of("StatusNotification")
        if r.payload["evseId"] == evse_id
    ]


def events_of(csms: ScriptedCsms201, transaction_id: str) -> list[tuple[str, str]]:
    return [(p["eventType"], p["triggerReason"]) for p in csms.transaction_events(transaction_id)]


def info(payload: dict[str, Any]) -> dict[str, Any]:
    return payload["transactionInfo"]


async def settle(clock: VirtualClock, seconds: float = 0) -> None:
    await clock.advance(seconds, settle=SETTLE)


# -- StopTxOnEVSideDisconnect -----------------------------------------------------------------


async def test_unplugging_ends_the_transaction_by_default(
    twin: ChargePointTwin, csms: ScriptedCsms201
) -> None:
    await twin.plug_in(1, make_vehicle(), "veh-1")
    started = await twin.start_transaction(1, "TAG")
    await twin.unplug(1)
    await eventually(lambda: events_of(csms, started.transaction_ref)[-1][0] == "Ended")
    ended = csms.transaction_events(started.transaction_ref)[-1]
    assert ended["triggerReason"] == "EVCommunicationLost"
    assert info(ended)["stoppedReason"] == "EVDisconnected"
    assert all(r.valid for r in csms.received)


async def test_stop_point_ev_connected_ends_the_transaction_even_when_not_stopping_on_disconnect(
    twin: ChargePointTwin, csms: ScriptedCsms201
) -> None:
    await set_variable(csms, "TxCtrlr", "StopTxOnEVSideDisconnect", "false")
    await twin.plug_in(1, make_vehicle(), "veh-1")
    started = await twin.start_transaction(1, "TAG")
    await twin.unplug(1)
    await eventually(lambda: events_of(csms, started.transaction_ref)[-1][0] == "Ended")


async def test_unplugging_keeps_the_transaction_when_configured(
    twin: ChargePointTwin, csms: ScriptedCsms201, clock: VirtualClock
) -> None:
    await set_variable(csms, "TxCtrlr", "StopTxOnEVSideDisconnect", "false")
    await set_variable(csms, "TxCtrlr", "TxStopPoint", "Authorized")
    await twin.plug_in(1, make_vehicle(), "veh-1")
    started = await twin.start_transaction(1, "TAG")
    ref = started.transaction_ref
    await eventually(lambda: csms.transaction_events(ref) != [])
    await twin.unplug(1)
    await eventually(lambda: events_of(csms, ref)[-1] == ("Updated", "EVCommunicationLost"))
    assert info(csms.transaction_events(ref)[-1])["chargingState"] == "Idle"
    await eventually(lambda: connector_statuses(csms, 1)[-1] == "Available")

    await twin.plug_in(1, make_vehicle(), "veh-1")
    await eventually(lambda: events_of(csms, ref)[-1] == ("Updated", "CablePluggedIn"))
    assert info(csms.transaction_events(ref)[-1])["chargingState"] == "Charging"
    assert connector_statuses(csms, 1)[-1] == "Occupied"

    await twin.stop_transaction(ref)
    await eventually(lambda: events_of(csms, ref)[-1][0] == "Ended")
    assert info(csms.transaction_events(ref)[-1])["stoppedReason"] == "Local"
    assert all(r.valid for r in csms.received)


# -- EVConnectionTimeOut ----------------------------------------------------------------------

TOKEN = {"idToken": "APP-1", "type": "Central"}


async def request_start_without_vehicle(csms: ScriptedCsms201) -> None:
    result = await csms.call(
        "CS1", call.RequestStartTransaction(id_token=TOKEN, remote_start_id=42, evse_id=1)
    )
    assert result.status == "Accepted"
    await csms.wait_for("Authorize")


async def test_a_request_start_without_vehicle_lapses_after_the_ev_connection_timeout(
    twin: ChargePointTwin, csms: ScriptedCsms201, clock: VirtualClock
) -> None:
    await request_start_without_vehicle(csms)  # EVConnectionTimeOut: 60 s by default
    await settle(clock, 61)
    # TxStartPoint PowerPathClosed: no transaction before the cable, so none to end,
    # and the connector never left Available.
    assert csms.of("TransactionEvent") == []
    assert connector_statuses(csms, 1) == ["Available"]
    await twin.plug_in(1, make_vehicle(), "veh-1")
    await eventually(lambda: connector_statuses(csms, 1)[-1] == "Occupied")
    await settle(clock, 1)
    assert csms.of("TransactionEvent") == []
    assert all(r.valid for r in csms.received)


async def test_a_vehicle_plugged_in_within_the_ev_connection_timeout_starts_the_transaction(
    twin: ChargePointTwin, csms: ScriptedCsms201, clock: VirtualClock
) -> None:
    await set_variable(csms, "TxCtrlr", "EVConnectionTimeOut", "120")
    await request_start_without_vehicle(csms)
    await settle(clock, 90)
    await twin.plug_in(1, make_vehicle(), "veh-1")
    started = await csms.wait_for("TransactionEvent", lambda p: p["eventType"] == "Started")
    assert started.payload["triggerReason"] == "RemoteStart"
    assert info(started.payload)["remoteStartId"] == 42
    assert started.payload["idToken"] == TOKEN
    assert all(r.valid for r in csms.received)


async def test_a_request_start_waiting_for_the_vehicle_keeps_its_id_across_a_restore(
    csms: ScriptedCsms201, clock: VirtualClock
) -> None:
    old = await booted_twin(csms, EventLog(), clock=clock)
    await csms.wait_for("StatusNotification")
    await request_start_without_vehicle(csms)
    await settle(clock, 1)
    state = json.loads(json.dumps(old.save_state()))
    await old.close()

    twin = ChargePointTwin(old.config, clock, EventLog())
    twin.restore_state(state, resume=True, last_alive=clock.now())
    try:
        await twin.start()
        await twin.connected(timeout=5)
        await twin.plug_in(1, make_vehicle(), "veh-1")
        started = await csms.wait_for("TransactionEvent", lambda p: p["eventType"] == "Started")
        assert info(started.payload)["remoteStartId"] == 42
        assert started.payload["idToken"] == TOKEN
    finally:
        await twin.close()


async def test_a_vehicle_plugged_in_without_authorisation_is_forgotten_quietly_after_the_timeout(
    twin: ChargePointTwin, csms: ScriptedCsms201, clock: VirtualClock
) -> None:
    await twin.plug_in(1, make_vehicle(), "veh-1")
    await eventually(lambda: connector_statuses(csms, 1)[-1] == "Occupied")
    before = len(csms.received)
    await settle(clock, 61)  # EVConnectionTimeOut: 60 s by default
    # TxStartPoint PowerPathClosed: no transaction to end, and the cable is in.
    assert csms.received[before:] == []
    read = next(c for c in twin.snapshot()["connectors"] if c["connector_id"] == 1)
    assert read["vehicle_ref"] == "veh-1"
    assert read["status"] == "Preparing"  # the core's word for a 2.0.1 Occupied

    started = await twin.start_transaction(1, "TAG")  # a later authorisation starts one
    event = await csms.wait_for("TransactionEvent", lambda p: p["eventType"] == "Started")
    assert event.payload["transactionInfo"]["transactionId"] == started.transaction_ref
    assert connector_statuses(csms, 1) == ["Available", "Occupied"]
    assert all(r.valid for r in csms.received)


async def test_a_request_start_after_the_plug_in_timeout_starts_on_the_plugged_vehicle(
    twin: ChargePointTwin, csms: ScriptedCsms201, clock: VirtualClock
) -> None:
    await set_variable(csms, "TxCtrlr", "EVConnectionTimeOut", "30")
    await twin.plug_in(1, make_vehicle(), "veh-1")
    await settle(clock, 31)
    result = await csms.call(
        "CS1", call.RequestStartTransaction(id_token=TOKEN, remote_start_id=7, evse_id=1)
    )
    assert result.status == "Accepted"
    started = await csms.wait_for("TransactionEvent", lambda p: p["eventType"] == "Started")
    assert info(started.payload)["remoteStartId"] == 7
    assert connector_statuses(csms, 1) == ["Available", "Occupied"]
    assert all(r.valid for r in csms.received)


# -- TxEndedInterval ---------------------------------------------------------------------------


def at(meter_value: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(meter_value["timestamp"].replace("Z", "+00:00"))


def contexts(ended: dict[str, Any]) -> list[str]:
    return [m["sampledValue"][0]["context"] for m in ended["meterValue"]]


async def charge_for(
    twin: ChargePointTwin, csms: ScriptedCsms201, clock: VirtualClock, seconds: float
) -> dict[str, Any]:
    """Plug in, start, charge ``seconds``, stop: the Ended payload."""
    await twin.plug_in(1, make_vehicle(), "veh-1")
    started = await twin.start_transaction(1, "TAG")
    await settle(clock, seconds)
    await twin.stop_transaction(started.transaction_ref)
    ended = await csms.wait_for("TransactionEvent", lambda p: p["eventType"] == "Ended")
    return ended.payload


async def test_ended_carries_only_start_and_end_values_by_default(
    twin: ChargePointTwin, csms: ScriptedCsms201, clock: VirtualClock
) -> None:
    ended = await charge_for(twin, csms, clock, 300)
    assert contexts(ended) == ["Transaction.Begin", "Transaction.End"]


async def test_ended_carries_a_value_every_tx_ended_interval_from_the_start(
    twin: ChargePointTwin, csms: ScriptedCsms201, clock: VirtualClock
) -> None:
    await set_variable(csms, "SampledDataCtrlr", "TxEndedInterval", "120")
    await set_variable(
        csms, "SampledDataCtrlr", "TxEndedMeasurands", "Energy.Active.Import.Register,SoC"
    )
    ended = await charge_for(twin, csms, clock, 300)
    assert contexts(ended) == [
        "Transaction.Begin",
        "Sample.Periodic",
        "Sample.Periodic",
        "Transaction.End",
    ]
    begin, first, second, _ = ended["meterValue"]
    assert (at(first) - at(begin)).total_seconds() == pytest.approx(120, abs=1)
    assert (at(second) - at(begin)).total_seconds() == pytest.approx(240, abs=1)
    registers = [m["sampledValue"][0]["value"] for m in ended["meterValue"]]
    assert registers == sorted(registers) and registers[0] < registers[-1]
    assert [v["measurand"] for v in first["sampledValue"]] == [
        "Energy.Active.Import.Register",
        "SoC",
    ]
    assert all(r.valid for r in csms.received)


async def test_tx_ended_interval_changed_during_a_transaction_applies_at_once(
    twin: ChargePointTwin, csms: ScriptedCsms201, clock: VirtualClock
) -> None:
    await twin.plug_in(1, make_vehicle(), "veh-1")
    started = await twin.start_transaction(1, "TAG")
    await settle(clock, 100)
    await set_variable(csms, "SampledDataCtrlr", "TxEndedInterval", "60")
    await settle(clock, 100)  # samples at 120 and 180 s from the start
    await twin.stop_transaction(started.transaction_ref)
    ended = await csms.wait_for("TransactionEvent", lambda p: p["eventType"] == "Ended")
    begin, *periodic, _ = ended.payload["meterValue"]
    offsets = [round((at(m) - at(begin)).total_seconds()) for m in periodic]
    assert offsets == [120, 180]


async def test_tx_ended_samples_survive_a_restore(
    csms: ScriptedCsms201, clock: VirtualClock
) -> None:
    old = await booted_twin(csms, EventLog(), clock=clock)
    await set_variable(csms, "SampledDataCtrlr", "TxEndedInterval", "60")
    await old.plug_in(1, make_vehicle(), "veh-1")
    started = await old.start_transaction(1, "TAG")
    await settle(clock, 130)
    state = json.loads(json.dumps(old.save_state()))
    await old.close()

    config = replace(
        old.config, ocpp_configuration={"SampledDataCtrlr/TxEndedInterval": "60"}
    )  # as the host keeps it from ConfigurationChanged
    twin = ChargePointTwin(config, clock, EventLog())
    twin.restore_state(state, resume=True, last_alive=clock.now())
    try:
        await twin.start()
        await twin.connected(timeout=5)
        await settle(clock, 60)
        await twin.stop_transaction(started.transaction_ref)
        ended = await csms.wait_for("TransactionEvent", lambda p: p["eventType"] == "Ended")
        begin, *periodic, _ = ended.payload["meterValue"]
        offsets = [round((at(m) - at(begin)).total_seconds()) for m in periodic]
        assert offsets == [60, 120, 180]
    finally:
        await twin.close()


# -- MaxEnergyOnInvalidId ---------------------------------------------------------------------


async def start_with_a_token_found_invalid(twin: ChargePointTwin, csms: ScriptedCsms201) -> str:
    """Authorize accepts BAD, the answer to TransactionEvent Started says Invalid."""
    csms.answer("Authorize", {"idTokenInfo": {"status": "Accepted"}})
    csms.rejected_id_tags.add("BAD")
    await twin.plug_in(1, make_vehicle(soc=20), "veh-1")
    with pytest.raises(Rejected, match="BAD"):
        await twin.start_transaction(1, "BAD")
    return csms.transaction_events()[0]["transactionInfo"]["transactionId"]


def register(meter_value: dict[str, Any]) -> float:
    return float(meter_value["sampledValue"][0]["value"])


async def test_an_invalid_token_ends_the_transaction_at_once_by_default(
    twin: ChargePointTwin, csms: ScriptedCsms201
) -> None:
    ref = await start_with_a_token_found_invalid(twin, csms)
    await eventually(lambda: events_of(csms, ref)[-1][0] == "Ended")
    ended = csms.transaction_events(ref)[-1]
    assert ended["triggerReason"] == "Deauthorized"
    assert info(ended)["stoppedReason"] == "DeAuthorized"


async def test_an_invalid_token_charges_on_up_to_max_energy_on_invalid_id(
    twin: ChargePointTwin, csms: ScriptedCsms201, clock: VirtualClock
) -> None:
    await set_variable(csms, "TxCtrlr", "MaxEnergyOnInvalidId", "1000")
    ref = await start_with_a_token_found_invalid(twin, csms)
    await settle(clock, 120)  # 22 kW: 1,000 Wh take about 164 s
    assert [e for e, _ in events_of(csms, ref)] == ["Started", "Updated", "Updated"]
    assert twin.snapshot()["connectors"][0]["power_kw"] > 0
    await settle(clock, 60)
    await eventually(lambda: events_of(csms, ref)[-1][0] == "Ended")
    ended = csms.transaction_events(ref)[-1]
    assert ended["triggerReason"] == "EnergyLimitReached"
    assert info(ended)["stoppedReason"] == "DeAuthorized"
    begin, end = ended["meterValue"]
    assert register(end) - register(begin) == pytest.approx(1000, abs=2)
    assert all(r.valid for r in csms.received)


async def test_max_energy_on_invalid_id_then_suspends_without_stop_tx_on_invalid_id(
    twin: ChargePointTwin, csms: ScriptedCsms201, clock: VirtualClock
) -> None:
    await set_variable(csms, "TxCtrlr", "MaxEnergyOnInvalidId", "1000")
    await set_variable(csms, "TxCtrlr", "StopTxOnInvalidId", "false")
    ref = await start_with_a_token_found_invalid(twin, csms)
    await settle(clock, 180)
    changed = [
        info(p).get("chargingState")
        for p in csms.transaction_events(ref)
        if p["triggerReason"] == "ChargingStateChanged"
    ]
    assert changed == ["SuspendedEVSE"]
    assert twin.snapshot()["connectors"][0]["power_kw"] == 0
    energy = twin.snapshot()["transactions"][0]["energy_kwh"]
    assert energy * 1000 == pytest.approx(1000, abs=2)
    await settle(clock, 600)
    assert twin.snapshot()["transactions"][0]["energy_kwh"] == energy
    assert "Ended" not in [e for e, _ in events_of(csms, ref)]
