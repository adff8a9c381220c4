"""The bundled OCPP 1.6 test CSMS: `uvicorn --factory csms_v16.app:create_app --port 9000`."""

from typing import Any

from fastapi import FastAPI

from csms_v16.charge_point import CSMS_INITIATED_ACTIONS, ChargePoint16
from shared.csms.app import build_csms_app, resolve_state
from shared.csms.settings import CsmsSettings
from shared.csms.state import CsmsState
from shared.csms.websocket import Dialect

DEFAULT_PORT = 9000
SUBPROTOCOL = "ocpp1.6"


def create_app(
    state: CsmsState | None = None, settings: CsmsSettings | None = None, **overrides: Any
) -> FastAPI:
    """A new OCPP 1.6 CSMS; `overrides` are `CsmsSettings` fields, e.g. `boot_policy="pending"`."""
    return build_csms_app(
        title="ELU Twins test CSMS (OCPP 1.6)",
        state=resolve_state(state, settings, overrides),
        dialects=[Dialect("1.6", SUBPROTOCOL, ChargePoint16, CSMS_INITIATED_ACTIONS)],
    )
