"""What the firmware, log and security tests of every OCPP version share: a signing
certificate and signature that are well formed (the twin checks form, not trust), and
the statuses the scripted CSMS received."""

from __future__ import annotations

import base64

from tests.twin.scripted_csms import ScriptedCsms, eventually

CERTIFICATE = (
    "-----BEGIN CERTIFICATE-----\n"
    + base64.b64encode(b"not a real certificate, but well formed").decode()
    + "\n-----END CERTIFICATE-----"
)
SIGNATURE = base64.b64encode(b"signature").decode()


def statuses(csms: ScriptedCsms, action: str = "FirmwareStatusNotification") -> list[str]:
    return [r.payload["status"] for r in csms.of(action)]


def position(csms: ScriptedCsms, status: str) -> int:
    """Where the first message with ``status`` is among everything received."""
    return next(i for i, r in enumerate(csms.received) if r.payload.get("status") == status)


def no_invalid_frames(csms: ScriptedCsms) -> None:
    assert [r for r in csms.received if not r.valid] == []


async def wait_statuses(
    csms: ScriptedCsms, expected: list[str], action: str = "FirmwareStatusNotification"
) -> None:
    try:
        await eventually(lambda: statuses(csms, action) == expected, timeout=15)
    except AssertionError:
        raise AssertionError(f"{action}: {statuses(csms, action)}, expected {expected}") from None
