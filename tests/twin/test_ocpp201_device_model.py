"""The OCPP 2.0.1 device model: addressing, validation, stored values, clock-aligned data."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from ocpp.v201 import call

from tests.twin.scripted_csms201 import (
    EventLog,
    ScriptedCsms201,
    booted_twin,
    make_config,
    make_vehicle,
    sampled,
)
from worker.twin.clock import VirtualClock
from worker.twin.device_model import (
    VARIABLES,
    Address,
    DeviceModel,
    normalise,
    parse_key,
    variable,
)

EVSES = make_config("ws://x", connector_types=("cType2", "cCCS2"), connectors_per_evse=2).evses


def no_live(address: Address) -> str:
    return "live"


def test_definitions_are_unique_and_defaults_valid() -> None:
    assert len({v.lookup for v in VARIABLES}) == len(VARIABLES)
    for definition in VARIABLES:
        if not definition.live:
            assert normalise(definition, definition.default) == definition.default, definition


@pytest.mark.parametrize(
    "key",
    [
        "OCPPCommCtrlr/HeartbeatInterval",
        "OCPPCommCtrlr/MessageAttempts.TransactionEvent",
        "EVSE@2/AvailabilityState",
        "Connector@2.2/ConnectorType",
        "SmartChargingCtrlr/Entries.ChargingProfiles",
    ],
)
def test_keys_round_trip(key: str) -> None:
    address = parse_key(EVSES, key)
    assert address is not None
    assert address.key == key


@pytest.mark.parametrize(
    "key",
    [
        "OCPPCommCtrlr",
        "Nope/HeartbeatInterval",
        "OCPPCommCtrlr@1/HeartbeatInterval",
        "EVSE/AvailabilityState",
        "EVSE@3/AvailabilityState",
        "EVSE@x/AvailabilityState",
        "Connector@1.3/ConnectorType",
        "EVSE@1.1/AvailabilityState",
    ],
)
def test_bad_keys_name_nothing(key: str) -> None:
    assert parse_key(EVSES, key) is None


@pytest.mark.parametrize(
    ("component", "name", "value", "expected"),
    [
        ("OCPPCommCtrlr", "HeartbeatInterval", " 60 ", "60"),
        ("OCPPCommCtrlr", "HeartbeatInterval", "-1", None),
        ("OCPPCommCtrlr", "HeartbeatInterval", "1.5", None),
        ("AuthCtrlr", "LocalPreAuthorize", "TRUE", "true"),
        ("AuthCtrlr", "LocalPreAuthorize", "yes", None),
        ("SampledDataCtrlr", "TxUpdatedMeasurands", "SoC, Voltage", "SoC,Voltage"),
        ("SampledDataCtrlr", "TxUpdatedMeasurands", "SoC,SoC", None),
        ("SampledDataCtrlr", "TxUpdatedMeasurands", "", ""),
        ("TxCtrlr", "TxStopPoint", "Authorized", "Authorized"),
        ("TxCtrlr", "TxStopPoint", "ParkingBayOccupancy", None),
    ],
)
def test_values_are_validated_by_data_type(
    component: str, name: str, value: str, expected: str | None
) -> None:
    assert normalise(variable(component, name), value) == expected


def test_only_non_default_values_are_kept() -> None:
    model = DeviceModel(EVSES)
    assert model.values() == {}
    ignored = model.load(
        {
            "OCPPCommCtrlr/HeartbeatInterval": "300",
            "TxCtrlr/EVConnectionTimeOut": "90",
            "OCPPCommCtrlr/HeartbeatInterval.Nope": "1",
            "TxCtrlr/StopTxOnInvalidId": "maybe",
        }
    )
    assert ignored == ["OCPPCommCtrlr/HeartbeatInterval.Nope", "TxCtrlr/StopTxOnInvalidId"]
    assert model.values() == {"TxCtrlr/EVConnectionTimeOut": "90"}
    status, _, _ = model.set({"name": "TxCtrlr"}, {"name": "EVConnectionTimeOut"}, "Actual", "60")
    assert status == "Accepted"
    assert model.values() == {}
    assert model._values is None  # an idle twin holds no dict at all


def test_get_and_set_on_evse_and_connector_components() -> None:
    model = DeviceModel(EVSES)
    connector = {"name": "Connector", "evse": {"id": 2, "connector_id": 2}}
    assert model.get(connector, {"name": "ConnectorType"}, "Actual", no_live) == (
        "Accepted",
        "live",
    )
    assert model.get(
        {"name": "EVSE", "evse": {"id": 1}}, {"name": "Available"}, "Actual", no_live
    ) == (
        "Accepted",
        "true",
    )
    status, _, reason = model.set(connector, {"name": "Available"}, "Actual", "false")
    assert (status, reason) == ("Rejected", "ReadOnly")
    assert (
        model.get(
            {"name": "EVSE", "evse": {"id": 1, "connector_id": 1}},
            {"name": "Available"},
            "Actual",
            no_live,
        )[0]
        == "UnknownComponent"
    )


def test_report_bases() -> None:
    model = DeviceModel(EVSES)
    full = model.report("FullInventory", no_live)
    configuration = model.report("ConfigurationInventory", no_live)
    summary = model.report("SummaryInventory", no_live)
    per_connector = [v for v in VARIABLES if v.scope == "connector"]
    per_evse = [v for v in VARIABLES if v.scope == "evse"]
    station = [v for v in VARIABLES if v.scope == "station"]
    assert len(full) == len(station) + 2 * len(per_evse) + 4 * len(per_connector)
    assert 0 < len(configuration) < len(full)
    assert {d["variable"]["name"] for d in summary} == {"AvailabilityState", "Available", "Problem"}


async def test_clock_aligned_meter_values_idle_and_during_a_transaction() -> None:
    csms = await ScriptedCsms201().start()
    clock = VirtualClock(start=datetime(2026, 1, 1, 10, 0, 5, tzinfo=UTC))
    twin = await booted_twin(
        csms,
        EventLog(),
        clock=clock,
        ocpp_configuration={"AlignedDataCtrlr/Interval": "900"},
    )
    try:
        await clock.advance(900, settle=0.02)
        meter = await csms.wait_for("MeterValues")
        assert meter.payload["meterValue"][0]["timestamp"] == "2026-01-01T10:15:00Z"
        assert meter.payload["meterValue"][0]["sampledValue"] == [
            {
                "value": 0.0,
                "context": "Sample.Clock",
                "measurand": "Energy.Active.Import.Register",
                "unitOfMeasure": {"unit": "Wh"},
            }
        ]
        await twin.plug_in(1, make_vehicle(), "veh-1")
        await twin.start_transaction(1, "TAG")
        await clock.advance(900, settle=0.02)
        clocked = await csms.wait_for(
            "TransactionEvent", lambda p: p["triggerReason"] == "MeterValueClock"
        )
        assert set(sampled(clocked.payload)) == {"Energy.Active.Import.Register"}
        assert clocked.payload["meterValue"][0]["timestamp"] == "2026-01-01T10:30:00Z"

        result = await csms.call(
            "CS1",
            call.SetVariables(
                set_variable_data=[
                    {
                        "attributeValue": "0",
                        "component": {"name": "AlignedDataCtrlr"},
                        "variable": {"name": "Interval"},
                    }
                ]
            ),
        )
        assert result.set_variable_result[0]["attribute_status"] == "Accepted"
        assert twin.adapter._aligned_task is None
        assert all(r.valid for r in csms.received)
    finally:
        await twin.close()
        await csms.stop()


async def test_tx_updated_interval_change_reschedules_metering_at_once() -> None:
    csms = await ScriptedCsms201().start()
    clock = VirtualClock()
    twin = await booted_twin(csms, EventLog(), clock=clock)
    try:
        await twin.plug_in(1, make_vehicle(), "veh-1")
        await twin.start_transaction(1, "TAG")
        await clock.advance(60, settle=0.02)
        await csms.wait_for("TransactionEvent", lambda p: p["eventType"] == "Updated")
        result = await csms.call(
            "CS1",
            call.SetVariables(
                set_variable_data=[
                    {
                        "attributeValue": "300",
                        "component": {"name": "SampledDataCtrlr"},
                        "variable": {"name": "TxUpdatedInterval"},
                    }
                ]
            ),
        )
        assert result.set_variable_result[0]["attribute_status"] == "Accepted"
        changed_at = clock.now()
        await clock.advance(299, settle=0.02)
        updates = [p for p in csms.transaction_events() if p["eventType"] == "Updated"]
        assert len(updates) == 1
        await clock.advance(1, settle=0.02)
        update = await csms.wait_for(
            "TransactionEvent", lambda p: p["eventType"] == "Updated", count=2
        )
        at = datetime.fromisoformat(update.payload["timestamp"].replace("Z", "+00:00"))
        assert (at - changed_at).total_seconds() == 300
    finally:
        await twin.close()
        await csms.stop()
