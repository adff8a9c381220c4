"""The private API: what an operator does (users, quotas, where twins run)."""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy import Engine

from private_api.routes import hosts, users
from shared.db import make_engine
from shared.errors import install_error_handlers
from shared.openapi import document_errors
from shared.request_limits import install_request_limits
from shared.settings import Settings, get_settings

DESCRIPTION = "Operator endpoints. Every call needs the `X-Operator-Key` header."


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> FastAPI:
    settings = settings or get_settings()
    assert settings.database_url is not None
    app = FastAPI(title="ELU Twins — private API", version="0.2.0", description=DESCRIPTION)
    app.state.settings = settings
    app.state.engine = engine or make_engine(settings.database_url)
    install_error_handlers(app)
    install_request_limits(app, settings.max_request_bytes, settings.max_bulk_request_bytes)
    app.include_router(users.router)
    app.include_router(hosts.router)
    document_errors(app, "the X-Operator-Key header is missing or wrong")
    return app
