"""OCPP 2.0.1 firmware updates (L01) and log uploads (N01), against the scripted CSMS
on a fast twin clock."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from ocpp.v201 import call

from tests.twin.firmware_checks import (
    CERTIFICATE,
    SIGNATURE,
    no_invalid_frames,
    position,
    wait_statuses,
)
from tests.twin.scripted_csms201 import (
    EventLog,
    ScriptedCsms201,
    eventually,
    make_config,
    make_vehicle,
)
from tests.twin.upload_server import Uploads
from worker.twin import firmware
from worker.twin.charge_point import ChargePointTwin
from worker.twin.clock import SystemClock
from worker.twin.smart_charging import format_time

#: The ``csms`` fixture (tests/twin/conftest.py) of this module.
CSMS_TYPE = ScriptedCsms201


def update(twin: ChargePointTwin, request_id: int = 5, **fields: Any) -> Any:
    extra = {k: fields.pop(k) for k in ("retries", "retry_interval") if k in fields}
    return call.UpdateFirmware(
        request_id=request_id,
        firmware={
            "location": "https://firmware.example.com/fw.bin",
            "retrieveDateTime": format_time(twin.now()),
            **fields,
        },
        **extra,
    )


async def test_update_firmware_reboots_and_reports_installed_after_the_boot(
    twin: ChargePointTwin, csms: ScriptedCsms201
) -> None:
    await twin.plug_in(1, make_vehicle(), "veh-1")
    await twin.start_transaction(1, "TAG")
    result = await csms.call("CS1", update(twin, location="https://example.com/fw-1.4.2.bin"))
    assert result.status == "Accepted"
    await wait_statuses(
        csms, ["Downloading", "Downloaded", "Installing", "InstallRebooting", "Installed"]
    )
    assert {r.payload["requestId"] for r in csms.of("FirmwareStatusNotification")} == {5}
    boot = await csms.wait_for("BootNotification", count=2)
    assert boot.payload["reason"] == "FirmwareUpdate"
    assert boot.payload["chargingStation"]["firmwareVersion"] == "1.4.2"
    ended = await csms.wait_for("TransactionEvent", lambda p: p["eventType"] == "Ended")
    assert ended.payload["transactionInfo"]["stoppedReason"] == "Reboot"
    names = [r.action for r in csms.received]
    assert position(csms, "Downloaded") < names.index(
        "TransactionEvent", position(csms, "Downloaded")
    )
    assert names.index("BootNotification", 1) < position(csms, "Installed")
    no_invalid_frames(csms)


async def test_signed_update_scheduled_install(
    twin: ChargePointTwin, csms: ScriptedCsms201
) -> None:
    later = twin.now() + timedelta(minutes=30)  # 3 real seconds
    result = await csms.call(
        "CS1",
        update(
            twin,
            signingCertificate=CERTIFICATE,
            signature=SIGNATURE,
            installDateTime=format_time(later),
        ),
    )
    assert result.status == "Accepted"
    expected = ["Downloading", "Downloaded", "SignatureVerified", "InstallScheduled"]
    await wait_statuses(csms, expected)
    await csms.call("CS1", call.TriggerMessage(requested_message="FirmwareStatusNotification"))
    await wait_statuses(csms, [*expected, "InstallScheduled"])
    await csms.wait_for(
        "FirmwareStatusNotification", lambda p: p["status"] == "Installed", timeout=20
    )
    assert twin.now() >= later
    no_invalid_frames(csms)


async def test_bad_signature_and_bad_certificate(
    twin: ChargePointTwin, csms: ScriptedCsms201
) -> None:
    rejected = await csms.call(
        "CS1", update(twin, signingCertificate="nonsense", signature=SIGNATURE)
    )
    assert rejected.status == "InvalidCertificate"
    twin.set_firmware_failure("signature")
    await csms.call("CS1", update(twin, signingCertificate=CERTIFICATE, signature=SIGNATURE))
    await wait_statuses(csms, ["Downloading", "Downloaded", "InvalidSignature"])
    assert len(csms.of("BootNotification")) == 1
    await csms.wait_for("SecurityEventNotification", count=2)
    events = [r.payload["type"] for r in csms.of("SecurityEventNotification")]
    assert events == ["InvalidFirmwareSigningCertificate", "InvalidFirmwareSignature"]
    no_invalid_frames(csms)


async def test_download_retries_then_fails(twin: ChargePointTwin, csms: ScriptedCsms201) -> None:
    result = await csms.call(
        "CS1", update(twin, location="file-server-without-scheme", retries=1, retry_interval=30)
    )
    assert result.status == "Accepted"
    await wait_statuses(csms, ["Downloading", "Downloading", "DownloadFailed"])
    await eventually(lambda: not twin.adapter.firmware().updating)
    await csms.call("CS1", call.TriggerMessage(requested_message="FirmwareStatusNotification"))
    await wait_statuses(csms, ["Downloading", "Downloading", "DownloadFailed", "Idle"])
    no_invalid_frames(csms)


async def test_installation_failure(twin: ChargePointTwin, csms: ScriptedCsms201) -> None:
    twin.set_firmware_failure("install")
    await csms.call("CS1", update(twin))
    await wait_statuses(csms, ["Downloading", "Downloaded", "Installing", "InstallationFailed"])
    assert len(csms.of("BootNotification")) == 1


async def test_a_new_update_cancels_the_one_in_progress(
    twin: ChargePointTwin, csms: ScriptedCsms201
) -> None:
    later = format_time(twin.now() + timedelta(hours=1))
    first = await csms.call("CS1", update(twin, 1, retrieveDateTime=later))
    assert first.status == "Accepted"
    await wait_statuses(csms, ["DownloadScheduled"])
    second = await csms.call("CS1", update(twin, 2))
    assert second.status == "AcceptedCanceled"
    await csms.wait_for("FirmwareStatusNotification", lambda p: p["status"] == "Installed")
    later_ids = {r.payload["requestId"] for r in csms.of("FirmwareStatusNotification")[1:]}
    assert later_ids == {2}


async def test_garbage_update_firmware(twin: ChargePointTwin, csms: ScriptedCsms201) -> None:
    await csms.send_raw("CS1", json.dumps([2, "g1", "UpdateFirmware", {"requestId": 1}]))
    assert (await csms.wait_answer("g1"))[0] == 4
    firmware_field = {"location": "https://x/fw", "retrieveDateTime": "tomorrow"}
    frame = [2, "g2", "UpdateFirmware", {"requestId": 1, "firmware": firmware_field}]
    await csms.send_raw("CS1", json.dumps(frame))
    answer = await csms.wait_answer("g2")
    assert answer[0] == 4
    assert answer[2] in ("FormatViolation", "PropertyConstraintViolation")
    await csms.send_raw("CS1", json.dumps([2, "g3", "GetLog", {"logType": "Nope"}]))
    assert (await csms.wait_answer("g3"))[0] == 4
    assert (await csms.call("CS1", call.TriggerMessage(requested_message="Heartbeat"))).status == (
        "Accepted"
    )
    await csms.wait_for("Heartbeat")
    assert csms.of("FirmwareStatusNotification") == []


async def test_get_log_uploads_and_reports(
    twin: ChargePointTwin, csms: ScriptedCsms201, uploads: Uploads
) -> None:
    result = await csms.call(
        "CS1",
        call.GetLog(
            log={
                "remoteLocation": f"{uploads.url}/logs/",
                "oldestTimestamp": format_time(twin.now() - timedelta(days=1)),
            },
            log_type="DiagnosticsLog",
            request_id=11,
        ),
    )
    assert result.status == "Accepted"
    await wait_statuses(csms, ["Uploading", "Uploaded"], "LogStatusNotification")
    assert {r.payload["requestId"] for r in csms.of("LogStatusNotification")} == {11}
    text = uploads.files[f"/logs/{result.filename}"].decode()
    assert text.startswith("# DiagnosticsLog of CS1")
    await eventually(lambda: twin.adapter.upload_in_progress("log") is None)
    await csms.call("CS1", call.TriggerMessage(requested_message="LogStatusNotification"))
    await wait_statuses(csms, ["Uploading", "Uploaded", "Idle"], "LogStatusNotification")
    no_invalid_frames(csms)


async def test_get_log_to_another_host_fails(
    twin: ChargePointTwin, csms: ScriptedCsms201, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(firmware, "UPLOAD_SECONDS", 3000.0)  # 5 real seconds
    first = await csms.call(
        "CS1",
        call.GetLog(
            log={"remoteLocation": "https://logs.example.com/up"},
            log_type="SecurityLog",
            request_id=1,
        ),
    )
    assert first.status == "Accepted"
    await wait_statuses(csms, ["Uploading"], "LogStatusNotification")
    await csms.call("CS1", call.TriggerMessage(requested_message="LogStatusNotification"))
    await wait_statuses(csms, ["Uploading", "Uploading"], "LogStatusNotification")
    monkeypatch.setattr(firmware, "UPLOAD_SECONDS", 1.0)
    second = await csms.call(
        "CS1",
        call.GetLog(
            log={"remoteLocation": "ftp://127.0.0.1/up"}, log_type="SecurityLog", request_id=2
        ),
    )
    assert second.status == "AcceptedCanceled"
    await csms.wait_for("LogStatusNotification", lambda p: p["status"] == "UploadFailure")
    failed = [r.payload for r in csms.of("LogStatusNotification") if r.payload["requestId"] == 2]
    assert [p["status"] for p in failed] == ["Uploading", "UploadFailure"]
    no_invalid_frames(csms)


async def test_an_update_survives_a_restart(csms: ScriptedCsms201) -> None:
    clock = SystemClock(speed=600)
    old = ChargePointTwin(make_config(csms.url), clock, EventLog())
    await old.start()
    await old.connected(timeout=5)
    later = format_time(clock.now() + timedelta(minutes=30))
    await csms.call("CS1", update(old, 9, retrieveDateTime=later))
    await wait_statuses(csms, ["DownloadScheduled"])
    state = json.loads(json.dumps(old.save_state()))
    await old.close()

    twin = ChargePointTwin(make_config(csms.url), clock, EventLog())
    twin.restore_state(state, resume=True, last_alive=clock.now())
    await twin.start()
    try:
        await csms.wait_for(
            "FirmwareStatusNotification", lambda p: p["status"] == "Installed", timeout=20
        )
        assert {r.payload["requestId"] for r in csms.of("FirmwareStatusNotification")} == {9}
    finally:
        await twin.close()
