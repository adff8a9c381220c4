"""OCPP 1.6: a twin saved in one process and restored in another.

Resumed, the CSMS sees a reconnect and the session carrying on; restored after a
long outage, it sees a charger that lost power. The store hook makes a
transaction message wait until the state holding it is written; the permit hook
keeps a twin whose host lost the lease off the wire.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.twin.scripted_csms import (
    NO_ANSWER,
    EventLog,
    Received,
    ScriptedCsms,
    eventually,
    make_config,
    make_vehicle,
)
from worker.twin.charge_point import ChargePointTwin
from worker.twin.clock import VirtualClock
from worker.twin.connection import ConnectionLoop
from worker.twin.events import ConnectorChanged, FrameLogged, TransactionChanged, VehicleChanged
from worker.twin.smart_charging import format_time

START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
SETTLE = 0.05


def register(received: Received) -> float:
    for value in received.payload["meterValue"][0]["sampledValue"]:
        if value["measurand"] == "Energy.Active.Import.Register":
            return float(value["value"])
    raise AssertionError("no register")


def actions_since(csms: ScriptedCsms, index: int) -> list[str]:
    return [r.action for r in csms.received[index:]]


def through_json(state: dict[str, Any]) -> dict[str, Any]:
    """What a host stores and reads back."""
    return json.loads(json.dumps(state))


async def new_twin(csms: ScriptedCsms, clock: VirtualClock, **kwargs: Any) -> ChargePointTwin:
    config = make_config(csms.url, ocpp_configuration={"AllowOfflineTxForUnknownId": "true"})
    return ChargePointTwin(config, clock, kwargs.pop("events", EventLog()), **kwargs)


async def charging_twin(
    csms: ScriptedCsms, clock: VirtualClock, events: EventLog
) -> tuple[ChargePointTwin, TransactionChanged]:
    """Booted, vehicle plugged in, transaction 1 charging, two MeterValues delivered."""
    twin = await new_twin(csms, clock, events=events)
    await twin.start()
    await twin.connected(timeout=5)
    await twin.plug_in(1, make_vehicle(soc=20.0), "veh-1")
    started = await twin.start_transaction(1, "TAG")
    await clock.advance(120, settle=SETTLE)
    await csms.wait_for("MeterValues", count=2)
    return twin, started


async def test_resumed_twin_carries_on_the_session_without_booting(csms: ScriptedCsms) -> None:
    clock = VirtualClock(start=START)
    old, started = await charging_twin(csms, clock, EventLog())
    state = through_json(old.save_state())
    await old.close()  # the process is gone
    seen = max(register(r) for r in csms.of("MeterValues"))
    assert state["version"] == 1
    assert state["connectors"][0]["register_wh"] >= seen

    await clock.advance(600)  # down for ten minutes: nothing is counted for them
    before = len(csms.received)
    events = EventLog()
    twin = await new_twin(csms, clock, events=events)
    twin.restore_state(state, resume=True, last_alive=clock.now())
    try:
        await twin.start()
        await twin.connected(timeout=5)
        await clock.advance(60, settle=SETTLE)
        meter = await csms.wait_for("MeterValues", count=3)

        after = actions_since(csms, before)
        assert "BootNotification" not in after
        assert "StartTransaction" not in after
        statuses = {
            r.payload["connectorId"]: r.payload["status"]
            for r in csms.received[before:]
            if r.action == "StatusNotification"
        }
        assert statuses == {0: "Available", 1: "Charging"}
        assert after.index("StatusNotification") < after.index("MeterValues")
        assert meter.payload["transactionId"] == 1
        assert state["connectors"][0]["register_wh"] <= register(meter)
        assert register(meter) - state["connectors"][0]["register_wh"] <= 22_000 * 60 / 3600 + 1

        restored = events.of(TransactionChanged)[0]
        assert restored.transaction_ref == started.transaction_ref
        assert restored.csms_transaction_id == "1"
        assert events.of(ConnectorChanged)[0].status == "Charging"
        assert events.of(VehicleChanged)[0].vehicle_ref == "veh-1"

        stopped = await twin.stop_transaction(started.transaction_ref)
        stop = await csms.wait_for("StopTransaction")
        assert stop.payload["transactionId"] == 1
        assert stop.payload["meterStop"] == stopped.meter_stop_wh >= register(meter)
        assert all(r.valid for r in csms.received)
    finally:
        await twin.close()


async def test_a_state_older_than_the_last_meter_value_resumes_without_the_register_going_back(
    csms: ScriptedCsms,
) -> None:
    """A host saves a twin's progress only every so often and sends 1.6 MeterValues
    unsaved: the restore counts the energy up to the last moment the twin may have sent."""
    clock = VirtualClock(start=START)
    old, _ = await charging_twin(csms, clock, EventLog())
    stale = through_json(old.save_state())
    await clock.advance(120, settle=SETTLE)  # two more MeterValues the state does not cover
    await csms.wait_for("MeterValues", count=4)
    await old.close()  # the process died
    seen = max(register(r) for r in csms.of("MeterValues"))
    assert stale["connectors"][0]["register_wh"] < seen
    assert stale["final"] is False

    await clock.advance(600)  # down for ten minutes, alive for none of them
    twin = await new_twin(csms, clock)
    last_alive = clock.now() - timedelta(seconds=600)
    twin.restore_state(stale, resume=True, last_alive=last_alive, sent_until=last_alive)
    try:
        await twin.start()
        await twin.connected(timeout=5)
        before = len(csms.of("MeterValues"))
        await clock.advance(60, settle=SETTLE)
        meter = await csms.wait_for("MeterValues", count=before + 1)
        assert register(meter) >= seen
        assert register(meter) - seen <= 22_000 * 60 / 3600 + 1  # the minute since, no more
    finally:
        await twin.close()


async def test_a_final_state_resumes_its_register_as_saved(csms: ScriptedCsms) -> None:
    """A host that stops cleanly freezes its twins before their last save: nothing was
    sent after it, so nothing more is counted, however late the host's last sign of life."""
    clock = VirtualClock(start=START)
    old, _ = await charging_twin(csms, clock, EventLog())
    old.freeze()
    final = through_json(old.save_state())
    await old.close()
    assert final["final"] is True
    await clock.advance(600)
    twin = await new_twin(csms, clock)
    twin.restore_state(final, resume=True, last_alive=clock.now(), sent_until=clock.now())
    try:
        assert twin.connectors()[0].register_wh == final["connectors"][0]["register_wh"]
    finally:
        await twin.close()


async def test_messages_queued_offline_are_delivered_after_restore_in_order(
    csms: ScriptedCsms,
) -> None:
    clock = VirtualClock(start=START)
    old = await new_twin(csms, clock)
    await old.start()
    await old.connected(timeout=5)
    await old.plug_in(1, make_vehicle(), "veh-1")
    await csms.stop()
    await eventually(lambda: not old.connected_to_csms)
    started = await old.start_transaction(1, "TAG")  # offline: queued
    assert started.csms_transaction_id is None
    await clock.advance(60)
    state = through_json(old.save_state())
    await old.close()
    assert [item["kind"] for item in state["queue"]] == ["start", "meter"]

    await csms.start()
    before = len(csms.received)
    twin = await new_twin(csms, clock)
    twin.restore_state(state, resume=True, last_alive=clock.now())
    try:
        await twin.start()
        await twin.connected(timeout=5)
        meter = await csms.wait_for("MeterValues")
        after = [a for a in actions_since(csms, before) if a != "StatusNotification"]
        assert after == ["StartTransaction", "MeterValues"]
        start = csms.of("StartTransaction")[0].payload
        assert start["timestamp"] == format_time(START)
        assert meter.payload["transactionId"] == 1
        await eventually(lambda: twin.snapshot()["transactions"][0]["csms_transaction_id"] == "1")
        assert twin.snapshot()["transactions"][0]["transaction_ref"] == started.transaction_ref
    finally:
        await twin.close()


async def test_restored_after_a_long_outage_the_twin_boots_and_ends_with_power_loss(
    csms: ScriptedCsms,
) -> None:
    clock = VirtualClock(start=START)
    old, started = await charging_twin(csms, clock, EventLog())
    state = through_json(old.save_state())
    last_alive = clock.now() + timedelta(seconds=5)
    await old.close()
    saved_register = round(state["connectors"][0]["register_wh"])

    await clock.advance(3 * 3600)
    before = len(csms.received)
    events = EventLog()
    twin = await new_twin(csms, clock, events=events)
    twin.restore_state(state, resume=False, last_alive=last_alive)
    try:
        await twin.start()
        await twin.connected(timeout=5)
        stop = await csms.wait_for("StopTransaction")
        after = actions_since(csms, before)
        assert after[0] == "BootNotification"
        assert after.index("StatusNotification") < after.index("StopTransaction")
        assert "StartTransaction" not in after
        assert stop.payload["transactionId"] == 1
        assert stop.payload["reason"] == "PowerLoss"
        assert stop.payload["timestamp"] == format_time(last_alive)
        assert stop.payload["meterStop"] == saved_register
        status = next(
            r.payload
            for r in csms.received[before:]
            if r.action == "StatusNotification" and r.payload["connectorId"] == 1
        )
        assert status["status"] == "Finishing"  # the vehicle is still plugged in

        ended = [e for e in events.of(TransactionChanged) if e.status == "Ended"]
        assert [(e.transaction_ref, e.end_time, e.stop_reason) for e in ended] == [
            (started.transaction_ref, last_alive, "PowerLoss")
        ]
        assert ended[0].meter_stop_wh == saved_register
        assert twin.snapshot()["connectors"][0]["vehicle_ref"] == "veh-1"
        meter_values = len(csms.of("MeterValues"))
        await clock.advance(120, settle=SETTLE)
        assert len(csms.of("MeterValues")) == meter_values  # the session is over
        assert all(r.valid for r in csms.received)
    finally:
        await twin.close()


async def test_power_loss_sends_the_unacknowledged_start_first_then_the_stop(
    csms: ScriptedCsms,
) -> None:
    clock = VirtualClock(start=START)
    old = await new_twin(csms, clock)
    await old.start()
    await old.connected(timeout=5)
    await old.plug_in(1, make_vehicle(), "veh-1")
    csms.answer("StartTransaction", NO_ANSWER)
    pending = asyncio.ensure_future(old.start_transaction(1, "TAG"))
    await csms.wait_for("StartTransaction")
    state = through_json(old.save_state())  # the CSMS saw it, never answered
    await old.close()
    await asyncio.gather(pending, return_exceptions=True)

    csms.answer("StartTransaction", {"transactionId": 7, "idTagInfo": {"status": "Accepted"}})
    await clock.advance(3600)
    before = len(csms.received)
    twin = await new_twin(csms, clock)
    twin.restore_state(state, resume=False, last_alive=START + timedelta(seconds=30))
    try:
        await twin.start()
        await twin.connected(timeout=5)
        stop = await csms.wait_for("StopTransaction")
        after = [a for a in actions_since(csms, before) if a != "StatusNotification"]
        assert after == ["BootNotification", "StartTransaction", "StopTransaction"]
        assert stop.payload["transactionId"] == 7
        assert stop.payload["reason"] == "PowerLoss"
        assert stop.payload["timestamp"] == format_time(START + timedelta(seconds=30))
    finally:
        await twin.close()


class BlockingStore:
    """A store whose writes finish only when the test says so."""

    def __init__(self) -> None:
        self.changes = 0
        self.release = asyncio.Event()
        self.waiting = 0
        self.states: list[dict[str, Any]] = []

    def state_changed(self, twin: ChargePointTwin) -> None:
        self.changes += 1

    def state_progressed(self, twin: ChargePointTwin) -> None:
        pass

    async def saved(self, twin: ChargePointTwin) -> None:
        self.waiting += 1
        await self.release.wait()
        self.states.append(through_json(twin.save_state()))


async def test_a_transaction_message_waits_until_the_state_holding_it_is_saved(
    csms: ScriptedCsms,
) -> None:
    clock = VirtualClock(start=START)
    store = BlockingStore()
    twin = await new_twin(csms, clock, store=store)
    try:
        await twin.start()
        await twin.connected(timeout=5)
        await twin.plug_in(1, make_vehicle(), "veh-1")
        starting = asyncio.ensure_future(twin.start_transaction(1, "TAG"))
        await eventually(lambda: store.waiting == 1)
        await csms.wait_for("Authorize")
        await asyncio.sleep(0.1)
        assert csms.of("StartTransaction") == []  # not before the state is written
        assert csms.of("StatusNotification")[-1].payload["status"] == "Preparing"
        assert store.changes > 0

        store.release.set()
        started = await asyncio.wait_for(starting, 5)
        assert started.csms_transaction_id == "1"
        [saved] = store.states
        assert [(q["kind"], q["transaction_ref"]) for q in saved["queue"]] == [
            ("start", started.transaction_ref)
        ]
    finally:
        await twin.close()


@pytest.fixture
def quick_permit_recheck(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ConnectionLoop, "PERMIT_RECHECK", 0.02)


@pytest.mark.usefixtures("quick_permit_recheck")
async def test_without_the_lease_the_twin_does_not_connect(csms: ScriptedCsms) -> None:
    clock = VirtualClock(start=START)
    lease = {"held": False}
    twin = await new_twin(csms, clock, permit=lambda: lease["held"])
    try:
        await twin.start()
        await asyncio.sleep(0.2)
        assert csms.connection_count == 0
        lease["held"] = True
        await twin.connected(timeout=5)
        assert csms.connection_count == 1
        assert csms.of("BootNotification")
    finally:
        await twin.close()


@pytest.mark.usefixtures("quick_permit_recheck")
async def test_losing_the_lease_drops_the_connection_before_the_next_frame(
    csms: ScriptedCsms,
) -> None:
    clock = VirtualClock(start=START)
    lease = {"held": True}
    events = EventLog()
    twin = await new_twin(csms, clock, events=events, permit=lambda: lease["held"])
    try:
        await twin.start()
        await twin.connected(timeout=5)
        await twin.plug_in(1, make_vehicle(), "veh-1")
        await twin.start_transaction(1, "TAG")
        await csms.wait_for("StatusNotification", lambda p: p["status"] == "Charging")
        received = len(csms.received)

        lease["held"] = False
        await clock.advance(300, settle=SETTLE)  # MeterValues and Heartbeat due
        await eventually(lambda: not twin.connected_to_csms)
        await eventually(lambda: "CP1" not in csms.connections)
        assert csms.received[received:] == []
        sent = [e for e in events.of(FrameLogged) if e.direction == "sent"]
        assert all(e.action not in ("Heartbeat", "MeterValues") for e in sent)
        await clock.advance(120, settle=SETTLE)
        await asyncio.sleep(0.1)
        assert csms.connection_count == 1  # no reconnect without the lease

        lease["held"] = True  # the lease is back: reconnect, no boot, queued values go out
        await clock.advance(120, settle=SETTLE)
        await csms.wait_for("MeterValues", count=5)
        assert csms.connection_count == 2
        assert len(csms.of("BootNotification")) == 1
        assert twin.snapshot()["transactions"][0]["csms_transaction_id"] == "1"
    finally:
        await twin.close()
