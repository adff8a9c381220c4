"""Errors of the domain that both APIs turn into HTTP answers in one place."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse


class DomainError(Exception):
    status_code = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(DomainError):
    """Unknown id, or one that belongs to another user (who must not learn it exists)."""

    status_code = 404


class Conflict(DomainError):
    status_code = 409


class QuotaExceeded(DomainError):
    status_code = 403


def install_error_handlers(app: FastAPI) -> None:
    """Answer every DomainError with its status and ``{"detail": message}``."""

    @app.exception_handler(DomainError)
    async def _domain_error(request: Request, error: DomainError) -> JSONResponse:
        return JSONResponse(status_code=error.status_code, content={"detail": error.message})
