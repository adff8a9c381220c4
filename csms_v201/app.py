"""The bundled OCPP 2.0.1 and 2.1 test CSMS: `uvicorn --factory csms_v201.app:create_app`.

A charge point offering the ``ocpp2.1`` subprotocol speaks 2.1 with it, one offering
``ocpp2.0.1`` speaks 2.0.1; calls sent through the HTTP API are checked against the
schemas of the version the charge point speaks.
"""

from typing import Any

from fastapi import FastAPI

from csms_v201 import reports
from csms_v201.charge_point import CSMS_INITIATED_ACTIONS, ChargePoint201
from csms_v201.charge_point21 import CSMS_INITIATED_ACTIONS_21, ChargePoint21
from shared.csms.app import build_csms_app, resolve_state
from shared.csms.settings import CsmsSettings
from shared.csms.state import CsmsState
from shared.csms.websocket import Dialect

DEFAULT_PORT = 9201
SUBPROTOCOL = "ocpp2.0.1"
SUBPROTOCOL_21 = "ocpp2.1"


def create_app(
    state: CsmsState | None = None, settings: CsmsSettings | None = None, **overrides: Any
) -> FastAPI:
    """A new OCPP 2.0.1 / 2.1 CSMS; `overrides` are `CsmsSettings` fields, e.g.
    `boot_policy="reject"`."""
    return build_csms_app(
        title="ELU Twins test CSMS (OCPP 2.0.1 and 2.1)",
        state=resolve_state(state, settings, overrides),
        dialects=[
            Dialect("2.1", SUBPROTOCOL_21, ChargePoint21, CSMS_INITIATED_ACTIONS_21),
            Dialect("2.0.1", SUBPROTOCOL, ChargePoint201, CSMS_INITIATED_ACTIONS),
        ],
        routers=[reports.router],
    )
