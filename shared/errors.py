"""Errors of the domain that both APIs turn into HTTP answers in one place."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse


class DomainError(Exception):
    """``code`` is a stable word a client can branch on; the message is for people."""

    status_code = 400

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class NotFound(DomainError):
    """Unknown id, or one that belongs to another user (who must not learn it exists)."""

    status_code = 404


class Conflict(DomainError):
    status_code = 409


class QuotaExceeded(DomainError):
    status_code = 403


class Forbidden(DomainError):
    """The other side (the CSMS) said no, e.g. to an id tag."""

    status_code = 403


class Unprocessable(DomainError):
    """Well-formed, but not something that can be done (e.g. breaks the OCPP schema)."""

    status_code = 422


class BadGateway(DomainError):
    """The CSMS cannot be reached (refused, unknown host, refused this charge point)."""

    status_code = 502


class GatewayTimeout(DomainError):
    status_code = 504


class ServiceUnavailable(DomainError):
    status_code = 503


def install_error_handlers(app: FastAPI) -> None:
    """Answer every DomainError with its status and ``{"detail": message}``."""

    @app.exception_handler(DomainError)
    async def _domain_error(request: Request, error: DomainError) -> JSONResponse:
        content = {"detail": error.message}
        if error.code is not None:
            content["code"] = error.code
        return JSONResponse(status_code=error.status_code, content=content)
