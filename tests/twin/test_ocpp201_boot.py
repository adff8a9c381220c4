"""OCPP 2.0.1: connecting, booting and heartbeats."""

from __future__ import annotations

import itertools

import pytest
from ocpp.exceptions import InternalError
from ocpp.v201 import call

from tests.twin.scripted_csms201 import (
    NO_ANSWER,
    EventLog,
    ScriptedCsms201,
    booted_twin,
    make_config,
    make_vehicle,
    now_iso,
)
from worker.twin.charge_point import ChargePointTwin
from worker.twin.clock import SystemClock, VirtualClock
from worker.twin.errors import CommandTimeout, Rejected
from worker.twin.events import ChargePointChanged, ConfigurationChanged, FrameLogged
from worker.twin.ocpp201 import Ocpp201Adapter

#: The ``csms`` fixture (tests/twin/conftest.py) of this module.
CSMS_TYPE = ScriptedCsms201


async def test_boot_accepted_then_status_per_connector(
    csms: ScriptedCsms201, events: EventLog
) -> None:
    twin = await booted_twin(
        csms, events, connector_types=("cType2", "cCCS2"), serial_number="SN-1"
    )
    assert isinstance(twin.adapter, Ocpp201Adapter)
    assert csms.subprotocols == ["ocpp2.0.1"]
    boot = csms.of("BootNotification")[0].payload
    assert boot == {
        "chargingStation": {
            "model": "Digital Twin",
            "vendorName": "Elu Twin",
            "firmwareVersion": "0.2.0",
            "serialNumber": "SN-1",
        },
        "reason": "PowerUp",
    }
    await csms.wait_for("StatusNotification", count=2)
    statuses = [
        (r.payload["evseId"], r.payload["connectorId"], r.payload["connectorStatus"])
        for r in csms.of("StatusNotification")
    ]
    assert statuses == [(1, 1, "Available"), (2, 1, "Available")]
    assert all(r.valid for r in csms.received)
    assert twin.snapshot()["heartbeat_interval"] == 300
    await twin.close()


async def test_pending_boot_retries_and_answers_get_variables_meanwhile(
    csms: ScriptedCsms201, events: EventLog
) -> None:
    answers = iter(["Pending", "Pending", "Accepted"])
    csms.answer(
        "BootNotification",
        lambda p: {"status": next(answers), "currentTime": now_iso(), "interval": 30},
    )
    twin = ChargePointTwin(make_config(csms.url), SystemClock(speed=600), events)
    await twin.start()
    await csms.wait_for("BootNotification")
    with pytest.raises(CommandTimeout, match="BootNotification Pending, retrying in 30 s"):
        await twin.connected(timeout=0.01)
    result = await csms.call(
        "CS1",
        call.GetVariables(
            get_variable_data=[
                {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}
            ]
        ),
    )
    assert result.get_variable_result[0]["attribute_status"] == "Accepted"
    await twin.connected(timeout=5)
    assert [r.action for r in csms.received][:3] == ["BootNotification"] * 3
    await twin.close()


async def test_rejected_boot_raises_and_keeps_retrying(
    csms: ScriptedCsms201, events: EventLog
) -> None:
    csms.answer(
        "BootNotification",
        lambda p: {"status": "Rejected", "currentTime": now_iso(), "interval": 60},
    )
    twin = ChargePointTwin(make_config(csms.url), SystemClock(speed=600), events)
    await twin.start()
    with pytest.raises(Rejected, match="rejected the BootNotification, retrying in 60 s"):
        await twin.connected(timeout=5)
    assert [e.status for e in events.of(ChargePointChanged)][-1] == "Rejected"
    await csms.wait_for("BootNotification", count=2)
    assert {r.action for r in csms.received} == {"BootNotification"}
    await twin.close()


def sent_at(events: EventLog, action: str) -> list[float]:
    return [
        f.at.timestamp()
        for f in events.of(FrameLogged)
        if f.direction == "sent" and f.message_type == "CALL" and f.action == action
    ]


async def test_heartbeat_at_boot_interval_and_after_set_variables(
    csms: ScriptedCsms201, events: EventLog
) -> None:
    csms.heartbeat_interval = 60
    clock = VirtualClock()
    twin = await booted_twin(csms, events, clock=clock)
    booted_at = clock.now().timestamp()
    for _ in range(3):
        await clock.advance(60, settle=0.02)
    await csms.wait_for("Heartbeat", count=3)
    beats = sent_at(events, "Heartbeat")
    assert beats[0] == booted_at + 60
    assert [b - a for a, b in itertools.pairwise(beats)] == [60, 60]
    assert twin.adapter.configuration_values() == {"OCPPCommCtrlr/HeartbeatInterval": "60"}

    result = await csms.call(
        "CS1",
        call.SetVariables(
            set_variable_data=[
                {
                    "attributeValue": "120",
                    "component": {"name": "OCPPCommCtrlr"},
                    "variable": {"name": "HeartbeatInterval"},
                }
            ]
        ),
    )
    assert result.set_variable_result[0]["attribute_status"] == "Accepted"
    assert events.of(ConfigurationChanged)[-1].values == {"OCPPCommCtrlr/HeartbeatInterval": "120"}
    changed_at = clock.now().timestamp()
    for _ in range(4):
        await clock.advance(60, settle=0.02)
    await csms.wait_for("Heartbeat", count=5)
    assert sent_at(events, "Heartbeat")[3:] == [changed_at + 120, changed_at + 240]
    await twin.close()


async def test_stored_configuration_is_applied_at_creation(csms: ScriptedCsms201) -> None:
    config = make_config(
        csms.url,
        ocpp_configuration={
            "SampledDataCtrlr/TxUpdatedInterval": "30",
            "sampleddatactrlr/txupdatedmeasurands": "Energy.Active.Import.Register",
            "AuthCtrlr/AuthorizeRemoteStart": "false",
            "OCPPCommCtrlr/Nope": "1",
            "ChargingStation/Model": "read only and live: ignored",
        },
    )
    twin = ChargePointTwin(config, SystemClock(speed=600), EventLog())
    settings = twin.adapter.settings
    assert settings.meter_value_sample_interval == 30
    assert settings.measurands == ("Energy.Active.Import.Register",)
    assert settings.authorize_remote_tx_requests is False
    assert twin.adapter.configuration_values() == {
        "SampledDataCtrlr/TxUpdatedInterval": "30",
        "SampledDataCtrlr/TxUpdatedMeasurands": "Energy.Active.Import.Register",
        "AuthCtrlr/AuthorizeRemoteStart": "false",
    }
    await twin.close()


async def test_call_error_and_silence_from_csms_do_not_stop_the_twin(
    csms: ScriptedCsms201, events: EventLog
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
    csms.answer("Authorize", {"idTokenInfo": {"status": "Accepted"}, "bogus": 1})
    with pytest.raises(Rejected, match="invalid answer"):
        await twin.start_transaction(1, "TAG")
    csms.answer("Authorize", {"idTokenInfo": {"status": "Accepted"}})
    started = await twin.start_transaction(1, "TAG")
    assert started.csms_transaction_id == started.transaction_ref
    assert twin.snapshot()["connected"] is True
    await twin.close()
