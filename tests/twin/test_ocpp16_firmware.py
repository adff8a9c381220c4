"""OCPP 1.6 firmware updates, diagnostics and logs (with the security whitepaper's
signed update and GetLog), against the scripted CSMS on a fast twin clock."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from ocpp.v16 import call

from tests.twin.firmware_checks import (
    CERTIFICATE,
    SIGNATURE,
    no_invalid_frames,
    position,
    wait_statuses,
)
from tests.twin.scripted_csms import (
    EventLog,
    ScriptedCsms,
    eventually,
    make_config,
    make_vehicle,
)
from tests.twin.upload_server import Uploads
from worker.twin import firmware
from worker.twin.charge_point import ChargePointTwin
from worker.twin.clock import SystemClock
from worker.twin.smart_charging import format_time


def now(twin: ChargePointTwin) -> str:
    return format_time(twin.now())


# -- UpdateFirmware -------------------------------------------------------------------------


async def test_update_firmware_downloads_installs_and_reboots(
    twin: ChargePointTwin, csms: ScriptedCsms
) -> None:
    await twin.plug_in(1, make_vehicle(), "veh-1")
    await twin.start_transaction(1, "TAG")
    answer = await csms.call(
        "CP1",
        call.UpdateFirmware(
            location="https://firmware.example.com/fw-2.0.bin", retrieve_date=now(twin)
        ),
    )
    assert answer is not None
    await wait_statuses(csms, ["Downloading", "Downloaded", "Installing", "Installed"])
    boot = await csms.wait_for("BootNotification", count=2, timeout=15)
    assert boot.payload["firmwareVersion"] == "2.0"  # from fw-2.0.bin
    assert csms.of("BootNotification")[0].payload["firmwareVersion"] == "0.2.0"
    stop = csms.of("StopTransaction")[0]
    assert stop.payload["reason"] == "Reboot"
    names = [r.action for r in csms.received]
    installing = position(csms, "Installing")
    assert position(csms, "Downloaded") < names.index("StopTransaction") < installing
    assert names.index("BootNotification", 1) > position(csms, "Installed")
    await eventually(twin.booted, timeout=10)
    no_invalid_frames(csms)


async def test_update_firmware_waits_for_the_retrieve_date(
    twin: ChargePointTwin, csms: ScriptedCsms
) -> None:
    later = twin.now() + timedelta(hours=1)  # 6 real seconds at speed 600
    await csms.call(
        "CP1",
        call.UpdateFirmware(location="ftp://10.0.0.1/fw.bin", retrieve_date=format_time(later)),
    )
    await csms.call("CP1", call.TriggerMessage(requested_message="FirmwareStatusNotification"))
    await wait_statuses(csms, ["Idle"])  # DownloadScheduled is no 1.6 status
    await csms.wait_for(
        "FirmwareStatusNotification", lambda p: p["status"] == "Downloading", timeout=20
    )
    assert twin.now() >= later
    await wait_statuses(csms, ["Idle", "Downloading", "Downloaded", "Installing", "Installed"])


async def test_trigger_reports_the_status_of_the_update(
    twin: ChargePointTwin, csms: ScriptedCsms, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(firmware, "DOWNLOAD_SECONDS", 3000.0)  # 5 real seconds
    await csms.call("CP1", call.TriggerMessage(requested_message="FirmwareStatusNotification"))
    await csms.call("CP1", call.TriggerMessage(requested_message="DiagnosticsStatusNotification"))
    await wait_statuses(csms, ["Idle"])
    await wait_statuses(csms, ["Idle"], "DiagnosticsStatusNotification")
    await csms.call(
        "CP1", call.UpdateFirmware(location="https://example.com/fw.bin", retrieve_date=now(twin))
    )
    await wait_statuses(csms, ["Idle", "Downloading"])
    await csms.call("CP1", call.TriggerMessage(requested_message="FirmwareStatusNotification"))
    await wait_statuses(csms, ["Idle", "Downloading", "Downloading"])
    no_invalid_frames(csms)


async def test_failed_downloads_are_retried_then_reported(
    twin: ChargePointTwin, csms: ScriptedCsms
) -> None:
    twin.set_firmware_failure("download")
    await csms.call(
        "CP1",
        call.UpdateFirmware(
            location="https://example.com/fw.bin",
            retrieve_date=now(twin),
            retries=2,
            retry_interval=60,
        ),
    )
    await wait_statuses(csms, ["Downloading", "Downloading", "Downloading", "DownloadFailed"])
    assert len(csms.of("BootNotification")) == 1  # no reboot
    await eventually(lambda: twin.adapter.firmware_status() == "Idle")
    no_invalid_frames(csms)


async def test_failed_installation(twin: ChargePointTwin, csms: ScriptedCsms) -> None:
    twin.set_firmware_failure("install")
    await csms.call(
        "CP1", call.UpdateFirmware(location="https://example.com/fw.bin", retrieve_date=now(twin))
    )
    await wait_statuses(csms, ["Downloading", "Downloaded", "Installing", "InstallationFailed"])
    assert len(csms.of("BootNotification")) == 1
    assert twin.online


async def test_a_location_no_charger_can_download_from_fails(
    twin: ChargePointTwin, csms: ScriptedCsms
) -> None:
    await csms.call(
        "CP1", call.UpdateFirmware(location="not a url", retrieve_date=now(twin), retries=0)
    )
    await wait_statuses(csms, ["Downloading", "DownloadFailed"])


async def test_garbage_update_firmware_gets_a_callerror(
    twin: ChargePointTwin, csms: ScriptedCsms
) -> None:
    await csms.send_raw("CP1", json.dumps([2, "g1", "UpdateFirmware", {"location": "x"}]))
    assert (await csms.wait_answer("g1"))[0] == 4
    bad_date = {"location": "https://example.com/fw.bin", "retrieveDate": "yesterday"}
    await csms.send_raw("CP1", json.dumps([2, "g2", "UpdateFirmware", bad_date]))
    answer = await csms.wait_answer("g2")
    assert answer[0] == 4
    assert answer[2] in ("FormationViolation", "PropertyConstraintViolation")
    await csms.send_raw("CP1", json.dumps([2, "g3", "GetDiagnostics", {"retries": "x"}]))
    assert (await csms.wait_answer("g3"))[0] == 4
    result = await csms.call("CP1", call.TriggerMessage(requested_message="Heartbeat"))
    assert result.status == "Accepted"
    await csms.wait_for("Heartbeat")
    assert csms.of("FirmwareStatusNotification") == []


# -- GetDiagnostics ----------------------------------------------------------------------------


async def test_get_diagnostics_uploads_a_file(
    twin: ChargePointTwin, csms: ScriptedCsms, uploads: Uploads
) -> None:
    result = await csms.call(
        "CP1",
        call.GetDiagnostics(
            location=f"{uploads.url}/diagnostics/",
            start_time=format_time(twin.now() - timedelta(hours=1)),
        ),
    )
    assert result.file_name.startswith("CP1-diagnostics-")
    await wait_statuses(csms, ["Uploading", "Uploaded"], "DiagnosticsStatusNotification")
    body = uploads.files[f"/diagnostics/{result.file_name}"].decode()
    assert "CP1" in body
    assert "connector 1: Available" in body
    no_invalid_frames(csms)


@pytest.mark.parametrize(
    "location",
    [
        "ftp://127.0.0.1/diagnostics/",
        "https://diagnostics.example.com/up/",
        "http://127.0.0.1:notaport/up/",
        "http://127.0.0.1:1/closed-port/",
        "no url at all",
    ],
)
async def test_get_diagnostics_elsewhere_fails(
    twin: ChargePointTwin, csms: ScriptedCsms, location: str
) -> None:
    await csms.call("CP1", call.GetDiagnostics(location=location, retries=1, retry_interval=5))
    await wait_statuses(
        csms, ["Uploading", "Uploading", "UploadFailed"], "DiagnosticsStatusNotification"
    )


async def test_get_diagnostics_refused_by_the_server_fails(
    twin: ChargePointTwin, csms: ScriptedCsms, uploads: Uploads
) -> None:
    uploads.status = 403
    await csms.call("CP1", call.GetDiagnostics(location=f"{uploads.url}/up/"))
    await wait_statuses(csms, ["Uploading", "UploadFailed"], "DiagnosticsStatusNotification")
    assert uploads.files == {}


# -- security whitepaper: SignedUpdateFirmware, GetLog ---------------------------------------


def signed_update(twin: ChargePointTwin, request_id: int = 7, **firmware_fields: Any) -> Any:
    return call.SignedUpdateFirmware(
        request_id=request_id,
        firmware={
            "location": "https://example.com/fw.bin",
            "retrieveDateTime": now(twin),
            "signingCertificate": CERTIFICATE,
            "signature": SIGNATURE,
            **firmware_fields,
        },
    )


async def test_signed_update_firmware(twin: ChargePointTwin, csms: ScriptedCsms) -> None:
    result = await csms.call("CP1", signed_update(twin))
    assert result.status == "Accepted"
    action = "SignedFirmwareStatusNotification"
    expected = ["Downloading", "Downloaded", "SignatureVerified", "Installing", "InstallRebooting"]
    await wait_statuses(csms, [*expected, "Installed"], action)
    assert {r.payload["requestId"] for r in csms.of(action)} == {7}
    boots = [i for i, r in enumerate(csms.received) if r.action == "BootNotification"]
    assert boots[-1] < position(csms, "Installed")  # Installed once the new firmware runs
    assert csms.of("FirmwareStatusNotification") == []
    no_invalid_frames(csms)


async def test_signed_update_with_a_later_install_time(
    twin: ChargePointTwin, csms: ScriptedCsms
) -> None:
    later = format_time(twin.now() + timedelta(minutes=10))
    await csms.call("CP1", signed_update(twin, installDateTime=later))
    action = "SignedFirmwareStatusNotification"
    await wait_statuses(
        csms, ["Downloading", "Downloaded", "SignatureVerified", "InstallScheduled"], action
    )
    await csms.wait_for(action, lambda p: p["status"] == "Installed", timeout=20)
    assert twin.now().isoformat() >= later.replace("Z", "+00:00")


async def test_signed_update_with_a_bad_signature_or_certificate(
    twin: ChargePointTwin, csms: ScriptedCsms
) -> None:
    rejected = await csms.call("CP1", signed_update(twin, signingCertificate="garbage"))
    assert rejected.status == "InvalidCertificate"
    result = await csms.call("CP1", signed_update(twin, signature="%%% not base64 %%%"))
    assert result.status == "Accepted"
    await wait_statuses(
        csms, ["Downloading", "Downloaded", "InvalidSignature"], "SignedFirmwareStatusNotification"
    )
    assert len(csms.of("BootNotification")) == 1
    await csms.wait_for("SecurityEventNotification", count=2)
    events = [r.payload["type"] for r in csms.of("SecurityEventNotification")]
    assert events == ["InvalidFirmwareSigningCertificate", "InvalidFirmwareSignature"]
    no_invalid_frames(csms)


async def test_a_new_signed_update_cancels_the_one_in_progress(
    twin: ChargePointTwin, csms: ScriptedCsms
) -> None:
    later = format_time(twin.now() + timedelta(hours=1))
    assert (await csms.call("CP1", signed_update(twin, 1, retrieveDateTime=later))).status == (
        "Accepted"
    )
    assert (await csms.call("CP1", signed_update(twin, 2))).status == "AcceptedCanceled"
    action = "SignedFirmwareStatusNotification"
    await csms.wait_for(action, lambda p: p["status"] == "Installed", timeout=20)
    first = [r.payload["status"] for r in csms.of(action) if r.payload["requestId"] == 1]
    assert first == ["DownloadScheduled"]


async def test_extended_trigger_reports_the_signed_update_in_progress(
    twin: ChargePointTwin, csms: ScriptedCsms
) -> None:
    action = "SignedFirmwareStatusNotification"
    idle = await csms.call(
        "CP1", call.ExtendedTriggerMessage(requested_message="FirmwareStatusNotification")
    )
    assert idle.status == "Accepted"
    await wait_statuses(csms, ["Idle"], action)
    later = format_time(twin.now() + timedelta(hours=1))
    await csms.call("CP1", signed_update(twin, 5, retrieveDateTime=later))
    await wait_statuses(csms, ["Idle", "DownloadScheduled"], action)
    await csms.call(
        "CP1", call.ExtendedTriggerMessage(requested_message="FirmwareStatusNotification")
    )
    await wait_statuses(csms, ["Idle", "DownloadScheduled", "DownloadScheduled"], action)
    assert csms.of(action)[-1].payload == {"status": "DownloadScheduled", "requestId": 5}
    no_invalid_frames(csms)


async def test_get_log(twin: ChargePointTwin, csms: ScriptedCsms, uploads: Uploads) -> None:
    result = await csms.call(
        "CP1",
        call.GetLog(
            log={"remoteLocation": f"{uploads.url}/logs/"}, log_type="SecurityLog", request_id=3
        ),
    )
    assert result.status == "Accepted"
    await wait_statuses(csms, ["Uploading", "Uploaded"], "LogStatusNotification")
    assert {r.payload["requestId"] for r in csms.of("LogStatusNotification")} == {3}
    assert uploads.files[f"/logs/{result.filename}"].startswith(b"# SecurityLog of CP1")
    failed = await csms.call(
        "CP1",
        call.GetLog(
            log={"remoteLocation": "sftp://logs/"}, log_type="DiagnosticsLog", request_id=4
        ),
    )
    assert failed.status == "Accepted"
    await wait_statuses(
        csms, ["Uploading", "Uploaded", "Uploading", "UploadFailure"], "LogStatusNotification"
    )
    no_invalid_frames(csms)


# -- saved state -----------------------------------------------------------------------------


async def test_an_update_survives_a_restart(csms: ScriptedCsms) -> None:
    clock = SystemClock(speed=600)
    old = ChargePointTwin(make_config(csms.url), clock, EventLog())
    await old.start()
    await old.connected(timeout=5)
    later = format_time(clock.now() + timedelta(minutes=30))
    await csms.call(
        "CP1", call.UpdateFirmware(location="https://example.com/fw.bin", retrieve_date=later)
    )
    await eventually(lambda: old.adapter.firmware().updating)
    state = json.loads(json.dumps(old.save_state()))
    await old.close()

    twin = ChargePointTwin(make_config(csms.url), clock, EventLog())
    twin.restore_state(state, resume=True, last_alive=clock.now())
    await twin.start()
    try:
        await wait_statuses(csms, ["Downloading", "Downloaded", "Installing", "Installed"])
        await csms.wait_for("BootNotification", count=2, timeout=15)
    finally:
        await twin.close()
