"""OCPP 2.0.1: a charging session as the CSMS sees it, remote start/stop, smart charging."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from ocpp.v201 import call

from tests.twin.scripted_csms201 import (
    ScriptedCsms201,
    eventually,
    make_vehicle,
    sampled,
)
from worker.twin.charge_point import ChargePointTwin
from worker.twin.errors import Rejected

ALL_MEASURANDS = {
    "Energy.Active.Import.Register",
    "Power.Active.Import",
    "Current.Import",
    "Voltage",
    "SoC",
}


#: The ``csms`` fixture (tests/twin/conftest.py) of this module.
CSMS_TYPE = ScriptedCsms201


def statuses(csms: ScriptedCsms201, evse_id: int = 1) -> list[str]:
    return [
        r.payload["connectorStatus"]
        for r in csms.of("StatusNotification")
        if r.payload["evseId"] == evse_id
    ]


def timestamp(meter_value: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(meter_value["timestamp"].replace("Z", "+00:00"))


def tx_profile(amps: float, purpose: str = "TxDefaultProfile", **extra: Any) -> dict[str, Any]:
    return {
        "id": 7,
        "stackLevel": 0,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": "Relative",
        "chargingSchedule": [
            {
                "id": 1,
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": amps}],
            }
        ],
        **extra,
    }


async def test_plug_in_authorize_charge_and_stop(
    twin: ChargePointTwin, csms: ScriptedCsms201
) -> None:
    await twin.plug_in(1, make_vehicle(soc=20.0, capacity_kwh=60.0), "veh-1")
    await csms.wait_for("StatusNotification", lambda p: p["connectorStatus"] == "Occupied")

    started = await twin.start_transaction(1, "TAG-1")
    assert started.status == "Charging"
    assert started.csms_transaction_id == started.transaction_ref
    assert csms.of("Authorize")[0].payload == {"idToken": {"idToken": "TAG-1", "type": "ISO14443"}}
    first = csms.transaction_events()[0]
    assert first["eventType"] == "Started"
    assert first["seqNo"] == 0
    assert first["triggerReason"] == "Authorized"
    assert first["transactionInfo"] == {
        "transactionId": started.transaction_ref,
        "chargingState": "Charging",
    }
    assert first["evse"] == {"id": 1, "connectorId": 1}
    assert first["idToken"] == {"idToken": "TAG-1", "type": "ISO14443"}
    assert "offline" not in first
    assert first["meterValue"][0]["sampledValue"] == [
        {
            "value": 0.0,
            "context": "Transaction.Begin",
            "measurand": "Energy.Active.Import.Register",
            "unitOfMeasure": {"unit": "Wh"},
        }
    ]

    await csms.wait_for("TransactionEvent", lambda p: p["eventType"] == "Updated", count=3)
    updates = [p for p in csms.transaction_events() if p["eventType"] == "Updated"]
    assert all(p["triggerReason"] == "MeterValuePeriodic" for p in updates)
    values = sampled(updates[-1])
    assert set(values) == ALL_MEASURANDS
    assert values["Power.Active.Import"] == pytest.approx(22000.0)
    assert values["Current.Import"] == pytest.approx(22000 / (230 * 3), abs=0.01)
    assert updates[0]["meterValue"][0]["sampledValue"][0]["context"] == "Sample.Periodic"
    registers = [sampled(p)["Energy.Active.Import.Register"] for p in updates]
    assert registers == sorted(registers)
    assert registers[0] > 0

    stopped = await twin.stop_transaction(started.transaction_ref)
    ended = await csms.wait_for("TransactionEvent", lambda p: p["eventType"] == "Ended")
    assert ended.payload["triggerReason"] == "StopAuthorized"
    assert ended.payload["transactionInfo"]["stoppedReason"] == "Local"
    # TxEndedInterval 0: the TxEndedMeasurands at the start and at the end only.
    begin, end = ended.payload["meterValue"]
    assert begin["sampledValue"][0]["context"] == "Transaction.Begin"
    assert begin["sampledValue"][0]["value"] == stopped.meter_start_wh
    assert end["sampledValue"][0]["context"] == "Transaction.End"
    register = sampled(ended.payload, -1)["Energy.Active.Import.Register"]
    assert register == stopped.meter_stop_wh
    assert register >= registers[-1]
    assert stopped.energy_kwh * 1000 == pytest.approx(register, abs=1)
    seq_nos = [p["seqNo"] for p in csms.transaction_events(started.transaction_ref)]
    assert seq_nos == list(range(len(seq_nos)))

    await twin.unplug(1)
    await eventually(lambda: statuses(csms)[-1] == "Available")
    assert statuses(csms) == ["Available", "Occupied", "Available"]
    assert all(r.valid for r in csms.received)


async def test_rejected_id_token_starts_nothing(
    twin: ChargePointTwin, csms: ScriptedCsms201
) -> None:
    csms.rejected_id_tags.add("BAD")
    await twin.plug_in(1, make_vehicle(), "veh-1")
    with pytest.raises(Rejected, match="BAD"):
        await twin.start_transaction(1, "BAD")
    assert csms.of("TransactionEvent") == []


async def test_csms_deauthorizing_in_started_answer_ends_the_transaction(
    twin: ChargePointTwin, csms: ScriptedCsms201
) -> None:
    csms.answer("Authorize", {"idTokenInfo": {"status": "Accepted"}})
    csms.answer(
        "TransactionEvent",
        lambda p: {"idTokenInfo": {"status": "Blocked"}} if "idToken" in p else {},
    )
    await twin.plug_in(1, make_vehicle(), "veh-1")
    with pytest.raises(Rejected):
        await twin.start_transaction(1, "TAG")
    ended = await csms.wait_for("TransactionEvent", lambda p: p["eventType"] == "Ended")
    assert ended.payload["triggerReason"] == "Deauthorized"
    assert ended.payload["transactionInfo"]["stoppedReason"] == "DeAuthorized"


async def test_unplugging_ends_the_transaction_with_ev_disconnected(
    twin: ChargePointTwin, csms: ScriptedCsms201
) -> None:
    await twin.plug_in(1, make_vehicle(), "veh-1")
    await twin.start_transaction(1, "TAG")
    await twin.unplug(1)
    ended = await csms.wait_for("TransactionEvent", lambda p: p["eventType"] == "Ended")
    assert ended.payload["triggerReason"] == "EVCommunicationLost"
    assert ended.payload["transactionInfo"]["stoppedReason"] == "EVDisconnected"
    assert ended.payload["transactionInfo"]["chargingState"] == "Idle"


async def test_request_start_and_stop_transaction(
    twin: ChargePointTwin, csms: ScriptedCsms201
) -> None:
    token = {"idToken": "APP-1", "type": "Central"}
    no_waiting = {
        "component": {"name": "TxCtrlr"},
        "variable": {"name": "EVConnectionTimeOut"},
        "attributeValue": "0",
    }  # for a vehicle to be plugged in (see test_ocpp201_settings.py)
    await csms.call("CS1", call.SetVariables(set_variable_data=[no_waiting]))
    result = await csms.call(
        "CS1", call.RequestStartTransaction(id_token=token, remote_start_id=42, evse_id=1)
    )
    assert result.status == "Rejected"  # no vehicle plugged in
    result = await csms.call(
        "CS1", call.RequestStartTransaction(id_token=token, remote_start_id=42, evse_id=9)
    )
    assert result.status == "Rejected"  # no such EVSE

    await twin.plug_in(1, make_vehicle(), "veh-1")
    result = await csms.call(
        "CS1", call.RequestStartTransaction(id_token=token, remote_start_id=42, evse_id=1)
    )
    assert result.status == "Accepted"
    started = await csms.wait_for("TransactionEvent", lambda p: p["eventType"] == "Started")
    assert csms.of("Authorize")[0].payload == {"idToken": token}
    assert started.payload["triggerReason"] == "RemoteStart"
    assert started.payload["transactionInfo"]["remoteStartId"] == 42
    assert started.payload["idToken"] == token
    transaction_id = started.payload["transactionInfo"]["transactionId"]
    await eventually(lambda: twin.find_transaction(transaction_id) is not None)
    await eventually(
        lambda: twin.find_transaction(transaction_id).csms_transaction_id == transaction_id
    )

    again = await csms.call(
        "CS1", call.RequestStartTransaction(id_token=token, remote_start_id=43, evse_id=1)
    )
    assert again.status == "Rejected"  # the EVSE is busy

    unknown = await csms.call("CS1", call.RequestStopTransaction(transaction_id="nope"))
    assert unknown.status == "Rejected"
    stop = await csms.call("CS1", call.RequestStopTransaction(transaction_id=transaction_id))
    assert stop.status == "Accepted"
    ended = await csms.wait_for("TransactionEvent", lambda p: p["eventType"] == "Ended")
    assert ended.payload["triggerReason"] == "RemoteStop"
    assert ended.payload["transactionInfo"]["stoppedReason"] == "Remote"
    # The answer goes out before the event it causes.
    answers = [f for f in csms.frames if transaction_id in f or f.startswith("[3")]
    assert answers
    assert all(r.valid for r in csms.received)


async def test_request_start_with_tx_profile_limits_power(
    twin: ChargePointTwin, csms: ScriptedCsms201
) -> None:
    await twin.plug_in(1, make_vehicle(), "veh-1")
    result = await csms.call(
        "CS1",
        call.RequestStartTransaction(
            id_token={"idToken": "APP-1", "type": "Central"},
            remote_start_id=1,
            evse_id=1,
            charging_profile=tx_profile(10, purpose="TxProfile"),
        ),
    )
    assert result.status == "Accepted"
    update = await csms.wait_for("TransactionEvent", lambda p: p["eventType"] == "Updated")
    assert sampled(update.payload)["Power.Active.Import"] == pytest.approx(6900.0)

    wrong = await csms.call(
        "CS1",
        call.RequestStartTransaction(
            id_token={"idToken": "APP-2", "type": "Central"},
            remote_start_id=2,
            evse_id=1,
            charging_profile=tx_profile(10),
        ),
    )
    assert wrong.status == "Rejected"


async def test_tx_default_profile_of_6_amps_limits_power_and_energy(
    twin: ChargePointTwin, csms: ScriptedCsms201
) -> None:
    result = await csms.call(
        "CS1", call.SetChargingProfile(evse_id=0, charging_profile=tx_profile(6))
    )
    assert result.status == "Accepted"
    await twin.plug_in(1, make_vehicle(soc=20), "veh-1")
    started = await twin.start_transaction(1, "TAG")
    await csms.wait_for("TransactionEvent", lambda p: p["eventType"] == "Updated", count=2)
    first, second = [p for p in csms.transaction_events() if p["eventType"] == "Updated"][:2]
    values = sampled(second)
    assert values["Power.Active.Import"] == pytest.approx(4140.0)
    assert values["Current.Import"] == pytest.approx(6.0)
    gained_wh = (
        values["Energy.Active.Import.Register"] - sampled(first)["Energy.Active.Import.Register"]
    )
    hours = (
        timestamp(second["meterValue"][0]) - timestamp(first["meterValue"][0])
    ).total_seconds() / 3600
    assert gained_wh == pytest.approx(4140.0 * hours, abs=0.11)  # two values rounded to 0.1 Wh
    stopped = await twin.stop_transaction(started.transaction_ref)
    elapsed_h = (stopped.end_time - stopped.start_time).total_seconds() / 3600
    assert stopped.energy_kwh == pytest.approx(4.14 * elapsed_h, rel=1e-3)


async def test_profiles_set_cleared_reported_and_composed(
    twin: ChargePointTwin, csms: ScriptedCsms201
) -> None:
    await twin.plug_in(1, make_vehicle(), "veh-1")
    started = await twin.start_transaction(1, "TAG")
    tx_id = started.transaction_ref

    no_tx_id = await csms.call(
        "CS1", call.SetChargingProfile(evse_id=1, charging_profile=tx_profile(8, "TxProfile"))
    )
    assert no_tx_id.status == "Rejected"  # a TxProfile names its transaction
    wrong_tx = tx_profile(8, "TxProfile", transactionId="other")
    rejected = await csms.call("CS1", call.SetChargingProfile(evse_id=1, charging_profile=wrong_tx))
    assert rejected.status == "Rejected"
    too_high = tx_profile(8, "TxProfile", transactionId=tx_id, stackLevel=99)
    rejected = await csms.call("CS1", call.SetChargingProfile(evse_id=1, charging_profile=too_high))
    assert rejected.status == "Rejected"
    unknown_evse = await csms.call(
        "CS1", call.SetChargingProfile(evse_id=5, charging_profile=tx_profile(8))
    )
    assert unknown_evse.status == "Rejected"

    profile = tx_profile(8, "TxProfile", transactionId=tx_id)
    result = await csms.call("CS1", call.SetChargingProfile(evse_id=1, charging_profile=profile))
    assert result.status == "Accepted"
    assert twin.connector(1).power_kw == pytest.approx(8 * 230 * 3 / 1000)

    composite = await csms.call(
        "CS1", call.GetCompositeSchedule(duration=600, evse_id=1, charging_rate_unit="A")
    )
    assert composite.status == "Accepted"
    assert composite.schedule["evse_id"] == 1
    assert composite.schedule["charging_schedule_period"][0]["limit"] == 8
    bad = await csms.call("CS1", call.GetCompositeSchedule(duration=600, evse_id=4))
    assert bad.status == "Rejected"

    report = await csms.call(
        "CS1",
        call.GetChargingProfiles(
            request_id=5, charging_profile={"chargingProfilePurpose": "TxProfile"}
        ),
    )
    assert report.status == "Accepted"
    reported = await csms.wait_for("ReportChargingProfiles")
    assert reported.payload["requestId"] == 5
    assert reported.payload["evseId"] == 1
    assert reported.payload["chargingProfile"][0]["transactionId"] == tx_id
    none = await csms.call(
        "CS1",
        call.GetChargingProfiles(
            request_id=6, charging_profile={"chargingProfilePurpose": "TxDefaultProfile"}
        ),
    )
    assert none.status == "NoProfiles"

    cleared = await csms.call("CS1", call.ClearChargingProfile(charging_profile_id=7))
    assert cleared.status == "Accepted"
    assert twin.connector(1).power_kw == pytest.approx(22.0)
    again = await csms.call("CS1", call.ClearChargingProfile(charging_profile_id=7))
    assert again.status == "Unknown"
    assert all(r.valid for r in csms.received)


async def test_remote_start_that_fails_authorization_does_not_mark_a_later_local_start(
    twin: ChargePointTwin, csms: ScriptedCsms201
) -> None:
    await twin.plug_in(1, make_vehicle(), "veh-1")
    csms.rejected_id_tags.add("APP-1")
    result = await csms.call(
        "CS1",
        call.RequestStartTransaction(
            id_token={"idToken": "APP-1", "type": "Central"}, remote_start_id=9, evse_id=1
        ),
    )
    assert result.status == "Accepted"
    await csms.wait_for("Authorize")
    csms.rejected_id_tags.clear()
    started = await twin.start_transaction(1, "APP-1")
    first = csms.transaction_events(started.transaction_ref)[0]
    assert first["triggerReason"] == "Authorized"
    assert "remoteStartId" not in first["transactionInfo"]
    assert first["idToken"]["type"] == "ISO14443"
