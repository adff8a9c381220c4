"""Boot, heartbeat and connection: a twin meets its CSMS."""

from __future__ import annotations

import asyncio
import itertools
import shutil
import ssl
import subprocess
from pathlib import Path

import pytest
from ocpp.v16 import call

from tests.twin.scripted_csms import EventLog, ScriptedCsms, make_config, now_iso
from worker.twin.charge_point import ChargePointTwin
from worker.twin.clock import SystemClock, VirtualClock
from worker.twin.errors import CommandTimeout, NotConnected, Rejected
from worker.twin.events import (
    ChargePointChanged,
    ConfigurationChanged,
    ConnectorChanged,
    FrameLogged,
)


async def test_boot_accepted_sends_status_of_every_connector(
    csms: ScriptedCsms, events: EventLog
) -> None:
    config = make_config(csms.url, connector_types=("cType2", "cCCS2"), serial_number="SN-1")
    twin = ChargePointTwin(config, SystemClock(speed=60), events)
    await twin.start()
    await twin.connected(timeout=5)

    boot = csms.of("BootNotification")[0].payload
    assert boot["chargePointVendor"] == config.vendor
    assert boot["chargePointModel"] == config.model
    assert boot["chargePointSerialNumber"] == "SN-1"
    assert boot["firmwareVersion"] == config.firmware_version
    await csms.wait_for("StatusNotification", count=3)
    statuses = {
        r.payload["connectorId"]: r.payload["status"] for r in csms.of("StatusNotification")
    }
    assert statuses == {0: "Available", 1: "Available", 2: "Available"}
    assert csms.subprotocols == ["ocpp1.6"]
    assert all(r.valid for r in csms.received)
    assert events.of(ChargePointChanged)[-1].status == "Available"
    assert twin.snapshot()["booted"] is True
    await twin.close()


async def test_every_connector_status_sent_at_boot_is_reported(
    csms: ScriptedCsms, events: EventLog
) -> None:
    """A host that stored the connectors as Unavailable (never connected, or restarted)
    hears that they are Available, although the twin's own status did not change."""
    config = make_config(csms.url, connector_types=("cType2", "cCCS2"))
    twin = ChargePointTwin(config, SystemClock(speed=60), events)
    await twin.start()
    await twin.connected(timeout=5)
    reported = {e.connector_id: e.status for e in events.of(ConnectorChanged)}
    assert reported == {1: "Available", 2: "Available"}

    await twin.stop()
    events.clear()
    await twin.start()
    await twin.connected(timeout=5)
    reported = {e.connector_id: e.status for e in events.of(ConnectorChanged)}
    assert reported == {1: "Available", 2: "Available"}
    await twin.close()


async def test_every_frame_is_logged(csms: ScriptedCsms, events: EventLog) -> None:
    twin = ChargePointTwin(make_config(csms.url), SystemClock(speed=60), events)
    await twin.start()
    await twin.connected(timeout=5)
    await csms.wait_for("StatusNotification", count=2)
    await asyncio.sleep(0.05)
    frames = events.of(FrameLogged)
    boot_call, boot_result = frames[0], frames[1]
    assert (boot_call.direction, boot_call.message_type, boot_call.action) == (
        "sent",
        "CALL",
        "BootNotification",
    )
    assert (boot_result.direction, boot_result.message_type, boot_result.action) == (
        "received",
        "CALLRESULT",
        "BootNotification",
    )
    assert boot_result.unique_id == boot_call.unique_id
    assert boot_result.payload["status"] == "Accepted"
    assert len(frames) == 2 * len(csms.received)
    await twin.close()


async def test_message_log_off_logs_no_frame_and_changes_nothing_else(
    csms: ScriptedCsms, events: EventLog
) -> None:
    csms.heartbeat_interval = 60
    clock = VirtualClock()
    twin = ChargePointTwin(make_config(csms.url, message_log=False), clock, events)
    await twin.start()
    await twin.connected(timeout=5)
    await csms.wait_for("StatusNotification", count=2)
    await clock.advance(60, settle=0.02)
    await csms.wait_for("Heartbeat")
    result = await csms.call("CP1", call.ChangeConfiguration(key="HeartbeatInterval", value="120"))
    assert result.status == "Accepted"
    assert events.of(FrameLogged) == []
    assert all(r.valid for r in csms.received)
    assert events.of(ChargePointChanged)[-1].status == "Available"
    assert {e.connector_id: e.status for e in events.of(ConnectorChanged)} == {1: "Available"}
    assert events.of(ConfigurationChanged)[-1].values["HeartbeatInterval"] == "120"
    await twin.close()


async def test_pending_boot_retries_and_answers_csms_calls_meanwhile(
    csms: ScriptedCsms, events: EventLog
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
    result = await csms.call("CP1", call.GetConfiguration(key=["HeartbeatInterval"]))
    assert result.configuration_key[0]["key"] == "HeartbeatInterval"
    await twin.connected(timeout=5)
    assert len(csms.of("BootNotification")) == 3
    # Nothing but boots while Pending.
    actions = [r.action for r in csms.received]
    assert actions[:3] == ["BootNotification"] * 3
    await twin.close()


async def test_rejected_boot_raises_and_keeps_retrying(
    csms: ScriptedCsms, events: EventLog
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


async def test_unreachable_csms_says_so() -> None:
    config = make_config("ws://127.0.0.1:9")
    twin = ChargePointTwin(config, SystemClock(speed=600), EventLog())
    await twin.start()
    with pytest.raises(NotConnected, match=r"cannot reach CSMS at ws://127\.0\.0\.1:9/CP1"):
        await twin.connected(timeout=0.3)
    await twin.close()


async def test_not_started_twin_is_not_connected() -> None:
    twin = ChargePointTwin(make_config("ws://127.0.0.1:9"), SystemClock(), EventLog())
    with pytest.raises(NotConnected, match="not started"):
        await twin.connected(timeout=0.1)


async def test_basic_auth_with_password(events: EventLog) -> None:
    csms = await ScriptedCsms(password="s3cret").start()
    try:
        twin = ChargePointTwin(
            make_config(csms.url, password="s3cret"), SystemClock(speed=60), events
        )
        await twin.start()
        await twin.connected(timeout=5)
        assert csms.auth_headers[-1] == "Basic Q1AxOnMzY3JldA=="  # CP1:s3cret
        await twin.close()

        wrong = ChargePointTwin(
            make_config(csms.url, cid="CP2", password="nope"), SystemClock(speed=600), events
        )
        await wrong.start()
        with pytest.raises(NotConnected, match="refused the connection: HTTP 401"):
            await wrong.connected(timeout=0.3)
        await wrong.close()
    finally:
        await csms.stop()


def sent_at(events: EventLog, action: str) -> list[float]:
    """Simulated seconds at which the twin sent each CALL of ``action``."""
    return [
        f.at.timestamp()
        for f in events.of(FrameLogged)
        if f.direction == "sent" and f.message_type == "CALL" and f.action == action
    ]


async def test_heartbeat_at_csms_interval_and_after_change_configuration(
    csms: ScriptedCsms, events: EventLog
) -> None:
    csms.heartbeat_interval = 60
    clock = VirtualClock()
    twin = ChargePointTwin(make_config(csms.url), clock, events)
    await twin.start()
    await twin.connected(timeout=5)
    booted_at = clock.now().timestamp()
    for _ in range(3):
        await clock.advance(60, settle=0.02)
    await csms.wait_for("Heartbeat", count=3)
    beats = sent_at(events, "Heartbeat")
    assert [b - a for a, b in itertools.pairwise(beats)] == [60, 60]
    assert beats[0] == booted_at + 60
    assert twin.snapshot()["heartbeat_interval"] == 60

    result = await csms.call("CP1", call.ChangeConfiguration(key="HeartbeatInterval", value="120"))
    assert result.status == "Accepted"
    assert events.of(ConfigurationChanged)[-1].values["HeartbeatInterval"] == "120"
    changed_at = clock.now().timestamp()
    for _ in range(4):
        await clock.advance(60, settle=0.02)
    await csms.wait_for("Heartbeat", count=5)
    assert sent_at(events, "Heartbeat")[3:] == [changed_at + 120, changed_at + 240]
    await twin.close()


async def test_stop_disconnects_and_start_reconnects_without_boot(
    csms: ScriptedCsms, events: EventLog
) -> None:
    twin = ChargePointTwin(make_config(csms.url), SystemClock(speed=600), events)
    await twin.start()
    await twin.connected(timeout=5)
    await twin.stop()
    assert twin.snapshot()["connected"] is False
    await twin.start()
    await twin.connected(timeout=5)
    await csms.wait_for("StatusNotification", count=4)
    assert len(csms.of("BootNotification")) == 1
    assert csms.connection_count == 2
    await twin.close()


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, made with the openssl command."""
    cert, key = directory / "csms.pem", directory / "csms.key"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
async def test_wss_with_ca_file(tmp_path: Path, events: EventLog) -> None:
    cert, key = self_signed_certificate(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    csms = await ScriptedCsms(ssl_context=context).start()
    try:
        trusted = ChargePointTwin(
            make_config(csms.url, ca_file=str(cert)), SystemClock(speed=60), events
        )
        await trusted.start()
        await trusted.connected(timeout=5)
        await trusted.close()

        untrusted = ChargePointTwin(
            make_config(csms.url, cid="CP2"), SystemClock(speed=600), events
        )
        await untrusted.start()
        with pytest.raises(NotConnected, match="TLS with CSMS at wss://"):
            await untrusted.connected(timeout=0.5)
        await untrusted.close()
    finally:
        await csms.stop()
