"""OCPP 2.0.1: a twin saved in one process and restored in another.

Resumed, the CSMS sees a reconnect and the transaction's events carrying on
(same transactionId, seqNo without a gap or a reuse; after a crash, when the
saved state is older than the last periodic event, seqNo skips the numbers the
twin may have used meanwhile); restored after a long outage, it sees a charging
station that lost power end the transaction.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from ocpp.v201 import call

from tests.twin.scripted_csms201 import (
    NO_ANSWER,
    EventLog,
    ScriptedCsms201,
    eventually,
    make_config,
    make_vehicle,
    sampled,
)
from worker.twin.charge_point import ChargePointTwin
from worker.twin.clock import VirtualClock
from worker.twin.events import TransactionChanged
from worker.twin.smart_charging import ChargingProfile, format_time

CSMS_TYPE = ScriptedCsms201
START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
SETTLE = 0.05
REGISTER = "Energy.Active.Import.Register"


def through_json(state: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(state))


def new_twin(csms: ScriptedCsms201, clock: VirtualClock, **kwargs: Any) -> ChargePointTwin:
    config = make_config(csms.url, ocpp_configuration={"SampledDataCtrlr/TxUpdatedInterval": "60"})
    return ChargePointTwin(config, clock, kwargs.pop("events", EventLog()), **kwargs)


def events_since(csms: ScriptedCsms201, index: int) -> list[dict[str, Any]]:
    return [r.payload for r in csms.received[index:] if r.action == "TransactionEvent"]


async def charging_twin(
    csms: ScriptedCsms201, clock: VirtualClock
) -> tuple[ChargePointTwin, TransactionChanged]:
    """Booted, vehicle plugged in, a transaction charging: Started and two Updated sent."""
    twin = new_twin(csms, clock)
    await twin.start()
    await twin.connected(timeout=5)
    await twin.plug_in(1, make_vehicle(soc=20.0), "veh-1")
    started = await twin.start_transaction(1, "TAG")
    await clock.advance(120, settle=SETTLE)
    await csms.wait_for(
        "TransactionEvent", lambda p: p.get("triggerReason") == "MeterValuePeriodic", count=2
    )
    return twin, started


async def test_resumed_twin_carries_on_the_transaction_and_its_seq_no(
    csms: ScriptedCsms201,
) -> None:
    clock = VirtualClock(start=START)
    old, started = await charging_twin(csms, clock)
    state = through_json(old.save_state())
    await old.close()
    sent = csms.transaction_events(started.transaction_ref)
    assert [p["seqNo"] for p in sent] == list(range(len(sent)))
    seen = max(sampled(p)[REGISTER] for p in sent if "meterValue" in p)

    await clock.advance(600)
    before = len(csms.received)
    events = EventLog()
    twin = new_twin(csms, clock, events=events)
    twin.restore_state(state, resume=True, last_alive=clock.now())
    try:
        await twin.start()
        await twin.connected(timeout=5)
        await clock.advance(60, settle=SETTLE)
        update = await csms.wait_for(
            "TransactionEvent", lambda p: p.get("triggerReason") == "MeterValuePeriodic", count=3
        )

        actions = [r.action for r in csms.received[before:]]
        assert "BootNotification" not in actions
        status = next(r.payload for r in csms.received[before:] if r.action == "StatusNotification")
        assert (status["evseId"], status["connectorStatus"]) == (1, "Occupied")
        after = events_since(csms, before)
        assert all(p["eventType"] == "Updated" for p in after)
        assert update.payload["transactionInfo"]["transactionId"] == started.transaction_ref
        mine = csms.transaction_events(started.transaction_ref)
        assert [p["seqNo"] for p in mine] == list(range(len(mine)))
        assert "offline" not in update.payload
        register = sampled(update.payload)[REGISTER]
        assert seen <= state["connectors"][0]["register_wh"] <= register
        assert register - state["connectors"][0]["register_wh"] <= 22_000 * 60 / 3600 + 1

        await twin.stop_transaction(started.transaction_ref)
        ended = await csms.wait_for("TransactionEvent", lambda p: p["eventType"] == "Ended")
        assert ended.payload["seqNo"] == len(mine)
        assert events.of(TransactionChanged)[0].transaction_ref == started.transaction_ref
        assert all(r.valid for r in csms.received)
    finally:
        await twin.close()


async def test_started_event_never_answered_is_sent_again_after_restore(
    csms: ScriptedCsms201,
) -> None:
    clock = VirtualClock(start=START)
    old = new_twin(csms, clock)
    await old.start()
    await old.connected(timeout=5)
    await old.plug_in(1, make_vehicle(), "veh-1")
    csms.answer("TransactionEvent", NO_ANSWER)
    pending = asyncio.ensure_future(old.start_transaction(1, "TAG"))
    await csms.wait_for("TransactionEvent")
    await clock.advance(60)  # a meter value queues behind it
    state = through_json(old.save_state())
    await old.close()
    await asyncio.gather(pending, return_exceptions=True)
    assert [q["kind"] for q in state["queue"]] == ["start", "meter"]

    csms.answer("TransactionEvent", {})
    before = len(csms.received)
    twin = new_twin(csms, clock)
    twin.restore_state(state, resume=True, last_alive=clock.now())
    try:
        await twin.start()
        await twin.connected(timeout=5)
        await csms.wait_for("TransactionEvent", count=3)
        after = events_since(csms, before)
        assert [(p["eventType"], p["seqNo"]) for p in after] == [("Started", 0), ("Updated", 1)]
        ref = after[0]["transactionInfo"]["transactionId"]
        assert after[1]["transactionInfo"]["transactionId"] == ref
        assert after[0]["timestamp"] == format_time(START)
        await eventually(lambda: twin.snapshot()["transactions"][0]["csms_transaction_id"] == ref)
    finally:
        await twin.close()


async def test_restored_after_a_long_outage_the_station_boots_and_ends_with_power_loss(
    csms: ScriptedCsms201,
) -> None:
    clock = VirtualClock(start=START)
    old, started = await charging_twin(csms, clock)
    state = through_json(old.save_state())
    last_alive = clock.now() + timedelta(seconds=5)
    await old.close()
    sent = len(csms.transaction_events(started.transaction_ref))

    await clock.advance(3 * 3600)
    before = len(csms.received)
    events = EventLog()
    twin = new_twin(csms, clock, events=events)
    twin.restore_state(state, resume=False, last_alive=last_alive)
    try:
        await twin.start()
        await twin.connected(timeout=5)
        ended = await csms.wait_for("TransactionEvent", lambda p: p["eventType"] == "Ended")
        boot = csms.of("BootNotification")[-1].payload
        assert boot["reason"] == "PowerUp"
        assert csms.received[before].action == "BootNotification"
        assert events_since(csms, before) == [ended.payload]
        payload = ended.payload
        assert payload["transactionInfo"]["transactionId"] == started.transaction_ref
        assert payload["transactionInfo"]["stoppedReason"] == "PowerLoss"
        assert payload["triggerReason"] == "AbnormalCondition"
        assert payload["timestamp"] == format_time(last_alive)
        assert payload["seqNo"] == sent
        assert sampled(payload, -1)[REGISTER] == round(state["connectors"][0]["register_wh"])
        status = next(r.payload for r in csms.received[before:] if r.action == "StatusNotification")
        assert status["connectorStatus"] == "Occupied"

        [ended_event] = [e for e in events.of(TransactionChanged) if e.status == "Ended"]
        assert (ended_event.end_time, ended_event.stop_reason) == (last_alive, "PowerLoss")
        assert all(r.valid for r in csms.received)
    finally:
        await twin.close()


class SavingStore:
    """A store that writes at once and keeps every state it wrote."""

    def __init__(self) -> None:
        self.states: list[dict[str, Any]] = []

    def state_changed(self, twin: ChargePointTwin) -> None:
        pass

    def state_progressed(self, twin: ChargePointTwin) -> None:
        pass

    async def saved(self, twin: ChargePointTwin) -> None:
        self.states.append(through_json(twin.save_state()))


def saved_seq_no(state: dict[str, Any]) -> int | None:
    transactions = state["transactions"]
    if not transactions or transactions[0]["adapter"] is None:
        return None
    return transactions[0]["adapter"]["seq_no"]


async def test_an_event_sent_outside_the_queue_never_gets_its_seq_no_reused(
    csms: ScriptedCsms201,
) -> None:
    clock = VirtualClock(start=START)
    store = SavingStore()
    old = new_twin(csms, clock, store=store)
    await old.start()
    await old.connected(timeout=5)
    await old.plug_in(1, make_vehicle(), "veh-1")
    started = await old.start_transaction(1, "TAG")
    paused = ChargingProfile.from_ocpp201(
        {
            "id": 1,
            "stackLevel": 0,
            "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Absolute",
            "chargingSchedule": [
                {
                    "id": 1,
                    "chargingRateUnit": "W",
                    "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 0.0}],
                }
            ],
        }
    )
    assert old.handle_set_charging_profile(1, paused)
    change = await csms.wait_for(
        "TransactionEvent", lambda p: p["triggerReason"] == "ChargingStateChanged"
    )
    assert change.payload["transactionInfo"]["chargingState"] == "SuspendedEVSE"
    number = change.payload["seqNo"]
    # The process dies right after sending it, before saving again: the last
    # state written already counts the number it used.
    state = next(s for s in store.states if saved_seq_no(s) == number + 1)
    await old.close()

    before = len(csms.received)
    twin = new_twin(csms, clock)
    twin.restore_state(state, resume=True, last_alive=clock.now())
    try:
        await twin.start()
        await twin.connected(timeout=5)
        await clock.advance(60, settle=SETTLE)
        await csms.wait_for(
            "TransactionEvent", lambda p: p["triggerReason"] == "MeterValuePeriodic"
        )
        after = [p["seqNo"] for p in events_since(csms, before)]
        assert after[0] == number + 1
        assert after == sorted(set(after))
        assert all(
            p["transactionInfo"]["transactionId"] == started.transaction_ref
            for p in events_since(csms, before)
        )
    finally:
        await twin.close()


async def test_periodic_events_go_out_unsaved_and_a_crash_restore_skips_their_seq_nos(
    csms: ScriptedCsms201,
) -> None:
    """A periodic TransactionEvent does not wait for a save (one per meter value each
    twin is what a fleet cannot afford); restored from a state saved before three of
    them went out, the twin skips the numbers they may have used, never reusing one."""
    clock = VirtualClock(start=START)
    store = SavingStore()
    old = new_twin(csms, clock, store=store)
    await old.start()
    await old.connected(timeout=5)
    await old.plug_in(1, make_vehicle(soc=20.0), "veh-1")
    started = await old.start_transaction(1, "TAG")
    await clock.advance(60, settle=SETTLE)
    await csms.wait_for("TransactionEvent", lambda p: p["triggerReason"] == "MeterValuePeriodic")
    state = through_json(old.save_state())  # the host's last periodic save
    saves = len(store.states)
    for count in (2, 3, 4):
        await clock.advance(60, settle=SETTLE)
        await csms.wait_for(
            "TransactionEvent", lambda p: p["triggerReason"] == "MeterValuePeriodic", count=count
        )
    assert len(store.states) == saves, "a periodic event waited for a save"
    sent = [p["seqNo"] for p in csms.transaction_events(started.transaction_ref)]
    assert sent == list(range(len(sent)))
    assert saved_seq_no(state) == sent[-1] - 2
    crashed_at = clock.now()
    await old.close()

    before = len(csms.received)
    twin = new_twin(csms, clock)
    twin.restore_state(state, resume=True, last_alive=crashed_at, sent_until=crashed_at)
    try:
        await twin.start()
        await twin.connected(timeout=5)
        await clock.advance(60, settle=SETTLE)
        update = await csms.wait_for(
            "TransactionEvent", lambda p: p["triggerReason"] == "MeterValuePeriodic", count=5
        )
        after = [p["seqNo"] for p in events_since(csms, before)]
        assert update.payload["transactionInfo"]["transactionId"] == started.transaction_ref
        assert after[0] > sent[-1], f"seqNo reused: sent {sent}, then {after}"
        assert after[0] - sent[-1] <= 2, f"more numbers skipped than needed: {sent}, {after}"
        assert after == sorted(set(after))
        assert all(r.valid for r in csms.received)
    finally:
        await twin.close()


async def test_a_remote_start_not_yet_sent_keeps_its_remote_start_id_across_a_restore(
    csms: ScriptedCsms201,
) -> None:
    clock = VirtualClock(start=START)
    store = SavingStore()
    old = new_twin(csms, clock, store=store)
    await old.start()
    await old.connected(timeout=5)
    await old.plug_in(1, make_vehicle(), "veh-1")
    token = {"idToken": "APP-1", "type": "Central"}
    accepted = await csms.call(
        "CS1", call.RequestStartTransaction(id_token=token, remote_start_id=42, evse_id=1)
    )
    assert accepted.status == "Accepted"
    await csms.wait_for("TransactionEvent", lambda p: p["eventType"] == "Started")
    # The state written before the Started went out: the process dies with it.
    state = next(s for s in store.states if s["queue"])
    await old.close()
    assert state["transactions"][0]["adapter"]["remote_start_id"] == 42

    before = len(csms.received)
    twin = new_twin(csms, clock)
    twin.restore_state(state, resume=True, last_alive=clock.now())
    try:
        await twin.start()
        await twin.connected(timeout=5)
        await csms.wait_for("TransactionEvent", lambda p: p["eventType"] == "Started", count=2)
        [again] = events_since(csms, before)
        assert (again["seqNo"], again["triggerReason"]) == (0, "RemoteStart")
        assert again["transactionInfo"]["remoteStartId"] == 42
        assert again["idToken"] == token
    finally:
        await twin.close()
