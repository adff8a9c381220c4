"""Every CSMS-initiated OCPP 1.6 operation, with each of its answers."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest
from ocpp.exceptions import InternalError
from ocpp.v16 import call

from tests.twin.scripted_csms import (
    NO_ANSWER,
    EventLog,
    ScriptedCsms,
    booted_twin,
    eventually,
    make_config,
    make_vehicle,
    sampled,
)
from worker.twin.charge_point import ChargePointTwin
from worker.twin.clock import SystemClock, VirtualClock
from worker.twin.errors import CommandTimeout, InvalidState
from worker.twin.events import ConfigurationChanged, FrameLogged, TransactionChanged
from worker.twin.smart_charging import format_time


@pytest.fixture
async def twin(csms: ScriptedCsms, events: EventLog) -> AsyncIterator[ChargePointTwin]:
    twin = await booted_twin(csms, events, connector_types=("cType2", "cType2"))
    yield twin
    await twin.close()


def status_of(csms: ScriptedCsms, connector_id: int) -> str:
    return [
        r.payload["status"]
        for r in csms.of("StatusNotification")
        if r.payload["connectorId"] == connector_id
    ][-1]


async def wait_status(csms: ScriptedCsms, connector_id: int, status: str) -> None:
    await eventually(
        lambda: (
            any(
                r.payload == {**r.payload, "connectorId": connector_id, "status": status}
                for r in csms.of("StatusNotification")
            )
            and status_of(csms, connector_id) == status
        )
    )


def timestamp(meter_values: dict) -> datetime:
    return datetime.fromisoformat(meter_values["meterValue"][0]["timestamp"].replace("Z", "+00:00"))


def tx_default_profile(
    limit: float, unit: str = "A", stack_level: int = 0, **extra: object
) -> dict:
    return {
        "chargingProfileId": 10 + stack_level,
        "stackLevel": stack_level,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Relative",
        "chargingSchedule": {
            "chargingRateUnit": unit,
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit}],
        },
        **extra,
    }


async def charging(twin: ChargePointTwin, csms: ScriptedCsms, connector_id: int = 1) -> str:
    """Plug in and start; return the CSMS transaction id."""
    await twin.plug_in(connector_id, make_vehicle(), f"veh-{connector_id}")
    started = await twin.start_transaction(connector_id, "TAG")
    assert started.csms_transaction_id is not None
    return started.csms_transaction_id


# -- remote start / stop --------------------------------------------------------------------


async def test_remote_start_needs_a_plugged_in_vehicle(
    twin: ChargePointTwin, csms: ScriptedCsms, events: EventLog
) -> None:
    """With ConnectionTimeOut 0 (no waiting for the cable: see test_ocpp16_settings.py),
    and without a connectorId, the connector with the vehicle."""
    changed = await csms.call("CP1", call.ChangeConfiguration(key="ConnectionTimeOut", value="0"))
    assert changed.status == "Accepted"
    result = await csms.call("CP1", call.RemoteStartTransaction(id_tag="TAG", connector_id=1))
    assert result.status == "Rejected"
    await twin.plug_in(2, make_vehicle(), "veh-2")
    result = await csms.call("CP1", call.RemoteStartTransaction(id_tag="TAG"))
    assert result.status == "Accepted"
    start = await csms.wait_for("StartTransaction")
    assert start.payload["connectorId"] == 2
    assert csms.of("Authorize")[-1].payload["idTag"] == "TAG"  # AuthorizeRemoteTxRequests
    sent = [(f.message_type, f.action) for f in events.of(FrameLogged) if f.direction == "sent"]
    answered = sent.index(("CALLRESULT", "RemoteStartTransaction"))
    assert sent.index(("CALL", "Authorize")) > answered


async def test_remote_start_with_profile_and_without_authorize(
    twin: ChargePointTwin, csms: ScriptedCsms
) -> None:
    changed = await csms.call(
        "CP1", call.ChangeConfiguration(key="AuthorizeRemoteTxRequests", value="false")
    )
    assert changed.status == "Accepted"
    await twin.plug_in(1, make_vehicle(), "veh-1")
    profile = {**tx_default_profile(10), "chargingProfilePurpose": "TxProfile"}
    result = await csms.call(
        "CP1",
        call.RemoteStartTransaction(id_tag="TAG", connector_id=1, charging_profile=profile),
    )
    assert result.status == "Accepted"
    await csms.wait_for("StartTransaction")
    assert csms.of("Authorize") == []
    meter = await csms.wait_for("MeterValues")
    assert sampled(meter.payload)["Power.Active.Import"] == pytest.approx(10 * 230 * 3)
    # A TxProfile ends with its transaction.
    await twin.stop_transaction(twin.snapshot()["transactions"][0]["transaction_ref"])
    assert twin.profiles.profiles() == []


async def test_remote_start_with_wrong_profile_purpose_is_rejected(
    twin: ChargePointTwin, csms: ScriptedCsms
) -> None:
    await twin.plug_in(1, make_vehicle(), "veh-1")
    result = await csms.call(
        "CP1",
        call.RemoteStartTransaction(
            id_tag="TAG", connector_id=1, charging_profile=tx_default_profile(10)
        ),
    )
    assert result.status == "Rejected"


async def test_remote_start_for_rejected_tag_starts_nothing(
    twin: ChargePointTwin, csms: ScriptedCsms, events: EventLog
) -> None:
    csms.rejected_id_tags.add("BAD")
    await twin.plug_in(1, make_vehicle(), "veh-1")
    result = await csms.call("CP1", call.RemoteStartTransaction(id_tag="BAD", connector_id=1))
    assert result.status == "Accepted"
    await csms.wait_for("Authorize")
    await eventually(
        lambda: [e.status for e in events.of(TransactionChanged)] == ["Authorizing", "Rejected"]
    )
    assert csms.of("StartTransaction") == []


async def test_remote_stop(twin: ChargePointTwin, csms: ScriptedCsms) -> None:
    result = await csms.call("CP1", call.RemoteStopTransaction(transaction_id=99))
    assert result.status == "Rejected"
    transaction_id = await charging(twin, csms)
    result = await csms.call("CP1", call.RemoteStopTransaction(transaction_id=int(transaction_id)))
    assert result.status == "Accepted"
    stop = await csms.wait_for("StopTransaction")
    assert stop.payload["reason"] == "Remote"
    await wait_status(csms, 1, "Finishing")


# -- reservations -----------------------------------------------------------------------------


async def test_reserve_now_answers(twin: ChargePointTwin, csms: ScriptedCsms) -> None:
    expiry = format_time(twin.now() + timedelta(hours=1))

    async def reserve(connector_id: int, reservation_id: int, id_tag: str = "TAG") -> str:
        result = await csms.call(
            "CP1",
            call.ReserveNow(
                connector_id=connector_id,
                expiry_date=expiry,
                id_tag=id_tag,
                reservation_id=reservation_id,
            ),
        )
        return result.status

    assert await reserve(0, 1) == "Rejected"  # ReserveConnectorZeroSupported is false
    assert await reserve(9, 1) == "Rejected"
    assert await reserve(1, 1) == "Accepted"
    await wait_status(csms, 1, "Reserved")
    assert await reserve(1, 2) == "Occupied"
    await twin.plug_in(2, make_vehicle(), "veh-2")
    assert await reserve(2, 3) == "Occupied"
    await twin.unplug(2)
    await twin.set_faulted(2)
    assert await reserve(2, 3) == "Faulted"
    await twin.clear_fault(2)
    await csms.call("CP1", call.ChangeAvailability(connector_id=2, type="Inoperative"))
    assert await reserve(2, 3) == "Unavailable"

    with pytest.raises(InvalidState, match="reserved for id tag TAG"):
        await twin.plug_in(1, make_vehicle(), "veh-x", id_tag="OTHER")
    await twin.plug_in(1, make_vehicle(), "veh-1", id_tag="TAG")
    await twin.start_transaction(1, "TAG")
    start = await csms.wait_for("StartTransaction")
    assert start.payload["reservationId"] == 1


async def test_cancel_reservation(twin: ChargePointTwin, csms: ScriptedCsms) -> None:
    result = await csms.call("CP1", call.CancelReservation(reservation_id=5))
    assert result.status == "Rejected"
    expiry = format_time(twin.now() + timedelta(hours=1))
    await csms.call(
        "CP1", call.ReserveNow(connector_id=1, expiry_date=expiry, id_tag="T", reservation_id=5)
    )
    await wait_status(csms, 1, "Reserved")
    result = await csms.call("CP1", call.CancelReservation(reservation_id=5))
    assert result.status == "Accepted"
    await wait_status(csms, 1, "Available")


async def test_reservation_expires(twin: ChargePointTwin, csms: ScriptedCsms) -> None:
    expiry = format_time(twin.now() + timedelta(minutes=2))  # 0.2 s at speed 600
    result = await csms.call(
        "CP1", call.ReserveNow(connector_id=1, expiry_date=expiry, id_tag="T", reservation_id=7)
    )
    assert result.status == "Accepted"
    await wait_status(csms, 1, "Reserved")
    await wait_status(csms, 1, "Available")
    assert twin.snapshot()["reservations"] == []


# -- availability, unlock, reset ---------------------------------------------------------------


async def test_change_availability(twin: ChargePointTwin, csms: ScriptedCsms) -> None:
    result = await csms.call("CP1", call.ChangeAvailability(connector_id=9, type="Inoperative"))
    assert result.status == "Rejected"
    result = await csms.call("CP1", call.ChangeAvailability(connector_id=2, type="Inoperative"))
    assert result.status == "Accepted"
    await wait_status(csms, 2, "Unavailable")
    with pytest.raises(InvalidState, match="Unavailable"):
        await twin.start_transaction(2, "TAG", make_vehicle(), "v")
    result = await csms.call("CP1", call.ChangeAvailability(connector_id=2, type="Operative"))
    assert result.status == "Accepted"
    await wait_status(csms, 2, "Available")

    transaction_id = await charging(twin, csms)
    result = await csms.call("CP1", call.ChangeAvailability(connector_id=1, type="Inoperative"))
    assert result.status == "Scheduled"
    await twin.stop_transaction(transaction_id)
    await wait_status(csms, 1, "Unavailable")

    result = await csms.call("CP1", call.ChangeAvailability(connector_id=0, type="Inoperative"))
    assert result.status == "Accepted"
    await wait_status(csms, 0, "Unavailable")
    await wait_status(csms, 2, "Unavailable")


async def test_change_availability_of_charge_point_is_scheduled_during_transaction(
    twin: ChargePointTwin, csms: ScriptedCsms
) -> None:
    transaction_id = await charging(twin, csms)
    result = await csms.call("CP1", call.ChangeAvailability(connector_id=0, type="Inoperative"))
    assert result.status == "Scheduled"
    await twin.stop_transaction(transaction_id)
    await wait_status(csms, 2, "Unavailable")


async def test_unlock_connector(twin: ChargePointTwin, csms: ScriptedCsms) -> None:
    result = await csms.call("CP1", call.UnlockConnector(connector_id=9))
    assert result.status == "NotSupported"
    result = await csms.call("CP1", call.UnlockConnector(connector_id=2))
    assert result.status == "Unlocked"
    await charging(twin, csms)
    result = await csms.call("CP1", call.UnlockConnector(connector_id=1))
    assert result.status == "Unlocked"
    stop = await csms.wait_for("StopTransaction")
    assert stop.payload["reason"] == "UnlockCommand"


@pytest.mark.parametrize(("kind", "reason"), [("Soft", "SoftReset"), ("Hard", "HardReset")])
async def test_reset_stops_transactions_and_boots_again(
    twin: ChargePointTwin, csms: ScriptedCsms, kind: str, reason: str
) -> None:
    await charging(twin, csms)
    result = await csms.call("CP1", call.Reset(type=kind))
    assert result.status == "Accepted"
    stop = await csms.wait_for("StopTransaction")
    assert stop.payload["reason"] == reason
    await csms.wait_for("BootNotification", count=2)
    await twin.connected(timeout=5)
    await eventually(lambda: csms.connection_count == 2)
    actions = [r.action for r in csms.received]
    assert actions.index("StopTransaction") < len(actions) - 1 - actions[::-1].index(
        "BootNotification"
    )


# -- smart charging ---------------------------------------------------------------------------


async def test_tx_default_profile_of_6_amps_limits_power_and_energy(
    twin: ChargePointTwin, csms: ScriptedCsms
) -> None:
    result = await csms.call(
        "CP1", call.SetChargingProfile(connector_id=0, cs_charging_profiles=tx_default_profile(6))
    )
    assert result.status == "Accepted"
    await twin.plug_in(1, make_vehicle(soc=20), "veh-1")
    started = await twin.start_transaction(1, "TAG")
    first = await csms.wait_for("MeterValues")
    second = await csms.wait_for("MeterValues", count=2)
    values = sampled(second.payload)
    assert values["Power.Active.Import"] == pytest.approx(4140.0)
    assert values["Current.Import"] == pytest.approx(6.0)
    gained_wh = (
        values["Energy.Active.Import.Register"]
        - sampled(first.payload)["Energy.Active.Import.Register"]
    )
    hours = (timestamp(second.payload) - timestamp(first.payload)).total_seconds() / 3600
    assert gained_wh == pytest.approx(4140.0 * hours, abs=0.11)  # two values rounded to 0.1 Wh
    stopped = await twin.stop_transaction(started.transaction_ref)
    elapsed_h = (stopped.end_time - stopped.start_time).total_seconds() / 3600
    assert stopped.energy_kwh == pytest.approx(4.14 * elapsed_h, rel=1e-6)  # µs timestamps


async def test_set_and_clear_profiles_change_power_at_once(
    twin: ChargePointTwin, csms: ScriptedCsms
) -> None:
    await charging(twin, csms)
    connector = twin.connector(1)
    assert connector.power_kw == pytest.approx(22.0)
    result = await csms.call(
        "CP1",
        call.SetChargingProfile(connector_id=1, cs_charging_profiles=tx_default_profile(7000, "W")),
    )
    assert result.status == "Accepted"
    assert connector.power_kw == pytest.approx(7.0)
    result = await csms.call(
        "CP1",
        call.SetChargingProfile(
            connector_id=1, cs_charging_profiles=tx_default_profile(0, stack_level=1)
        ),
    )
    assert result.status == "Accepted"
    await wait_status(csms, 1, "SuspendedEVSE")
    result = await csms.call("CP1", call.ClearChargingProfile(stack_level=1))
    assert result.status == "Accepted"
    await wait_status(csms, 1, "Charging")
    assert connector.power_kw == pytest.approx(7.0)
    result = await csms.call("CP1", call.ClearChargingProfile())
    assert result.status == "Accepted"
    assert connector.power_kw == pytest.approx(22.0)
    result = await csms.call("CP1", call.ClearChargingProfile(id=1234))
    assert result.status == "Unknown"


async def test_set_charging_profile_rejections(twin: ChargePointTwin, csms: ScriptedCsms) -> None:
    tx_profile = {**tx_default_profile(10), "chargingProfilePurpose": "TxProfile"}
    for connector_id, profile in [
        (9, tx_default_profile(10)),
        (1, tx_profile),  # no transaction
        (0, tx_profile),
        (1, {**tx_default_profile(10), "chargingProfilePurpose": "ChargePointMaxProfile"}),
        (1, tx_default_profile(10, stack_level=11)),  # above ChargeProfileMaxStackLevel
    ]:
        result = await csms.call(
            "CP1", call.SetChargingProfile(connector_id=connector_id, cs_charging_profiles=profile)
        )
        assert result.status == "Rejected", (connector_id, profile)


async def test_get_composite_schedule(twin: ChargePointTwin, csms: ScriptedCsms) -> None:
    result = await csms.call("CP1", call.GetCompositeSchedule(connector_id=9, duration=60))
    assert result.status == "Rejected"
    await csms.call(
        "CP1", call.SetChargingProfile(connector_id=0, cs_charging_profiles=tx_default_profile(16))
    )
    result = await csms.call(
        "CP1", call.GetCompositeSchedule(connector_id=1, duration=3600, charging_rate_unit="A")
    )
    assert result.status == "Accepted"
    assert result.connector_id == 1
    schedule = result.charging_schedule
    assert schedule["charging_rate_unit"] == "A"  # the library hands it over snake_cased
    assert schedule["charging_schedule_period"][0]["limit"] == 16.0


# -- configuration ---------------------------------------------------------------------------


async def test_get_configuration(twin: ChargePointTwin, csms: ScriptedCsms) -> None:
    everything = await csms.call("CP1", call.GetConfiguration())
    keys = {entry["key"]: entry for entry in everything.configuration_key}
    assert keys["NumberOfConnectors"] == {
        "key": "NumberOfConnectors",
        "readonly": True,
        "value": "2",
    }
    assert keys["HeartbeatInterval"]["value"] == "300"
    assert "SupportedFeatureProfiles" in keys and "LocalAuthListEnabled" in keys
    assert everything.unknown_key is None
    some = await csms.call("CP1", call.GetConfiguration(key=["MeterValueSampleInterval", "Nope"]))
    assert [e["key"] for e in some.configuration_key] == ["MeterValueSampleInterval"]
    assert some.unknown_key == ["Nope"]


async def test_change_configuration_answers(
    twin: ChargePointTwin, csms: ScriptedCsms, events: EventLog
) -> None:
    async def change(key: str, value: str) -> str:
        return (await csms.call("CP1", call.ChangeConfiguration(key=key, value=value))).status

    assert await change("NumberOfConnectors", "5") == "Rejected"
    assert await change("NoSuchKey", "1") == "NotSupported"
    assert await change("MeterValueSampleInterval", "soon") == "Rejected"
    assert await change("LocalPreAuthorize", "maybe") == "Rejected"
    assert (
        await change("MeterValuesSampledData", "Energy.Active.Import.Register,Bogus") == "Rejected"
    )
    assert (
        await change("MeterValuesSampledData", "Energy.Active.Import.Register,Power.Active.Import")
        == "Accepted"
    )
    assert await change("MeterValueSampleInterval", "30") == "Accepted"
    assert events.of(ConfigurationChanged)[-1].values == {
        "HeartbeatInterval": "300",
        "MeterValuesSampledData": "Energy.Active.Import.Register,Power.Active.Import",
        "MeterValueSampleInterval": "30",
    } or events.of(ConfigurationChanged)[-1].values == {
        "MeterValuesSampledData": "Energy.Active.Import.Register,Power.Active.Import",
        "MeterValueSampleInterval": "30",
    }

    await charging(twin, csms)
    meter = await csms.wait_for("MeterValues")
    assert set(sampled(meter.payload)) == {"Energy.Active.Import.Register", "Power.Active.Import"}


async def test_meter_value_sample_interval_change_reschedules_metering(
    csms: ScriptedCsms, events: EventLog
) -> None:
    clock = VirtualClock()
    twin = ChargePointTwin(make_config(csms.url), clock, events)
    await twin.start()
    await twin.connected(timeout=5)
    await twin.plug_in(1, make_vehicle(), "veh-1")
    await twin.start_transaction(1, "TAG")
    started = clock.now().timestamp()
    await clock.advance(60, settle=0.02)
    await csms.wait_for("MeterValues")
    result = await csms.call(
        "CP1", call.ChangeConfiguration(key="MeterValueSampleInterval", value="15")
    )
    assert result.status == "Accepted"
    changed = clock.now().timestamp()
    await clock.advance(30, settle=0.02)
    await csms.wait_for("MeterValues", count=3)
    sent = [
        f.at.timestamp()
        for f in events.of(FrameLogged)
        if f.direction == "sent" and f.action == "MeterValues" and f.message_type == "CALL"
    ]
    assert sent == [started + 60, changed + 15, changed + 30]
    await twin.close()


async def test_initial_configuration_comes_from_config(
    csms: ScriptedCsms, events: EventLog
) -> None:
    twin = await booted_twin(
        csms, events, ocpp_configuration={"MeterValueSampleInterval": "15", "Bogus": "1"}
    )
    result = await csms.call("CP1", call.GetConfiguration(key=["MeterValueSampleInterval"]))
    assert result.configuration_key[0]["value"] == "15"
    assert twin.adapter.settings.meter_value_sample_interval == 15
    await twin.close()


# -- local authorisation -------------------------------------------------------------------------


async def test_local_list_and_cache(twin: ChargePointTwin, csms: ScriptedCsms) -> None:
    assert (await csms.call("CP1", call.GetLocalListVersion())).list_version == 0
    full = await csms.call(
        "CP1",
        call.SendLocalList(
            list_version=3,
            update_type="Full",
            local_authorization_list=[
                {"idTag": "LOCAL", "idTagInfo": {"status": "Accepted"}},
                {"idTag": "GONE", "idTagInfo": {"status": "Accepted"}},
            ],
        ),
    )
    assert full.status == "Accepted"
    assert (await csms.call("CP1", call.GetLocalListVersion())).list_version == 3
    mismatch = await csms.call(
        "CP1",
        call.SendLocalList(list_version=3, update_type="Differential", local_authorization_list=[]),
    )
    assert mismatch.status == "VersionMismatch"
    differential = await csms.call(
        "CP1",
        call.SendLocalList(
            list_version=4, update_type="Differential", local_authorization_list=[{"idTag": "GONE"}]
        ),
    )
    assert differential.status == "Accepted"
    assert twin.authorizer.listed("GONE") is None
    too_long = await csms.call(
        "CP1",
        call.SendLocalList(
            list_version=5,
            update_type="Full",
            local_authorization_list=[{"idTag": f"T{n}"} for n in range(101)],
        ),
    )
    assert too_long.status == "Failed"  # SendLocalListMaxLength is 100
    assert (await csms.call("CP1", call.GetLocalListVersion())).list_version == 4

    await csms.call("CP1", call.ChangeConfiguration(key="LocalPreAuthorize", value="true"))
    await twin.plug_in(1, make_vehicle(), "veh-1")
    await twin.start_transaction(1, "LOCAL")
    assert csms.of("Authorize") == []  # accepted from the local list
    assert (await csms.call("CP1", call.ClearCache())).status == "Accepted"


# -- trigger message, data transfer, not implemented -------------------------------------------


@pytest.mark.parametrize(
    ("message", "sent"),
    [
        ("BootNotification", "BootNotification"),
        ("Heartbeat", "Heartbeat"),
        ("StatusNotification", "StatusNotification"),
        ("MeterValues", "MeterValues"),
        ("DiagnosticsStatusNotification", "DiagnosticsStatusNotification"),
        ("FirmwareStatusNotification", "FirmwareStatusNotification"),
    ],
)
async def test_trigger_message(
    twin: ChargePointTwin, csms: ScriptedCsms, message: str, sent: str
) -> None:
    before = len(csms.of(sent))
    result = await csms.call("CP1", call.TriggerMessage(requested_message=message, connector_id=1))
    assert result.status == "Accepted"
    triggered = await csms.wait_for(sent, count=before + 1)
    assert triggered.valid
    if sent == "MeterValues":
        assert triggered.payload["meterValue"][0]["sampledValue"][0]["context"] == "Trigger"


async def test_trigger_message_for_unknown_connector(
    twin: ChargePointTwin, csms: ScriptedCsms
) -> None:
    result = await csms.call(
        "CP1", call.TriggerMessage(requested_message="StatusNotification", connector_id=9)
    )
    assert result.status == "Rejected"


async def test_data_transfer(twin: ChargePointTwin, csms: ScriptedCsms) -> None:
    other = await csms.call("CP1", call.DataTransfer(vendor_id="Someone"))
    assert other.status == "UnknownVendorId"
    ours = await csms.call("CP1", call.DataTransfer(vendor_id=twin.config.vendor))
    assert ours.status == "Accepted"


# -- CALLERROR paths: the twin answers and keeps running ----------------------------------------


async def raw(csms: ScriptedCsms, frame: str, unique_id: str) -> list:
    await csms.send_raw("CP1", frame)
    return await csms.wait_answer(unique_id)


async def test_call_errors_for_bad_frames(twin: ChargePointTwin, csms: ScriptedCsms) -> None:
    answer = await raw(csms, "this is not json", "-1")
    assert answer[:3] == [4, "-1", "FormationViolation"]
    answer = await raw(csms, '[2, "u1", "FlyToTheMoon", {}]', "u1")
    assert answer[:3] == [4, "u1", "NotImplemented"]
    answer = await raw(csms, '[2, "u2", "SignCertificate", {"csr": "x"}]', "u2")
    assert answer[:3] == [4, "u2", "NotImplemented"]
    answer = await raw(csms, '[2, "u3", "RemoteStopTransaction", {"transactionId": "abc"}]', "u3")
    assert answer[:3] == [4, "u3", "TypeConstraintViolation"]
    answer = await raw(csms, '[2, "u4", "RemoteStopTransaction", {}]', "u4")
    assert answer[:3] == [4, "u4", "ProtocolError"]
    answer = await raw(csms, '[2, "u5", "Reset", {"type": "Soft", "extra": 1}]', "u5")
    assert answer[:3] == [4, "u5", "FormationViolation"]
    answer = await raw(csms, '[2, "u6"]', "u6")
    assert answer[:3] == [4, "u6", "ProtocolError"]
    await csms.send_raw("CP1", '[3, "nobody-asked", {}]')
    # Still alive and well.
    result = await csms.call("CP1", call.GetLocalListVersion())
    assert result.list_version == 0
    await charging(twin, csms)
    assert all(json.loads(f)[0] in (2, 3, 4) for f in csms.frames if f.startswith("["))


async def test_call_error_and_silence_from_csms_do_not_stop_the_twin(
    csms: ScriptedCsms, events: EventLog
) -> None:
    csms.heartbeat_interval = 30
    csms.answer("Heartbeat", InternalError(description="boom"))
    csms.answer("StatusNotification", InternalError(description="boom"))
    twin = ChargePointTwin(
        make_config(csms.url), SystemClock(speed=600), events, response_timeout=0.2
    )
    await twin.start()
    await twin.connected(timeout=5)
    await csms.wait_for("Heartbeat", count=3)
    csms.answer("Authorize", NO_ANSWER)
    await twin.plug_in(1, make_vehicle(), "veh-1")
    with pytest.raises(CommandTimeout, match="Authorize"):
        await twin.start_transaction(1, "TAG")
    csms.answer("Authorize", {"idTagInfo": {"status": "Accepted"}})
    started = await twin.start_transaction(1, "TAG")
    assert started.csms_transaction_id == "1"
    await twin.close()
