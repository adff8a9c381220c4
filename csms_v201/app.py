"""The bundled OCPP 2.0.1 test CSMS: `uvicorn --factory csms_v201.app:create_app --port 9201`."""

from typing import Any

from fastapi import FastAPI

from csms_v201 import reports
from csms_v201.charge_point import CSMS_INITIATED_ACTIONS, ChargePoint201
from shared.csms.app import build_csms_app, resolve_state
from shared.csms.settings import CsmsSettings
from shared.csms.state import CsmsState

DEFAULT_PORT = 9201
SUBPROTOCOL = "ocpp2.0.1"


def create_app(
    state: CsmsState | None = None, settings: CsmsSettings | None = None, **overrides: Any
) -> FastAPI:
    """A new OCPP 2.0.1 CSMS; `overrides` are `CsmsSettings` fields, e.g. `boot_policy="reject"`."""
    return build_csms_app(
        title="ELU Twins test CSMS (OCPP 2.0.1)",
        state=resolve_state(state, settings, overrides),
        ocpp_version="2.0.1",
        subprotocol=SUBPROTOCOL,
        session_factory=ChargePoint201,
        csms_initiated_actions=CSMS_INITIATED_ACTIONS,
        routers=[reports.router],
    )
