"""OCPP 1.6 configuration keys that change what the charge point does: each at its
default and changed, as the CSMS sees it (StopTransactionOnEVSideDisconnect,
ConnectionTimeOut for a remote start and for a vehicle plugged in without authorisation,
MinimumStatusDuration, MaxEnergyOnInvalidId)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from ocpp.v16 import call

from tests.twin.scripted_csms import (
    EventLog,
    ScriptedCsms,
    eventually,
    make_config,
    make_vehicle,
    sampled,
)
from worker.twin.charge_point import ChargePointTwin
from worker.twin.clock import VirtualClock
from worker.twin.errors import Rejected
from worker.twin.events import VehicleChanged

START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
SETTLE = 0.05


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(start=START)


async def booted(
    csms: ScriptedCsms, clock: VirtualClock, events: EventLog, **configuration: str
) -> ChargePointTwin:
    config = make_config(
        csms.url, connector_types=("cType2", "cType2"), ocpp_configuration=configuration
    )
    twin = ChargePointTwin(config, clock, events)
    await twin.start()
    await twin.connected(timeout=5)
    return twin


@pytest.fixture
async def twin(
    csms: ScriptedCsms, clock: VirtualClock, events: EventLog
) -> AsyncIterator[ChargePointTwin]:
    twin = await booted(csms, clock, events)
    yield twin
    await twin.close()


def statuses(csms: ScriptedCsms, connector_id: int, since: int = 0) -> list[str]:
    return [
        r.payload["status"]
        for r in csms.received[since:]
        if r.action == "StatusNotification" and r.payload["connectorId"] == connector_id
    ]


def actions(csms: ScriptedCsms, since: int = 0) -> list[str]:
    return [r.action for r in csms.received[since:]]


async def change(csms: ScriptedCsms, key: str, value: str) -> None:
    result = await csms.call("CP1", call.ChangeConfiguration(key=key, value=value))
    assert result.status == "Accepted"


async def settle(clock: VirtualClock, seconds: float = 0) -> None:
    await clock.advance(seconds, settle=SETTLE)


def through_json(state: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(state))


# -- StopTransactionOnEVSideDisconnect ------------------------------------------------------


async def test_unplugging_stops_the_transaction_by_default(
    twin: ChargePointTwin, csms: ScriptedCsms
) -> None:
    await twin.plug_in(1, make_vehicle(), "veh-1")
    await twin.start_transaction(1, "TAG")
    await twin.unplug(1)
    stop = await csms.wait_for("StopTransaction")
    assert stop.payload["reason"] == "EVDisconnected"
    await eventually(lambda: statuses(csms, 1)[-1] == "Available")
    assert all(r.valid for r in csms.received)


async def test_unplugging_keeps_the_transaction_when_configured(
    twin: ChargePointTwin, csms: ScriptedCsms, clock: VirtualClock
) -> None:
    await change(csms, "StopTransactionOnEVSideDisconnect", "false")
    await twin.plug_in(1, make_vehicle(), "veh-1")
    started = await twin.start_transaction(1, "TAG")
    await eventually(lambda: statuses(csms, 1)[-1:] == ["Charging"])
    await twin.unplug(1)
    await eventually(lambda: statuses(csms, 1)[-1:] == ["SuspendedEV"])
    await settle(clock, 60)
    meter = await csms.wait_for("MeterValues")
    assert sampled(meter.payload)["Power.Active.Import"] == 0
    assert csms.of("StopTransaction") == []
    assert twin.snapshot()["transactions"][0]["status"] == "SuspendedEV"

    await twin.plug_in(1, make_vehicle(), "veh-1")  # back in: charging resumes
    await eventually(lambda: statuses(csms, 1)[-1:] == ["Charging"])
    await settle(clock, 60)
    meter = await csms.wait_for("MeterValues", count=2)
    assert sampled(meter.payload)["Power.Active.Import"] > 0

    await twin.unplug(1)
    await eventually(lambda: statuses(csms, 1)[-1:] == ["SuspendedEV"])
    await twin.stop_transaction(started.transaction_ref)  # stopped otherwise, unplugged
    stop = await csms.wait_for("StopTransaction")
    assert stop.payload["reason"] == "Local"
    await eventually(lambda: statuses(csms, 1)[-1:] == ["Available"])
    assert all(r.valid for r in csms.received)


async def test_a_transaction_kept_unplugged_survives_a_restart(
    csms: ScriptedCsms, clock: VirtualClock
) -> None:
    old = await booted(csms, clock, EventLog(), StopTransactionOnEVSideDisconnect="false")
    await old.plug_in(1, make_vehicle(), "veh-1")
    started = await old.start_transaction(1, "TAG")
    await old.unplug(1)
    await eventually(lambda: statuses(csms, 1)[-1:] == ["SuspendedEV"])
    state = through_json(old.save_state())
    await old.close()

    config = make_config(
        csms.url,
        connector_types=("cType2", "cType2"),
        ocpp_configuration={"StopTransactionOnEVSideDisconnect": "false"},
    )
    twin = ChargePointTwin(config, clock, EventLog())
    twin.restore_state(state, resume=True, last_alive=clock.now())
    before = len(csms.received)
    try:
        await twin.start()
        await twin.connected(timeout=5)
        assert statuses(csms, 1, before) == ["SuspendedEV"]
        await twin.plug_in(1, make_vehicle(), "veh-1")
        await eventually(lambda: statuses(csms, 1, before)[-1:] == ["Charging"])
        assert twin.snapshot()["transactions"][0]["transaction_ref"] == started.transaction_ref
        assert "StopTransaction" not in actions(csms, before)
    finally:
        await twin.close()


# -- ConnectionTimeOut ------------------------------------------------------------------------


async def remote_start_without_vehicle(csms: ScriptedCsms, since: int = 0) -> None:
    result = await csms.call("CP1", call.RemoteStartTransaction(id_tag="TAG", connector_id=1))
    assert result.status == "Accepted"
    await csms.wait_for("Authorize")
    await eventually(lambda: statuses(csms, 1, since)[-1:] == ["Preparing"])


async def test_a_remote_start_without_vehicle_is_cancelled_after_the_connection_timeout(
    twin: ChargePointTwin, csms: ScriptedCsms, clock: VirtualClock
) -> None:
    await remote_start_without_vehicle(csms)  # ConnectionTimeOut: 60 s by default
    await settle(clock, 59)
    assert statuses(csms, 1)[-1] == "Preparing"
    await settle(clock, 2)
    await eventually(lambda: statuses(csms, 1)[-2:] == ["Preparing", "Available"])

    await twin.plug_in(1, make_vehicle(), "veh-1")  # too late: nothing starts
    await eventually(lambda: statuses(csms, 1)[-1:] == ["Preparing"])
    await settle(clock, 1)
    assert csms.of("StartTransaction") == []
    assert all(r.valid for r in csms.received)


async def test_a_vehicle_plugged_in_within_the_connection_timeout_starts_the_transaction(
    twin: ChargePointTwin, csms: ScriptedCsms, clock: VirtualClock
) -> None:
    await change(csms, "ConnectionTimeOut", "120")
    await remote_start_without_vehicle(csms)
    await settle(clock, 90)
    await twin.plug_in(1, make_vehicle(), "veh-1")
    start = await csms.wait_for("StartTransaction")
    assert start.payload["idTag"] == "TAG"
    assert start.payload["connectorId"] == 1
    await eventually(lambda: statuses(csms, 1)[-1:] == ["Charging"])
    await settle(clock, 60)  # the timeout has no hold on a started transaction
    assert statuses(csms, 1)[-1] == "Charging"
    assert all(r.valid for r in csms.received)


async def plug_in_without_authorisation(
    twin: ChargePointTwin, csms: ScriptedCsms, since: int = 0
) -> None:
    await twin.plug_in(1, make_vehicle(), "veh-1")
    await eventually(lambda: statuses(csms, 1, since)[-1:] == ["Preparing"])


def connector_read(twin: ChargePointTwin, connector_id: int) -> dict[str, Any]:
    return next(c for c in twin.snapshot()["connectors"] if c["connector_id"] == connector_id)


async def test_a_vehicle_plugged_in_without_authorisation_goes_back_to_available_after_the_timeout(
    twin: ChargePointTwin, csms: ScriptedCsms, clock: VirtualClock, events: EventLog
) -> None:
    await plug_in_without_authorisation(twin, csms)  # ConnectionTimeOut: 60 s by default
    await settle(clock, 59)
    assert statuses(csms, 1)[-1] == "Preparing"
    await settle(clock, 2)
    await eventually(lambda: statuses(csms, 1)[-2:] == ["Preparing", "Available"])
    read = connector_read(twin, 1)
    assert read["status"] == "Available"
    assert read["vehicle_ref"] == "veh-1"  # still plugged in
    vehicle_statuses = [e.status for e in events.of(VehicleChanged)]
    assert vehicle_statuses[-1] == "plugged-in"
    await settle(clock, 120)
    assert statuses(csms, 1)[-1] == "Available"  # nothing more while it stays in
    assert csms.of("StartTransaction") == []
    assert all(r.valid for r in csms.received)


async def test_a_start_after_the_timeout_prepares_then_charges(
    twin: ChargePointTwin, csms: ScriptedCsms, clock: VirtualClock
) -> None:
    await plug_in_without_authorisation(twin, csms)
    await settle(clock, 61)
    await eventually(lambda: statuses(csms, 1)[-1:] == ["Available"])
    before = len(csms.received)

    started = await twin.start_transaction(1, "TAG")
    await eventually(lambda: statuses(csms, 1, before)[-1:] == ["Charging"])
    sequence = [
        r.payload["status"] if r.action == "StatusNotification" else r.action
        for r in csms.received[before:]
        if r.action != "StatusNotification" or r.payload["connectorId"] == 1
    ]
    assert sequence == ["Authorize", "Preparing", "StartTransaction", "Charging"]
    assert started.csms_transaction_id is not None
    assert all(r.valid for r in csms.received)


async def test_a_remote_start_after_the_timeout_starts_on_the_plugged_vehicle(
    twin: ChargePointTwin, csms: ScriptedCsms, clock: VirtualClock
) -> None:
    await plug_in_without_authorisation(twin, csms)
    await settle(clock, 61)
    await eventually(lambda: statuses(csms, 1)[-1:] == ["Available"])
    before = len(csms.received)
    result = await csms.call("CP1", call.RemoteStartTransaction(id_tag="TAG", connector_id=1))
    assert result.status == "Accepted"
    start = await csms.wait_for("StartTransaction")
    assert start.payload["idTag"] == "TAG"
    await eventually(lambda: statuses(csms, 1, before) == ["Preparing", "Charging"])
    assert all(r.valid for r in csms.received)


async def test_authorisation_within_the_timeout_keeps_the_connector_preparing_then_charging(
    twin: ChargePointTwin, csms: ScriptedCsms, clock: VirtualClock
) -> None:
    await plug_in_without_authorisation(twin, csms)
    await settle(clock, 50)
    await twin.start_transaction(1, "TAG")
    await eventually(lambda: statuses(csms, 1)[-1:] == ["Charging"])
    await settle(clock, 60)
    assert statuses(csms, 1) == ["Available", "Preparing", "Charging"]


async def test_connection_timeout_0_lets_a_plugged_vehicle_wait_as_long_as_it_takes(
    twin: ChargePointTwin, csms: ScriptedCsms, clock: VirtualClock
) -> None:
    await change(csms, "ConnectionTimeOut", "0")
    await plug_in_without_authorisation(twin, csms)
    await settle(clock, 3600)
    assert statuses(csms, 1)[-1] == "Preparing"


async def test_connection_timeout_changed_while_a_plugged_vehicle_waits_applies_at_once(
    twin: ChargePointTwin, csms: ScriptedCsms, clock: VirtualClock
) -> None:
    await plug_in_without_authorisation(twin, csms)
    await settle(clock, 20)
    await change(csms, "ConnectionTimeOut", "300")  # counted from the plug-in
    await settle(clock, 100)
    assert statuses(csms, 1)[-1] == "Preparing"
    await change(csms, "ConnectionTimeOut", "0")
    await settle(clock, 400)
    assert statuses(csms, 1)[-1] == "Preparing"
    await change(csms, "ConnectionTimeOut", "30")  # long past: it runs out at once
    await eventually(lambda: statuses(csms, 1)[-1:] == ["Available"])


async def test_unplugging_and_plugging_in_again_starts_a_new_wait(
    twin: ChargePointTwin, csms: ScriptedCsms, clock: VirtualClock
) -> None:
    await plug_in_without_authorisation(twin, csms)
    await settle(clock, 61)
    await eventually(lambda: statuses(csms, 1)[-1:] == ["Available"])
    await twin.unplug(1)
    await settle(clock, 1)
    assert statuses(csms, 1)[-1] == "Available"  # no repeat: it was Available already
    await plug_in_without_authorisation(twin, csms)
    await settle(clock, 59)
    assert statuses(csms, 1)[-1] == "Preparing"
    await settle(clock, 2)
    await eventually(lambda: statuses(csms, 1)[-1:] == ["Available"])


async def test_a_plugged_vehicle_waiting_for_authorisation_keeps_its_wait_across_a_restart(
    csms: ScriptedCsms, clock: VirtualClock
) -> None:
    old = await booted(csms, clock, EventLog())
    await plug_in_without_authorisation(old, csms)
    await settle(clock, 40)
    state = through_json(old.save_state())
    await old.close()

    twin = ChargePointTwin(
        make_config(csms.url, connector_types=("cType2", "cType2")), clock, EventLog()
    )
    twin.restore_state(state, resume=True, last_alive=clock.now())
    before = len(csms.received)
    try:
        await twin.start()
        await twin.connected(timeout=5)
        await eventually(lambda: statuses(csms, 1, before) == ["Preparing"])
        await settle(clock, 19)
        assert statuses(csms, 1, before) == ["Preparing"]  # 60 s from the plug-in, not restore
        await settle(clock, 2)
        await eventually(lambda: statuses(csms, 1, before) == ["Preparing", "Available"])
    finally:
        await twin.close()


async def test_a_connector_back_to_available_stays_so_across_a_restart(
    csms: ScriptedCsms, clock: VirtualClock
) -> None:
    old = await booted(csms, clock, EventLog())
    await plug_in_without_authorisation(old, csms)
    await settle(clock, 61)
    await eventually(lambda: statuses(csms, 1)[-1:] == ["Available"])
    state = through_json(old.save_state())
    await old.close()

    twin = ChargePointTwin(
        make_config(csms.url, connector_types=("cType2", "cType2")), clock, EventLog()
    )
    twin.restore_state(state, resume=True, last_alive=clock.now())
    before = len(csms.received)
    try:
        await twin.start()
        await twin.connected(timeout=5)
        await eventually(lambda: statuses(csms, 1, before) == ["Available"])
        assert connector_read(twin, 1)["vehicle_ref"] == "veh-1"
        await twin.start_transaction(1, "TAG")
        await eventually(
            lambda: statuses(csms, 1, before) == ["Available", "Preparing", "Charging"]
        )
    finally:
        await twin.close()


async def test_a_connector_waiting_for_the_vehicle_is_occupied_and_a_reset_cancels_the_wait(
    twin: ChargePointTwin, csms: ScriptedCsms, clock: VirtualClock
) -> None:
    await remote_start_without_vehicle(csms)
    expiry = (clock.now().replace(microsecond=0)).isoformat()
    reserve = await csms.call(
        "CP1", call.ReserveNow(connector_id=1, expiry_date=expiry, id_tag="OTHER", reservation_id=1)
    )
    assert reserve.status == "Occupied"
    reset = await csms.call("CP1", call.Reset(type="Soft"))
    assert reset.status == "Accepted"
    await csms.wait_for("BootNotification", count=2)
    await twin.connected(timeout=5)
    await eventually(lambda: statuses(csms, 1)[-1:] == ["Available"])
    await twin.plug_in(1, make_vehicle(), "veh-1")
    await settle(clock, 1)
    assert csms.of("StartTransaction") == []


async def test_connection_timeout_0_rejects_a_remote_start_without_vehicle(
    twin: ChargePointTwin, csms: ScriptedCsms
) -> None:
    await change(csms, "ConnectionTimeOut", "0")
    result = await csms.call("CP1", call.RemoteStartTransaction(id_tag="TAG", connector_id=1))
    assert result.status == "Rejected"


async def test_a_remote_start_waiting_for_the_vehicle_survives_a_restart(
    csms: ScriptedCsms, clock: VirtualClock
) -> None:
    old = await booted(csms, clock, EventLog())
    await remote_start_without_vehicle(csms)
    await settle(clock, 30)
    state = through_json(old.save_state())
    await old.close()

    twin = ChargePointTwin(
        make_config(csms.url, connector_types=("cType2", "cType2")), clock, EventLog()
    )
    twin.restore_state(state, resume=True, last_alive=clock.now())
    before = len(csms.received)
    try:
        await twin.start()
        await twin.connected(timeout=5)
        assert statuses(csms, 1, before) == ["Preparing"]
        await settle(clock, 20)
        await twin.plug_in(1, make_vehicle(), "veh-1")
        start = await csms.wait_for("StartTransaction")
        assert start.payload["idTag"] == "TAG"
    finally:
        await twin.close()


async def test_a_restored_remote_start_still_times_out(
    csms: ScriptedCsms, clock: VirtualClock
) -> None:
    old = await booted(csms, clock, EventLog())
    await remote_start_without_vehicle(csms)
    await settle(clock, 1)  # the Authorize answered
    state = through_json(old.save_state())
    await old.close()

    twin = ChargePointTwin(
        make_config(csms.url, connector_types=("cType2", "cType2")), clock, EventLog()
    )
    twin.restore_state(state, resume=True, last_alive=clock.now())
    before = len(csms.received)
    try:
        await twin.start()
        await twin.connected(timeout=5)
        await settle(clock, 60)
        await eventually(lambda: statuses(csms, 1, before) == ["Preparing", "Available"])
    finally:
        await twin.close()


async def test_connection_timeout_changed_while_waiting_applies_at_once(
    twin: ChargePointTwin, csms: ScriptedCsms, clock: VirtualClock
) -> None:
    await remote_start_without_vehicle(csms)
    await settle(clock, 20)
    await change(csms, "ConnectionTimeOut", "30")  # counted from the beginning of Preparing
    await settle(clock, 9)
    assert statuses(csms, 1)[-1] == "Preparing"
    await settle(clock, 2)
    await eventually(lambda: statuses(csms, 1)[-1:] == ["Available"])


# -- MaxEnergyOnInvalidId ---------------------------------------------------------------------


async def start_with_an_id_tag_found_invalid(twin: ChargePointTwin, csms: ScriptedCsms) -> None:
    """Authorize accepts BAD, StartTransaction.conf says Invalid."""
    csms.answer("Authorize", {"idTagInfo": {"status": "Accepted"}})
    csms.rejected_id_tags.add("BAD")
    await twin.plug_in(1, make_vehicle(), "veh-1")
    with pytest.raises(Rejected, match="BAD"):
        await twin.start_transaction(1, "BAD")


async def test_an_invalid_id_tag_stops_the_transaction_at_once_by_default(
    twin: ChargePointTwin, csms: ScriptedCsms
) -> None:
    await start_with_an_id_tag_found_invalid(twin, csms)
    stop = await csms.wait_for("StopTransaction")
    assert stop.payload["reason"] == "DeAuthorized"
    start = csms.of("StartTransaction")[0]
    assert stop.payload["meterStop"] == start.payload["meterStart"]


async def test_an_invalid_id_tag_charges_on_up_to_max_energy_on_invalid_id(
    twin: ChargePointTwin, csms: ScriptedCsms, clock: VirtualClock
) -> None:
    await change(csms, "MaxEnergyOnInvalidId", "500")
    await start_with_an_id_tag_found_invalid(twin, csms)
    await settle(clock, 60)  # 22 kW: 500 Wh take about 82 s
    assert csms.of("StopTransaction") == []
    await settle(clock, 30)
    stop = await csms.wait_for("StopTransaction")
    assert stop.payload["reason"] == "DeAuthorized"
    start = csms.of("StartTransaction")[0]
    assert stop.payload["meterStop"] - start.payload["meterStart"] == pytest.approx(500, abs=2)
    await settle(clock, 120)
    assert "MeterValues" not in actions(csms, csms.received.index(stop))
    assert all(r.valid for r in csms.received)


async def test_max_energy_on_invalid_id_survives_a_restart(
    csms: ScriptedCsms, clock: VirtualClock
) -> None:
    old = await booted(csms, clock, EventLog(), MaxEnergyOnInvalidId="500")
    await start_with_an_id_tag_found_invalid(old, csms)
    await settle(clock, 40)
    state = through_json(old.save_state())
    await old.close()

    config = make_config(
        csms.url,
        connector_types=("cType2", "cType2"),
        ocpp_configuration={"MaxEnergyOnInvalidId": "500"},
    )
    twin = ChargePointTwin(config, clock, EventLog())
    twin.restore_state(state, resume=True, last_alive=clock.now())
    try:
        await twin.start()
        await twin.connected(timeout=5)
        await settle(clock, 60)
        stop = await csms.wait_for("StopTransaction")
        start = csms.of("StartTransaction")[0]
        assert stop.payload["reason"] == "DeAuthorized"
        assert stop.payload["meterStop"] - start.payload["meterStart"] == pytest.approx(500, abs=2)
    finally:
        await twin.close()


# -- MinimumStatusDuration --------------------------------------------------------------------

SESSION = ("StatusNotification", "Authorize", "StartTransaction", "StopTransaction")


def sequence(csms: ScriptedCsms, since: int = 0) -> list[str]:
    """Connector 1's session CALLs, a StatusNotification named by its status."""
    seen = []
    for r in csms.received[since:]:
        if r.action not in SESSION:
            continue
        if r.action == "StatusNotification":
            if r.payload["connectorId"] == 1:
                seen.append(r.payload["status"])
        else:
            seen.append(r.action)
    return seen


async def test_every_status_is_reported_at_once_by_default(
    twin: ChargePointTwin, csms: ScriptedCsms
) -> None:
    before = len(csms.received)
    await twin.plug_in(1, make_vehicle(), "veh-1")
    await twin.start_transaction(1, "TAG")
    await eventually(lambda: sequence(csms, before)[-1:] == ["Charging"])
    assert sequence(csms, before) == ["Preparing", "Authorize", "StartTransaction", "Charging"]


async def test_a_status_shorter_than_minimum_status_duration_is_not_reported(
    twin: ChargePointTwin, csms: ScriptedCsms, clock: VirtualClock
) -> None:
    await change(csms, "MinimumStatusDuration", "10")
    before = len(csms.received)
    await twin.plug_in(1, make_vehicle(), "veh-1")
    await settle(clock, 3)
    await twin.start_transaction(1, "TAG")  # Preparing lasted 3 s
    await settle(clock, 9)
    assert sequence(csms, before) == ["Authorize", "StartTransaction"]
    await settle(clock, 1)  # Charging has lasted 10 s
    await eventually(lambda: sequence(csms, before)[-1:] == ["Charging"])
    assert sequence(csms, before) == ["Authorize", "StartTransaction", "Charging"]

    transaction = twin.snapshot()["transactions"][0]["transaction_ref"]
    await twin.stop_transaction(transaction)  # Finishing...
    await settle(clock, 5)
    await twin.unplug(1)  # ...for 5 s, then Available for good
    await settle(clock, 10)
    await eventually(lambda: sequence(csms, before)[-1:] == ["Available"])
    assert sequence(csms, before)[-3:] == ["Charging", "StopTransaction", "Available"]
    assert all(r.valid for r in csms.received)


async def test_a_status_back_to_the_reported_one_within_the_duration_sends_nothing(
    twin: ChargePointTwin, csms: ScriptedCsms, clock: VirtualClock
) -> None:
    await change(csms, "MinimumStatusDuration", "10")
    before = len(csms.received)
    await twin.plug_in(1, make_vehicle(), "veh-1")
    await settle(clock, 4)
    await twin.unplug(1)
    await settle(clock, 20)
    assert sequence(csms, before) == []
    await twin.plug_in(1, make_vehicle(), "veh-1")
    await settle(clock, 10)
    await eventually(lambda: sequence(csms, before) == ["Preparing"])


async def test_minimum_status_duration_changed_applies_at_once(
    twin: ChargePointTwin, csms: ScriptedCsms, clock: VirtualClock
) -> None:
    await change(csms, "MinimumStatusDuration", "60")
    before = len(csms.received)
    await twin.plug_in(1, make_vehicle(), "veh-1")
    await settle(clock, 10)
    assert sequence(csms, before) == []
    await change(csms, "MinimumStatusDuration", "5")  # Preparing has held 10 s
    await eventually(lambda: sequence(csms, before) == ["Preparing"])


async def test_max_energy_on_invalid_id_lowered_below_what_was_drawn_stops_at_once(
    twin: ChargePointTwin, csms: ScriptedCsms, clock: VirtualClock
) -> None:
    await change(csms, "MaxEnergyOnInvalidId", "5000")
    await start_with_an_id_tag_found_invalid(twin, csms)
    await settle(clock, 60)  # about 366 Wh
    assert csms.of("StopTransaction") == []
    await change(csms, "MaxEnergyOnInvalidId", "200")
    stop = await csms.wait_for("StopTransaction")
    assert stop.payload["reason"] == "DeAuthorized"
    start = csms.of("StartTransaction")[0]
    assert 300 < stop.payload["meterStop"] - start.payload["meterStart"] < 400
