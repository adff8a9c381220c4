"""OCPP 2.0.1: the CSMS goes away mid-transaction and comes back; nothing lost or doubled."""

from __future__ import annotations

import asyncio

from ocpp.exceptions import InternalError

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
from worker.twin.clock import SystemClock

REGISTER = "Energy.Active.Import.Register"


async def test_disconnect_mid_transaction_delivers_every_queued_event_once_in_order() -> None:
    csms = await ScriptedCsms201().start()
    twin = ChargePointTwin(make_config(csms.url), SystemClock(speed=600), EventLog())
    try:
        await twin.start()
        await twin.connected(timeout=5)
        await twin.plug_in(1, make_vehicle(soc=10.0, capacity_kwh=80.0), "veh-1")
        first = await twin.start_transaction(1, "TAG")
        await csms.wait_for("TransactionEvent", lambda p: p["eventType"] == "Updated", count=2)

        await csms.stop()
        await eventually(lambda: not twin.snapshot()["connected"])
        before = len(csms.received)
        await asyncio.sleep(0.3)  # ~180 simulated seconds of charging, offline
        stopped = await twin.stop_transaction(first.transaction_ref)
        second = await twin.start_transaction(1, "TAG")  # authorised from the cache
        assert second.csms_transaction_id is None
        await asyncio.sleep(0.3)
        second_stopped = await twin.stop_transaction(second.transaction_ref)
        queued = twin.snapshot()["queued_messages"]
        assert queued >= 6

        await csms.start()  # same port: the CSMS is back
        await csms.wait_for(
            "TransactionEvent", lambda p: p["eventType"] == "Ended", count=2, timeout=10
        )
        await eventually(lambda: twin.snapshot()["queued_messages"] == 0)
        after = [r for r in csms.received[before:] if r.action == "TransactionEvent"]

        assert "BootNotification" not in [r.action for r in csms.received[before:]]
        assert len(after) == queued
        assert len({r.unique_id for r in after}) == queued
        assert all(r.payload["offline"] is True for r in after)

        for tx in (first, second):
            mine = csms.transaction_events(tx.transaction_ref)
            assert [p["seqNo"] for p in mine] == list(range(len(mine)))
            assert mine[0]["eventType"] == "Started"
            assert mine[-1]["eventType"] == "Ended"
            assert {p["eventType"] for p in mine[1:-1]} == {"Updated"}
        assert all("offline" not in p for p in csms.transaction_events(first.transaction_ref)[:3])

        kinds = [
            (r.payload["eventType"], r.payload["transactionInfo"]["transactionId"]) for r in after
        ]
        first_end = kinds.index(("Ended", first.transaction_ref))
        assert kinds[first_end + 1] == ("Started", second.transaction_ref)
        assert kinds[-1] == ("Ended", second.transaction_ref)

        ended = [p for p in csms.transaction_events() if p["eventType"] == "Ended"]
        assert sampled(ended[0], -1)[REGISTER] == stopped.meter_stop_wh
        assert sampled(ended[1], -1)[REGISTER] == second_stopped.meter_stop_wh
        started_2 = csms.transaction_events(second.transaction_ref)[0]
        assert sampled(started_2)[REGISTER] == stopped.meter_stop_wh
        registers = [
            sampled(p)[REGISTER] for p in csms.transaction_events() if p["eventType"] == "Updated"
        ]
        assert registers == sorted(registers)
        total = (stopped.meter_stop_wh - stopped.meter_start_wh) + (
            second_stopped.meter_stop_wh - second_stopped.meter_start_wh
        )
        snapshot_total = twin.snapshot()["connectors"][0]["total_energy_kwh"] * 1000
        assert abs(total - snapshot_total) <= 1
        assert all(r.valid for r in csms.received)
    finally:
        await twin.close()
        await csms.stop()


async def test_started_event_lost_mid_call_is_sent_again_with_the_same_seq_no() -> None:
    csms = await ScriptedCsms201().start()
    twin = ChargePointTwin(make_config(csms.url), SystemClock(speed=600), EventLog())
    try:
        await twin.start()
        await twin.connected(timeout=5)
        await twin.plug_in(1, make_vehicle(), "veh-1")
        csms.answer("TransactionEvent", NO_ANSWER)
        pending = asyncio.ensure_future(twin.start_transaction(1, "TAG"))
        await csms.wait_for("TransactionEvent")
        await csms.stop()
        started = await asyncio.wait_for(pending, 5)
        assert started.csms_transaction_id is None

        csms.answer("TransactionEvent", {})
        await csms.start()
        await csms.wait_for("TransactionEvent", count=2)
        again = csms.of("TransactionEvent")[1].payload
        assert (again["eventType"], again["seqNo"]) == ("Started", 0)
        await eventually(
            lambda: (
                twin.snapshot()["transactions"][0]["csms_transaction_id"] == started.transaction_ref
            )
        )
        update = await csms.wait_for("TransactionEvent", lambda p: p["eventType"] == "Updated")
        assert update.payload["seqNo"] == 1
    finally:
        await twin.close()
        await csms.stop()


async def test_refused_event_is_retried_with_its_seq_no_then_given_up() -> None:
    csms = await ScriptedCsms201().start()
    config = make_config(
        csms.url,
        ocpp_configuration={
            "OCPPCommCtrlr/MessageAttempts.TransactionEvent": "2",
            "OCPPCommCtrlr/MessageAttemptInterval.TransactionEvent": "10",
            "SampledDataCtrlr/TxUpdatedInterval": "600",
        },
    )
    twin = ChargePointTwin(config, SystemClock(speed=600), EventLog())
    try:
        await twin.start()
        await twin.connected(timeout=5)
        await twin.plug_in(1, make_vehicle(), "veh-1")
        started = await twin.start_transaction(1, "TAG")
        csms.answer(
            "TransactionEvent",
            lambda p: InternalError(description="later") if p["eventType"] == "Ended" else {},
        )
        await twin.stop_transaction(started.transaction_ref)
        await csms.wait_for("TransactionEvent", lambda p: p["eventType"] == "Ended", count=2)
        await eventually(lambda: twin.snapshot()["queued_messages"] == 0)
        ends = [p for p in csms.transaction_events() if p["eventType"] == "Ended"]
        assert [p["seqNo"] for p in ends] == [1, 1]
    finally:
        await twin.close()
        await csms.stop()
