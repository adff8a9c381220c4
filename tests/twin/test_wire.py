"""The OCPP-J machinery both adapters share: the twin's own CALLs are checked against
the version's request schema before they go out, and a bad one never leaves."""

from __future__ import annotations

import copy
import logging
from dataclasses import replace
from typing import Any

import pytest

from tests.twin import scripted_csms, scripted_csms201
from tests.twin.scripted_csms import EventLog, ScriptedCsms
from tests.twin.scripted_csms201 import ScriptedCsms201
from worker.twin.events import FrameLogged
from worker.twin.protocol import CallFailed
from worker.twin.wire import OUTGOING_SCHEMAS, InvalidOutgoingCall

VERSIONS = [
    pytest.param(ScriptedCsms, scripted_csms.booted_twin, id="ocpp1.6"),
    pytest.param(ScriptedCsms201, scripted_csms201.booted_twin, id="ocpp2.0.1"),
]


@pytest.mark.parametrize(("csms_type", "booted_twin"), VERSIONS)
async def test_invalid_outgoing_call_is_refused_before_it_reaches_the_csms(
    csms_type: type[ScriptedCsms],
    booted_twin: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    csms = await csms_type().start()
    events = EventLog()
    twin = await booted_twin(csms, events)
    try:
        sample = twin.current_sample(twin.connector(1), "Trigger")
        good_frames = len(csms.frames)
        # "Sample.Bogus" is no ReadingContext of either version's schema.
        bad = replace(sample, context="Sample.Bogus")
        with (
            caplog.at_level(logging.ERROR, logger="worker.twin.wire"),
            pytest.raises(InvalidOutgoingCall, match="MeterValues: not sent") as raised,
        ):
            await twin.adapter.send_meter_values(bad, None)
        assert isinstance(raised.value, CallFailed)
        assert "not sending MeterValues" in caplog.text
        assert "context must be one of" in caplog.text
        assert not [e for e in events.of(FrameLogged) if e.action == "MeterValues"]

        # The same sample with a valid context goes out, so only the check stopped it.
        await twin.adapter.send_meter_values(sample, None)
        await csms.wait_for("MeterValues")
        assert len(csms.of("MeterValues")) == 1
        assert all(r.valid for r in csms.received)
        sent = [e for e in events.of(FrameLogged) if e.direction == "sent"]
        sent_meter_values = next(e for e in sent if e.action == "MeterValues")
        assert sent_meter_values.payload == csms.of("MeterValues")[0].payload
        assert "Sample.Bogus" not in "".join(csms.frames[good_frames:])
        assert "Sample.Bogus" not in str([e.payload for e in sent])
    finally:
        await twin.close()
        await csms.stop()


def test_checking_a_payload_does_not_change_it() -> None:
    """fastjsonschema would write the schemas' defaults (unitOfMeasure.multiplier: 0)
    into the payload; the check must leave what goes on the wire alone."""
    payload = {
        "evseId": 1,
        "meterValue": [
            {
                "timestamp": "2024-01-01T12:00:00Z",
                "sampledValue": [
                    {
                        "value": 1234.5,
                        "measurand": "Energy.Active.Import.Register",
                        "unitOfMeasure": {"unit": "Wh"},
                    }
                ],
            }
        ],
    }
    before = copy.deepcopy(payload)
    OUTGOING_SCHEMAS["2.0.1"].check("MeterValues", payload)
    assert payload == before


def test_each_action_is_compiled_once_per_process() -> None:
    schemas = OUTGOING_SCHEMAS["1.6"]
    assert schemas.validator("Heartbeat") is schemas.validator("Heartbeat")


async def test_data_the_fast_encoder_refuses_still_goes_out_intact() -> None:
    """Frames are encoded with orjson, which refuses integers beyond 64 bits: those still
    go out (through ``json``), and text beyond ASCII arrives as it was sent."""
    csms = await ScriptedCsms201().start()
    events = EventLog()
    twin = await scripted_csms201.booted_twin(csms, events)
    try:
        data = {"huge": 2**70, "text": "Grüße, 充電"}
        status, _ = await twin.data_transfer("org.example", "blob", data)
        assert status == "Accepted"
        received = csms.of("DataTransfer")
        assert received[0].payload["data"] == data
        assert all(r.valid for r in csms.received)
        sent = [e for e in events.of(FrameLogged) if e.action == "DataTransfer"]
        assert sent[0].payload["data"] == data
    finally:
        await twin.close()
        await csms.stop()


def test_a_refused_payload_is_explained_by_the_field_it_breaks() -> None:
    """jsonschema-rs decides; the error names the field, as the logs always did."""
    schemas = OUTGOING_SCHEMAS["1.6"]
    schemas.check("Heartbeat", {})
    with pytest.raises(Exception, match="must be one of"):
        schemas.check("StatusNotification", {"connectorId": 1, "errorCode": "X", "status": "Y"})
    with pytest.raises(Exception, match="date-time"):
        schemas.check(
            "MeterValues",
            {
                "connectorId": 1,
                "meterValue": [{"timestamp": "yesterday", "sampledValue": [{"value": "1"}]}],
            },
        )
