"""Bounds on what a request may cost: the size of its body, and of the errors it gets back."""

from __future__ import annotations

import json
import math
from typing import Any

from fastapi import FastAPI, HTTPException, Request, status
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: A value echoed back in a validation error is cut to about this many characters.
PREVIEW_CHARS = 100


class BodySizeLimit:
    """Answers 413 to a body larger than the limit: at once when ``Content-Length`` says
    so, else as soon as the bytes received pass it (a chunked body is never read whole).
    Bulk creates (paths ending in ``/bulk``) have a limit of their own."""

    def __init__(self, app: ASGIApp, limit: int, bulk_limit: int) -> None:
        self.app = app
        self.limit = limit
        self.bulk_limit = bulk_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        bulk = scope["path"].rstrip("/").endswith("/bulk")
        limit = self.bulk_limit if bulk else self.limit
        too_large = (
            f"request body too large: at most {limit} bytes"
            f"{' for a bulk create' if bulk else ''} "
            f"(ELU_MAX_{'BULK_' if bulk else ''}REQUEST_BYTES)"
        )
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            response = JSONResponse({"detail": too_large}, status.HTTP_413_CONTENT_TOO_LARGE)
            response.headers["Connection"] = "close"
            await response(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, too_large)
            return message

        await self.app(scope, limited_receive, send)


def preview(value: Any) -> Any:
    """``value`` itself when short; else the start of its JSON and how long it was."""
    if value is None or isinstance(value, bool | int | float):
        return value
    text = value if isinstance(value, str) else json.dumps(jsonable_encoder(value))
    if len(text) <= PREVIEW_CHARS:
        return value
    size = f"{len(value)} items" if isinstance(value, list | dict) else f"{len(text)} characters"
    return f"{text[:PREVIEW_CHARS]}… ({size})"


def _short_errors(errors: Any) -> list[dict[str, Any]]:
    return [
        {**error, "input": preview(error["input"])} if "input" in error else error
        for error in errors
    ]


def renderable(value: Any) -> Any:
    """``value`` with what strict JSON cannot carry spelled out: NaN and Infinity as strings,
    a lone surrogate as its ``\\ud800`` escape (so that a 422 about them can be sent)."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value).replace("inf", "Infinity").replace("nan", "NaN")
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {renderable(key): renderable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [renderable(item) for item in value]
    return value


def install_validation_errors(app: FastAPI) -> None:
    """Answer a request the schemas refuse with a 422 that can always be rendered, and keep
    it short: a value sent is echoed back only as a preview (a 1,001-item bulk or a megabyte
    string is not sent back whole)."""

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
        content = {"detail": renderable(jsonable_encoder(_short_errors(error.errors())))}
        return JSONResponse(status_code=status.HTTP_422_UNPROCESSABLE_CONTENT, content=content)


def install_request_limits(app: FastAPI, limit: int, bulk_limit: int) -> None:
    """Cap request bodies, and answer refused requests with short, renderable 422s."""
    app.add_middleware(BodySizeLimit, limit=limit, bulk_limit=bulk_limit)
    install_validation_errors(app)
