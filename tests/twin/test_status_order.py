"""The order of status reports and transaction messages, as a real charger sends them.

OCPP 1.6: the connector reports Preparing, the charger sends StartTransaction, and
reports Charging (or SuspendedEV / SuspendedEVSE when no power flows) once the CSMS
has accepted it; offline, the statuses sent after the reconnect follow the same order.
OCPP 2.0.1: the connector goes Occupied before TransactionEvent Started, which
carries the charging state; nothing reports charging before it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.twin.scripted_csms import (
    NO_ANSWER,
    EventLog,
    ScriptedCsms,
    booted_twin,
    eventually,
    make_vehicle,
)
from tests.twin.scripted_csms201 import ScriptedCsms201
from tests.twin.scripted_csms201 import booted_twin as booted_twin_201
from worker.twin.errors import CommandTimeout
from worker.twin.events import ConnectorChanged

SESSION = ("StatusNotification", "Authorize", "StartTransaction", "StopTransaction")


def sequence(csms: ScriptedCsms, connector_id: int = 1) -> list[str]:
    """The session's CALLs for one connector, a StatusNotification named by its status."""
    seen = []
    for r in csms.received:
        if r.action not in SESSION:
            continue
        if r.action == "StatusNotification":
            if r.payload["connectorId"] == connector_id:
                seen.append(r.payload["status"])
        elif r.action != "StartTransaction" or r.payload["connectorId"] == connector_id:
            seen.append(r.action)
    return seen


async def test_charging_is_reported_once_the_start_is_accepted(
    csms: ScriptedCsms, events: EventLog
) -> None:
    twin = await booted_twin(csms, events)
    await twin.plug_in(1, make_vehicle(), "veh-1")
    await twin.start_transaction(1, "TAG-1")
    await csms.wait_for("StatusNotification", lambda p: p["status"] == "Charging")
    assert sequence(csms) == ["Available", "Preparing", "Authorize", "StartTransaction", "Charging"]
    await twin.close()


async def test_a_start_that_plugs_in_reports_preparing_first(
    csms: ScriptedCsms, events: EventLog
) -> None:
    twin = await booted_twin(csms, events)
    await twin.start_transaction(1, "TAG-1", make_vehicle(), "veh-1")
    await csms.wait_for("StatusNotification", lambda p: p["status"] == "Charging")
    seen = sequence(csms)
    assert seen.index("Preparing") < seen.index("StartTransaction") < seen.index("Charging")
    assert seen[-2:] == ["StartTransaction", "Charging"]
    await twin.close()


async def test_a_full_vehicle_is_suspended_ev_after_the_start(
    csms: ScriptedCsms, events: EventLog
) -> None:
    twin = await booted_twin(csms, events)
    await twin.plug_in(1, make_vehicle(soc=100.0), "veh-1")
    await twin.start_transaction(1, "TAG-1")
    await csms.wait_for("StatusNotification", lambda p: p["status"] == "SuspendedEV")
    assert sequence(csms)[-3:] == ["Authorize", "StartTransaction", "SuspendedEV"]
    assert "Charging" not in sequence(csms)
    await twin.close()


async def test_unanswered_start_stays_preparing(csms: ScriptedCsms, events: EventLog) -> None:
    csms.answer("StartTransaction", NO_ANSWER)
    twin = await booted_twin(csms, events)
    await twin.plug_in(1, make_vehicle(), "veh-1")
    with pytest.raises(CommandTimeout):
        await twin.start_transaction(1, "TAG-1", timeout=0.5)
    await asyncio.sleep(0.1)
    assert sequence(csms)[-2:] == ["Authorize", "StartTransaction"]
    assert twin.snapshot()["connectors"][0]["status"] == "Preparing"
    assert events.of(ConnectorChanged)[-1].status == "Preparing"
    await twin.stop()  # offline it charges, the start queued for the next connection
    assert events.of(ConnectorChanged)[-1].status == "Charging"
    await twin.close()


async def test_offline_start_is_reported_in_order_after_the_reconnect(
    csms: ScriptedCsms, events: EventLog
) -> None:
    twin = await booted_twin(csms, events)
    await twin.plug_in(1, make_vehicle(), "veh-1")
    first = await twin.start_transaction(1, "TAG")  # caches the id tag
    await twin.stop_transaction(first.transaction_ref)
    await csms.wait_for("StopTransaction")
    await twin.stop()
    offline = await twin.start_transaction(1, "TAG")
    assert offline.csms_transaction_id is None
    before = len(csms.received)

    await twin.start()
    await twin.connected(timeout=5)
    await csms.wait_for("StartTransaction", count=2)
    await eventually(lambda: sequence(csms)[-1] == "Charging")
    after = [
        r.payload["status"] if r.action == "StatusNotification" else r.action
        for r in csms.received[before:]
        if r.action in ("StatusNotification", "StartTransaction")
        and r.payload.get("connectorId") == 1
    ]
    assert after == ["Preparing", "StartTransaction", "Charging"]
    await twin.close()


async def test_201_occupied_then_started_with_its_charging_state() -> None:
    csms = await ScriptedCsms201().start()
    events = EventLog()
    try:
        twin = await booted_twin_201(csms, events)
        await twin.start_transaction(1, "TAG-1", make_vehicle(), "veh-1")
        await eventually(lambda: len(csms.transaction_events()) >= 1)
        await asyncio.sleep(0.1)
        order: list[Any] = [
            r.payload["connectorStatus"]
            if r.action == "StatusNotification"
            else (r.payload["eventType"], r.payload["transactionInfo"].get("chargingState"))
            for r in csms.received
            if r.action == "StatusNotification"
            or (
                r.action == "TransactionEvent"
                and r.payload["triggerReason"] != "MeterValuePeriodic"
            )
        ]
        assert order == ["Available", "Occupied", ("Started", "Charging")], order
        assert twin.snapshot()["connectors"][0]["status"] == "Charging"
        await twin.close()
    finally:
        await csms.stop()
