"""OCPP 2.0.1: every CSMS-initiated operation the twin handles, with its answer paths."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from ocpp.exceptions import OccurrenceConstraintViolationError
from ocpp.v201 import call

from tests.twin.scripted_csms201 import (
    EventLog,
    ScriptedCsms201,
    booted_twin,
    eventually,
    make_vehicle,
    sampled,
)
from worker.twin.charge_point import ChargePointTwin
from worker.twin.errors import InvalidState
from worker.twin.events import ConfigurationChanged
from worker.twin.smart_charging import format_time

#: The ``csms`` fixture (tests/twin/conftest.py) of this module.
CSMS_TYPE = ScriptedCsms201


@pytest.fixture
async def twin(csms: ScriptedCsms201, events: EventLog) -> AsyncIterator[ChargePointTwin]:
    """Two EVSEs, one connector each."""
    twin = await booted_twin(csms, events, connector_types=("cType2", "cType2"))
    await csms.wait_for("StatusNotification", count=2)
    yield twin
    await twin.close()


async def charging(twin: ChargePointTwin, connector_id: int = 1) -> str:
    await twin.plug_in(connector_id, make_vehicle(), f"veh-{connector_id}")
    started = await twin.start_transaction(connector_id, "TAG")
    return started.transaction_ref


async def wait_status(csms: ScriptedCsms201, evse_id: int, status: str) -> None:
    await csms.wait_for(
        "StatusNotification",
        lambda p: p["evseId"] == evse_id and p["connectorStatus"] == status,
    )


def component(name: str, instance: str | None = None, evse: Any = None) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name}
    if instance:
        out["instance"] = instance
    if evse is not None:
        out["evse"] = evse
    return out


def get_item(comp: dict[str, Any], name: str, **extra: Any) -> dict[str, Any]:
    return {"component": comp, "variable": {"name": name}, **extra}


# -- device model ---------------------------------------------------------------------------------


async def test_get_variables_answer_paths(twin: ChargePointTwin, csms: ScriptedCsms201) -> None:
    result = await csms.call(
        "CS1",
        call.GetVariables(
            get_variable_data=[
                get_item(component("OCPPCommCtrlr"), "HeartbeatInterval"),
                get_item(component("ocppcommctrlr"), "heartbeatinterval"),
                get_item(component("ChargingStation"), "VendorName"),
                get_item(component("EVSE", evse={"id": 2}), "AvailabilityState"),
                get_item(component("Connector", evse={"id": 1, "connectorId": 1}), "ConnectorType"),
                {
                    "component": component("OCPPCommCtrlr"),
                    "variable": {"name": "MessageAttempts", "instance": "TransactionEvent"},
                },
                get_item(component("FluxCapacitor"), "Enabled"),
                get_item(component("EVSE", evse={"id": 7}), "AvailabilityState"),
                get_item(component("EVSE"), "AvailabilityState"),
                get_item(component("OCPPCommCtrlr"), "WarpFactor"),
                get_item(component("OCPPCommCtrlr"), "HeartbeatInterval", attributeType="Target"),
            ]
        ),
    )
    answers = [
        (r["attribute_status"], r.get("attribute_value")) for r in result.get_variable_result
    ]
    assert answers == [
        ("Accepted", "300"),
        ("Accepted", "300"),
        ("Accepted", "Elu Twin"),
        ("Accepted", "Available"),
        ("Accepted", "cType2"),
        ("Accepted", "3"),
        ("UnknownComponent", None),
        ("UnknownComponent", None),
        ("UnknownComponent", None),
        ("UnknownVariable", None),
        ("NotSupportedAttributeType", None),
    ]
    assert result.get_variable_result[3]["component"] == {"name": "EVSE", "evse": {"id": 2}}


async def test_set_variables_answer_paths_and_effects(
    twin: ChargePointTwin, csms: ScriptedCsms201, events: EventLog
) -> None:
    def item(comp: str, name: str, value: str, **extra: Any) -> dict[str, Any]:
        return {
            "attributeValue": value,
            "component": {"name": comp},
            "variable": {"name": name},
            **extra,
        }

    result = await csms.call(
        "CS1",
        call.SetVariables(
            set_variable_data=[
                item("SampledDataCtrlr", "TxUpdatedInterval", "120"),
                item(
                    "SampledDataCtrlr", "TxUpdatedMeasurands", "Energy.Active.Import.Register,SoC"
                ),
                item("AuthCtrlr", "AuthorizeRemoteStart", "FALSE"),
                item("ChargingStation", "Model", "X"),
                item("OCPPCommCtrlr", "HeartbeatInterval", "-5"),
                item("OCPPCommCtrlr", "HeartbeatInterval", "soon"),
                item("SampledDataCtrlr", "TxUpdatedMeasurands", "Temperature"),
                item("TxCtrlr", "TxStartPoint", "EVConnected"),
                item("Nope", "HeartbeatInterval", "5"),
                item("OCPPCommCtrlr", "Nope", "5"),
                item("OCPPCommCtrlr", "HeartbeatInterval", "5", attributeType="MaxSet"),
            ]
        ),
    )
    statuses = [
        (r["attribute_status"], (r.get("attribute_status_info") or {}).get("reason_code"))
        for r in result.set_variable_result
    ]
    assert statuses == [
        ("Accepted", None),
        ("Accepted", None),
        ("Accepted", None),
        ("Rejected", "ReadOnly"),
        ("Rejected", "InvalidValue"),
        ("Rejected", "InvalidValue"),
        ("Rejected", "InvalidValue"),
        ("Rejected", "InvalidValue"),
        ("UnknownComponent", None),
        ("UnknownVariable", None),
        ("NotSupportedAttributeType", None),
    ]
    settings = twin.adapter.settings
    assert settings.meter_value_sample_interval == 120
    assert settings.measurands == ("Energy.Active.Import.Register", "SoC")
    assert settings.authorize_remote_tx_requests is False
    assert events.of(ConfigurationChanged)[-1].values == {
        "SampledDataCtrlr/TxUpdatedInterval": "120",
        "SampledDataCtrlr/TxUpdatedMeasurands": "Energy.Active.Import.Register,SoC",
        "AuthCtrlr/AuthorizeRemoteStart": "false",
    }

    # The measurands apply to the next meter values at once.
    transaction_id = await charging(twin)
    update = await csms.wait_for("TransactionEvent", lambda p: p["eventType"] == "Updated")
    assert set(sampled(update.payload)) == {"Energy.Active.Import.Register", "SoC"}
    await twin.stop_transaction(transaction_id)
    # Back to the default: the key is no longer stored.
    await csms.call(
        "CS1",
        call.SetVariables(set_variable_data=[item("SampledDataCtrlr", "TxUpdatedInterval", "60")]),
    )
    assert "SampledDataCtrlr/TxUpdatedInterval" not in twin.adapter.configuration_values()


async def test_get_base_report_in_parts(twin: ChargePointTwin, csms: ScriptedCsms201) -> None:
    result = await csms.call("CS1", call.GetBaseReport(request_id=3, report_base="FullInventory"))
    assert result.status == "Accepted"
    await eventually(lambda: any("tbc" not in r.payload for r in csms.of("NotifyReport")))
    parts = [r.payload for r in csms.of("NotifyReport")]
    assert len(parts) >= 2
    assert [p["seqNo"] for p in parts] == list(range(len(parts)))
    assert all(p["tbc"] is True for p in parts[:-1])
    assert all(p["requestId"] == 3 for p in parts)
    data = [d for p in parts for d in p["reportData"]]
    by_key = {
        (d["component"]["name"], json.dumps(d["component"].get("evse")), d["variable"]["name"]): d
        for d in data
    }
    heartbeat = by_key[("OCPPCommCtrlr", "null", "HeartbeatInterval")]
    assert heartbeat["variableAttribute"] == [
        {
            "type": "Actual",
            "value": "300",
            "mutability": "ReadWrite",
            "persistent": True,
            "constant": False,
        }
    ]
    assert heartbeat["variableCharacteristics"]["dataType"] == "integer"
    assert heartbeat["variableCharacteristics"]["unit"] == "s"
    assert ("EVSE", json.dumps({"id": 2}), "AvailabilityState") in by_key
    assert ("Connector", json.dumps({"id": 2, "connectorId": 1}), "ConnectorType") in by_key
    assert all(r.valid for r in csms.received)

    await csms.call("CS1", call.GetBaseReport(request_id=4, report_base="ConfigurationInventory"))
    await csms.wait_for("NotifyReport", lambda p: p["requestId"] == 4 and "tbc" not in p)
    config = [
        d
        for r in csms.of("NotifyReport")
        if r.payload["requestId"] == 4
        for d in r.payload["reportData"]
    ]
    assert {d["variableAttribute"][0]["mutability"] for d in config} == {"ReadWrite"}
    await csms.call("CS1", call.GetBaseReport(request_id=5, report_base="SummaryInventory"))
    summary = await csms.wait_for("NotifyReport", lambda p: p["requestId"] == 5)
    names = {d["variable"]["name"] for d in summary.payload["reportData"]}
    assert names == {"AvailabilityState", "Available", "Problem"}


# -- availability, unlock, reset -----------------------------------------------------------------


async def test_change_availability(twin: ChargePointTwin, csms: ScriptedCsms201) -> None:
    result = await csms.call(
        "CS1", call.ChangeAvailability(operational_status="Inoperative", evse={"id": 9})
    )
    assert result.status == "Rejected"
    result = await csms.call(
        "CS1", call.ChangeAvailability(operational_status="Inoperative", evse={"id": 2})
    )
    assert result.status == "Accepted"
    await wait_status(csms, 2, "Unavailable")
    with pytest.raises(InvalidState, match="Unavailable"):
        await twin.start_transaction(2, "TAG", make_vehicle(), "v")
    result = await csms.call(
        "CS1",
        call.ChangeAvailability(operational_status="Operative", evse={"id": 2, "connectorId": 1}),
    )
    assert result.status == "Accepted"
    await wait_status(csms, 2, "Available")

    transaction_id = await charging(twin)
    result = await csms.call("CS1", call.ChangeAvailability(operational_status="Inoperative"))
    assert result.status == "Scheduled"
    await twin.stop_transaction(transaction_id)
    await wait_status(csms, 2, "Unavailable")
    await twin.unplug(1)
    await wait_status(csms, 1, "Unavailable")


async def test_unlock_connector(twin: ChargePointTwin, csms: ScriptedCsms201) -> None:
    result = await csms.call("CS1", call.UnlockConnector(evse_id=9, connector_id=1))
    assert result.status == "UnknownConnector"
    result = await csms.call("CS1", call.UnlockConnector(evse_id=2, connector_id=1))
    assert result.status == "Unlocked"
    await charging(twin)
    result = await csms.call("CS1", call.UnlockConnector(evse_id=1, connector_id=1))
    assert result.status == "OngoingAuthorizedTransaction"


async def test_reset_immediate_ends_transactions_and_boots_again(
    twin: ChargePointTwin, csms: ScriptedCsms201
) -> None:
    await charging(twin)
    result = await csms.call("CS1", call.Reset(type="Immediate"))
    assert result.status == "Accepted"
    ended = await csms.wait_for("TransactionEvent", lambda p: p["eventType"] == "Ended")
    assert ended.payload["triggerReason"] == "ResetCommand"
    assert ended.payload["transactionInfo"]["stoppedReason"] == "ImmediateReset"
    boot = await csms.wait_for("BootNotification", count=2)
    assert boot.payload["reason"] == "RemoteReset"
    await twin.connected(timeout=5)


async def test_reset_on_idle_is_scheduled_until_the_transaction_ends(
    twin: ChargePointTwin, csms: ScriptedCsms201
) -> None:
    transaction_id = await charging(twin)
    result = await csms.call("CS1", call.Reset(type="OnIdle"))
    assert result.status == "Scheduled"
    await csms.wait_for("TransactionEvent", lambda p: p["eventType"] == "Updated")
    assert len(csms.of("BootNotification")) == 1
    await twin.stop_transaction(transaction_id)
    await csms.wait_for("BootNotification", count=2)
    ended = csms.transaction_events()[-1]
    assert ended["transactionInfo"]["stoppedReason"] == "Local"


async def test_reset_of_one_evse(twin: ChargePointTwin, csms: ScriptedCsms201) -> None:
    result = await csms.call("CS1", call.Reset(type="Immediate", evse_id=9))
    assert result.status == "Rejected"
    result = await csms.call("CS1", call.Reset(type="OnIdle", evse_id=2))
    assert result.status == "Accepted"  # idle: it restarts at once
    await wait_status(csms, 2, "Unavailable")
    await wait_status(csms, 2, "Available")
    await eventually(lambda: twin.connector(2).status == "Available")

    await charging(twin, 2)
    result = await csms.call("CS1", call.Reset(type="Immediate", evse_id=2))
    assert result.status == "Accepted"
    ended = await csms.wait_for("TransactionEvent", lambda p: p["eventType"] == "Ended")
    assert ended.payload["transactionInfo"]["stoppedReason"] == "ImmediateReset"
    await csms.wait_for(
        "StatusNotification",
        lambda p: p["evseId"] == 2 and p["connectorStatus"] == "Unavailable",
        count=2,
    )
    assert len(csms.of("BootNotification")) == 1  # the station itself does not reboot
    assert not any(
        p.payload["evseId"] == 1 and p.payload["connectorStatus"] == "Unavailable"
        for p in csms.of("StatusNotification")
    ), "the other EVSE carries on"


async def test_reset_of_one_evse_on_idle_waits_for_its_transaction(
    twin: ChargePointTwin, csms: ScriptedCsms201
) -> None:
    transaction_id = await charging(twin, 2)
    result = await csms.call("CS1", call.Reset(type="OnIdle", evse_id=2))
    assert result.status == "Scheduled"
    with pytest.raises(InvalidState):  # no second session there: the EVSE is still busy
        await twin.start_transaction(2, "TAG")
    assert not any(
        p.payload["connectorStatus"] == "Unavailable" for p in csms.of("StatusNotification")
    )
    await twin.stop_transaction(transaction_id)
    ended = await csms.wait_for("TransactionEvent", lambda p: p["eventType"] == "Ended")
    assert ended.payload["transactionInfo"]["stoppedReason"] == "Local"
    await wait_status(csms, 2, "Unavailable")
    with pytest.raises(InvalidState, match="restarts"):
        await twin.start_transaction(2, "TAG", make_vehicle(), "veh-9")
    await eventually(lambda: twin.connector(2).status != "Unavailable", timeout=5)


# -- reservations --------------------------------------------------------------------------------


async def test_reserve_now_and_cancel(twin: ChargePointTwin, csms: ScriptedCsms201) -> None:
    expiry = format_time(twin.now() + timedelta(hours=1))
    token = {"idToken": "RES-1", "type": "ISO14443"}
    no_evse = await csms.call("CS1", call.ReserveNow(id=1, expiry_date_time=expiry, id_token=token))
    assert no_evse.status == "Rejected"
    wrong_type = await csms.call(
        "CS1",
        call.ReserveNow(
            id=1, expiry_date_time=expiry, id_token=token, evse_id=1, connector_type="cCCS2"
        ),
    )
    assert wrong_type.status == "Rejected"
    result = await csms.call(
        "CS1", call.ReserveNow(id=1, expiry_date_time=expiry, id_token=token, evse_id=1)
    )
    assert result.status == "Accepted"
    await wait_status(csms, 1, "Reserved")
    with pytest.raises(InvalidState, match="reserved"):
        await twin.plug_in(1, make_vehicle(), "veh-1", "SOMEONE-ELSE")
    await twin.plug_in(1, make_vehicle(), "veh-1", "RES-1")
    started = await twin.start_transaction(1, "RES-1")
    first = csms.transaction_events(started.transaction_ref)[0]
    assert first["reservationId"] == 1

    await csms.call(
        "CS1", call.ReserveNow(id=2, expiry_date_time=expiry, id_token=token, evse_id=2)
    )
    await wait_status(csms, 2, "Reserved")
    cancelled = await csms.call("CS1", call.CancelReservation(reservation_id=2))
    assert cancelled.status == "Accepted"
    await wait_status(csms, 2, "Available")
    again = await csms.call("CS1", call.CancelReservation(reservation_id=2))
    assert again.status == "Rejected"


# -- trigger, cache, local list, data transfer, transaction status ---------------------------------


async def test_trigger_message(twin: ChargePointTwin, csms: ScriptedCsms201) -> None:
    boot = await csms.call("CS1", call.TriggerMessage(requested_message="BootNotification"))
    assert boot.status == "Rejected"  # already accepted
    result = await csms.call("CS1", call.TriggerMessage(requested_message="Heartbeat"))
    assert result.status == "Accepted"
    await csms.wait_for("Heartbeat")
    result = await csms.call(
        "CS1",
        call.TriggerMessage(
            requested_message="StatusNotification", evse={"id": 2, "connectorId": 1}
        ),
    )
    assert result.status == "Accepted"
    await csms.wait_for("StatusNotification", count=3)
    result = await csms.call(
        "CS1", call.TriggerMessage(requested_message="MeterValues", evse={"id": 1})
    )
    assert result.status == "Accepted"
    meter = await csms.wait_for("MeterValues")
    assert meter.payload["evseId"] == 1
    assert meter.payload["meterValue"][0]["sampledValue"][0]["context"] == "Trigger"
    none = await csms.call("CS1", call.TriggerMessage(requested_message="TransactionEvent"))
    assert none.status == "Rejected"
    await charging(twin)
    result = await csms.call("CS1", call.TriggerMessage(requested_message="TransactionEvent"))
    assert result.status == "Accepted"
    triggered = await csms.wait_for("TransactionEvent", lambda p: p["triggerReason"] == "Trigger")
    assert triggered.payload["seqNo"] == 1
    unknown = await csms.call(
        "CS1", call.TriggerMessage(requested_message="StatusNotification", evse={"id": 8})
    )
    assert unknown.status == "Rejected"
    unsupported = await csms.call(
        "CS1", call.TriggerMessage(requested_message="SignCombinedCertificate")
    )
    assert unsupported.status == "NotImplemented"
    result = await csms.call(
        "CS1", call.TriggerMessage(requested_message="FirmwareStatusNotification")
    )
    assert result.status == "Accepted"
    await csms.wait_for("FirmwareStatusNotification")
    assert all(r.valid for r in csms.received)


async def test_local_list_and_cache(twin: ChargePointTwin, csms: ScriptedCsms201) -> None:
    version = await csms.call("CS1", call.GetLocalListVersion())
    assert version.version_number == 0
    result = await csms.call(
        "CS1",
        call.SendLocalList(
            version_number=3,
            update_type="Full",
            local_authorization_list=[
                {
                    "idToken": {"idToken": "LOCAL-1", "type": "ISO14443"},
                    "idTokenInfo": {"status": "Accepted"},
                }
            ],
        ),
    )
    assert result.status == "Accepted"
    assert twin.authorizer.listed("LOCAL-1").accepted
    stale = await csms.call("CS1", call.SendLocalList(version_number=2, update_type="Differential"))
    assert stale.status == "VersionMismatch"
    assert (await csms.call("CS1", call.GetLocalListVersion())).version_number == 3

    await charging(twin)
    assert twin.authorizer.cached("TAG") is not None
    cleared = await csms.call("CS1", call.ClearCache())
    assert cleared.status == "Accepted"
    assert twin.authorizer.cached("TAG") is None
    await csms.call(
        "CS1",
        call.SetVariables(
            set_variable_data=[
                {
                    "attributeValue": "false",
                    "component": {"name": "AuthCacheCtrlr"},
                    "variable": {"name": "Enabled"},
                }
            ]
        ),
    )
    assert twin.adapter.settings.authorization_cache_enabled is False
    assert (await csms.call("CS1", call.ClearCache())).status == "Rejected"


async def test_data_transfer_both_ways(twin: ChargePointTwin, csms: ScriptedCsms201) -> None:
    other = await csms.call("CS1", call.DataTransfer(vendor_id="Someone"))
    assert other.status == "UnknownVendorId"
    ours = await csms.call("CS1", call.DataTransfer(vendor_id=twin.config.vendor))
    assert ours.status == "Accepted"
    message = await csms.call(
        "CS1", call.DataTransfer(vendor_id=twin.config.vendor, message_id="x")
    )
    assert message.status == "UnknownMessageId"
    csms.answer("DataTransfer", {"status": "Accepted", "data": {"ok": 1}})
    status, data = await twin.adapter.send_data_transfer("Elu", "hello", {"a": 1})
    assert (status, data) == ("Accepted", {"ok": 1})
    sent = await csms.wait_for("DataTransfer")
    assert sent.payload == {"vendorId": "Elu", "messageId": "hello", "data": {"a": 1}}


async def test_get_transaction_status(twin: ChargePointTwin, csms: ScriptedCsms201) -> None:
    transaction_id = await charging(twin)
    result = await csms.call("CS1", call.GetTransactionStatus(transaction_id=transaction_id))
    assert (result.ongoing_indicator, result.messages_in_queue) == (True, False)
    await twin.stop_transaction(transaction_id)
    await csms.wait_for("TransactionEvent", lambda p: p["eventType"] == "Ended")
    result = await csms.call("CS1", call.GetTransactionStatus(transaction_id=transaction_id))
    assert result.ongoing_indicator is False
    result = await csms.call("CS1", call.GetTransactionStatus())
    assert result.messages_in_queue is False


# -- faults and charging state ----------------------------------------------------------------


async def test_fault_is_a_status_and_an_event(twin: ChargePointTwin, csms: ScriptedCsms201) -> None:
    await twin.set_faulted(1, "GroundFailure", "leak")
    await wait_status(csms, 1, "Faulted")
    event = await csms.wait_for("NotifyEvent")
    data = event.payload["eventData"][0]
    assert data["component"] == {"name": "Connector", "evse": {"id": 1, "connectorId": 1}}
    assert data["variable"] == {"name": "AvailabilityState"}
    assert (data["actualValue"], data["trigger"], data["techCode"]) == (
        "Faulted",
        "Delta",
        "GroundFailure",
    )
    await twin.clear_fault(1)
    await wait_status(csms, 1, "Available")
    cleared = await csms.wait_for("NotifyEvent", count=2)
    assert cleared.payload["eventData"][0]["cleared"] is True

    await twin.set_faulted(0, "PowerMeterFailure")
    station = await csms.wait_for("NotifyEvent", count=3)
    assert station.payload["eventData"][0]["component"] == {"name": "ChargingStation"}
    assert station.payload["eventData"][0]["variable"] == {"name": "Problem"}
    assert all(r.valid for r in csms.received)


async def test_charging_state_change_is_a_transaction_event(
    twin: ChargePointTwin, csms: ScriptedCsms201
) -> None:
    transaction_id = await charging(twin)
    profile = {
        "id": 1,
        "stackLevel": 0,
        "chargingProfilePurpose": "TxProfile",
        "chargingProfileKind": "Relative",
        "transactionId": transaction_id,
        "chargingSchedule": [
            {
                "id": 1,
                "chargingRateUnit": "W",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 0}],
            }
        ],
    }
    result = await csms.call("CS1", call.SetChargingProfile(evse_id=1, charging_profile=profile))
    assert result.status == "Accepted"
    changed = await csms.wait_for(
        "TransactionEvent", lambda p: p["triggerReason"] == "ChargingStateChanged"
    )
    assert changed.payload["transactionInfo"]["chargingState"] == "SuspendedEVSE"
    # Still Occupied: no new StatusNotification for the same 2.0.1 status.
    assert [
        r.payload["connectorStatus"]
        for r in csms.of("StatusNotification")
        if r.payload["evseId"] == 1
    ] == ["Available", "Occupied"]


# -- CALLERROR paths: the twin answers and keeps running ----------------------------------------


async def raw(csms: ScriptedCsms201, frame: str, unique_id: str) -> list[Any]:
    await csms.send_raw("CS1", frame)
    return await csms.wait_answer(unique_id)


async def test_call_errors_for_bad_frames(twin: ChargePointTwin, csms: ScriptedCsms201) -> None:
    answer = await raw(csms, "this is not json", "-1")
    assert answer[:3] == [4, "-1", "FormatViolation"]
    answer = await raw(csms, '[2, "u1", "FlyToTheMoon", {}]', "u1")
    assert answer[:3] == [4, "u1", "NotImplemented"]
    answer = await raw(csms, '[2, "u2", "PublishFirmware", {"location": "x"}]', "u2")
    assert answer[:3] == [4, "u2", "NotSupported"]
    answer = await raw(csms, '[2, "u3", "RequestStopTransaction", {"transactionId": 5}]', "u3")
    assert answer[:3] == [4, "u3", "TypeConstraintViolation"]
    answer = await raw(csms, '[2, "u4", "RequestStopTransaction", {}]', "u4")
    assert answer[:3] == [4, "u4", "ProtocolError"]
    answer = await raw(csms, '[2, "u5", "Reset", {"type": "OnIdle", "extra": 1}]', "u5")
    assert answer[:3] == [4, "u5", "FormatViolation"]
    answer = await raw(csms, '[2, "u6"]', "u6")
    assert answer[0] == 4
    await csms.send_raw("CS1", '[3, "nobody-asked", {}]')
    result = await csms.call("CS1", call.GetLocalListVersion())
    assert result.version_number == 0
    await charging(twin)
    assert all(json.loads(f)[0] in (2, 3, 4) for f in csms.frames if f.startswith("["))


async def test_evse_with_two_connectors_numbers_them_within_the_evse(
    csms: ScriptedCsms201, events: EventLog
) -> None:
    twin = await booted_twin(csms, events, cid="CS2", connectors_per_evse=2)
    try:
        await csms.wait_for("StatusNotification", count=2)
        assert [
            (r.payload["evseId"], r.payload["connectorId"]) for r in csms.of("StatusNotification")
        ] == [(1, 1), (1, 2)]
        await twin.plug_in(2, make_vehicle(), "veh-1")  # the EVSE's second connector
        result = await csms.call(
            "CS2",
            call.RequestStartTransaction(
                id_token={"idToken": "APP", "type": "Central"}, remote_start_id=1, evse_id=1
            ),
        )
        assert result.status == "Accepted"
        started = await csms.wait_for("TransactionEvent", lambda p: p["eventType"] == "Started")
        assert started.payload["evse"] == {"id": 1, "connectorId": 2}
        with pytest.raises(OccurrenceConstraintViolationError):
            await csms.call(
                "CS2",
                call.GetVariables(
                    get_variable_data=[
                        get_item(component("OCPPCommCtrlr"), "HeartbeatInterval")
                        for _ in range(101)
                    ]
                ),
            )
    finally:
        await twin.close()
