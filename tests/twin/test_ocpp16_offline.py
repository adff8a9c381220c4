"""The CSMS goes away mid-transaction and comes back: nothing lost, nothing doubled."""

from __future__ import annotations

import asyncio

from ocpp.exceptions import InternalError

from tests.twin.scripted_csms import (
    NO_ANSWER,
    EventLog,
    ScriptedCsms,
    eventually,
    make_config,
    make_vehicle,
)
from worker.twin.charge_point import ChargePointTwin
from worker.twin.clock import SystemClock


def register(payload: dict) -> float:
    for value in payload["meterValue"][0]["sampledValue"]:
        if value["measurand"] == "Energy.Active.Import.Register":
            return float(value["value"])
    raise AssertionError("no register")


async def test_disconnect_mid_transaction_delivers_every_queued_message_once_in_order() -> None:
    csms = await ScriptedCsms().start()
    events = EventLog()
    twin = ChargePointTwin(make_config(csms.url), SystemClock(speed=600), events)
    try:
        await twin.start()
        await twin.connected(timeout=5)
        await twin.plug_in(1, make_vehicle(soc=10.0, capacity_kwh=80.0), "veh-1")
        first = await twin.start_transaction(1, "TAG")
        assert first.csms_transaction_id == "1"
        await csms.wait_for("MeterValues", count=2)

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
        await csms.wait_for("StopTransaction", count=2, timeout=10)
        await eventually(lambda: twin.snapshot()["queued_messages"] == 0)
        after = csms.received[before:]

        assert "BootNotification" not in [r.action for r in after]
        transaction_messages = [
            r for r in after if r.action in ("StartTransaction", "StopTransaction", "MeterValues")
        ]
        assert len(transaction_messages) == queued
        assert len({r.unique_id for r in transaction_messages}) == queued
        kinds = [r.action for r in transaction_messages]
        stop_1 = kinds.index("StopTransaction")
        assert set(kinds[:stop_1]) == {"MeterValues"}
        assert kinds[stop_1 + 1] == "StartTransaction"
        assert set(kinds[stop_1 + 2 : -1]) == {"MeterValues"}
        assert kinds[-1] == "StopTransaction"

        start_2 = transaction_messages[stop_1 + 1].payload
        stop_payloads = [r.payload for r in csms.of("StopTransaction")]
        assert stop_payloads[0]["transactionId"] == 1
        assert stop_payloads[1]["transactionId"] == 2
        assert all(r.payload["transactionId"] == 2 for r in transaction_messages[stop_1 + 2 : -1])
        assert stop_payloads[0]["meterStop"] == stopped.meter_stop_wh
        assert start_2["meterStart"] == stopped.meter_stop_wh
        assert stop_payloads[1]["meterStop"] == second_stopped.meter_stop_wh

        registers = [register(r.payload) for r in csms.of("MeterValues")]
        assert registers == sorted(registers)
        timestamps = [r.payload["meterValue"][0]["timestamp"] for r in csms.of("MeterValues")]
        assert len(set(timestamps)) == len(timestamps)
        total = (stopped.meter_stop_wh - stopped.meter_start_wh) + (
            second_stopped.meter_stop_wh - second_stopped.meter_start_wh
        )
        snapshot_total = twin.snapshot()["connectors"][0]["total_energy_kwh"] * 1000
        assert abs(total - snapshot_total) <= 1
        assert all(r.valid for r in csms.received)
    finally:
        await twin.close()
        await csms.stop()


async def test_start_transaction_lost_mid_call_is_sent_again_after_reconnect() -> None:
    csms = await ScriptedCsms().start()
    twin = ChargePointTwin(make_config(csms.url), SystemClock(speed=600), EventLog())
    try:
        await twin.start()
        await twin.connected(timeout=5)
        await twin.plug_in(1, make_vehicle(), "veh-1")
        csms.answer("StartTransaction", NO_ANSWER)
        pending = asyncio.ensure_future(twin.start_transaction(1, "TAG"))
        await csms.wait_for("StartTransaction")
        await csms.stop()
        started = await asyncio.wait_for(pending, 5)
        assert started.csms_transaction_id is None

        csms.answer("StartTransaction", {"transactionId": 42, "idTagInfo": {"status": "Accepted"}})
        await csms.start()
        await csms.wait_for("StartTransaction", count=2)
        await eventually(lambda: twin.snapshot()["transactions"][0]["csms_transaction_id"] == "42")
        meter = await csms.wait_for("MeterValues", lambda p: p.get("transactionId") == 42)
        assert meter.valid
    finally:
        await twin.close()
        await csms.stop()


async def test_transaction_message_refused_is_retried_then_given_up() -> None:
    csms = await ScriptedCsms().start()
    config = make_config(
        csms.url,
        ocpp_configuration={
            "TransactionMessageAttempts": "2",
            "TransactionMessageRetryInterval": "10",
            "MeterValueSampleInterval": "600",
        },
    )
    twin = ChargePointTwin(config, SystemClock(speed=600), EventLog())
    try:
        await twin.start()
        await twin.connected(timeout=5)
        await twin.plug_in(1, make_vehicle(), "veh-1")
        started = await twin.start_transaction(1, "TAG")
        csms.answer("StopTransaction", InternalError(description="try later"))
        await twin.stop_transaction(started.transaction_ref)
        await csms.wait_for("StopTransaction", count=2)
        await eventually(lambda: twin.snapshot()["queued_messages"] == 0)
        await asyncio.sleep(0.1)
        assert len(csms.of("StopTransaction")) == 2  # TransactionMessageAttempts
        # The queue moves on: the next transaction goes through.
        csms.answer("StopTransaction", {})
        second = await twin.start_transaction(1, "TAG")
        assert second.csms_transaction_id == "2"
    finally:
        await twin.close()
        await csms.stop()
