"""Assembles a test CSMS app: the OCPP websocket and the HTTP API on one port."""

import logging
from collections.abc import Iterable, Sequence
from typing import Any

from fastapi import APIRouter, FastAPI

from shared.csms import uploads
from shared.csms.api import create_api_router
from shared.csms.certificates import CsmsTlsSettings
from shared.csms.settings import CsmsSettings
from shared.csms.state import CsmsState
from shared.csms.websocket import Dialect, create_ocpp_endpoint
from shared.request_limits import install_validation_errors


def resolve_state(
    state: CsmsState | None, settings: CsmsSettings | None, overrides: dict[str, Any]
) -> CsmsState:
    """The state to serve: `state` or a new one, with `settings` and then `overrides` applied."""
    state = state or CsmsState()
    if settings is not None:
        state.settings = settings
    if overrides:
        state.settings = CsmsSettings.model_validate({**state.settings.model_dump(), **overrides})
    return state


def build_csms_app(
    *,
    title: str,
    state: CsmsState,
    dialects: Sequence[Dialect],
    routers: Iterable[APIRouter] = (),
) -> FastAPI:
    """A CSMS speaking each of `dialects`; a charge point offering several subprotocols gets
    the first of `dialects` it offers (list the newest version first)."""
    versions = " and ".join(f"OCPP {d.ocpp_version}" for d in dialects)
    subprotocols = " or ".join(f"{d.subprotocol}" for d in dialects)
    app = FastAPI(
        title=title,
        description=(
            f"A small test central system for {versions}. Charge points connect to "
            f"ws://host:port/{{charge_point_id}} (or /ocpp/{{charge_point_id}}) with the "
            f"{subprotocols} subprotocol."
        ),
    )
    app.state.csms = state
    if state.certificate_authority is None:
        state.certificate_authority = CsmsTlsSettings().authority()
    install_validation_errors(app)
    logger = logging.getLogger(f"elu_twins.csms.{dialects[-1].subprotocol}")
    endpoint = create_ocpp_endpoint(state, dialects, logger)
    app.add_api_websocket_route("/ocpp/{charge_point_id}", endpoint)
    app.add_api_websocket_route("/{charge_point_id}", endpoint)
    app.include_router(create_api_router(dialects), prefix="/api")
    app.include_router(uploads.router, prefix="/api")
    for router in routers:
        app.include_router(router, prefix="/api")
    return app
