"""What each operation of the two APIs can answer besides success, documented in one place.

The answers every route of a kind gives (401 without credentials, 404 for an id that is
not yours, 400/413/422 for a body) follow from the operation's shape, so
:func:`document_errors` adds them to every operation of an app; what only some routes do
(a quota, a conflict with a twin's state, a CSMS that says no) is one of the named
``responses=`` dicts below, given where the route is declared.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from starlette.routing import compile_path

from shared.schemas.common import ErrorPublic, ValidationErrorPublic

Responses = dict[int | str, dict[str, Any]]


def errors(descriptions: dict[int, str]) -> Responses:
    """``errors({404: "unknown vehicle"})``: error answers with their body schema and what
    each status means for the route."""
    return {
        code: {
            "model": ValidationErrorPublic if code == 422 else ErrorPublic,
            "description": description,
        }
        for code, description in descriptions.items()
    }


#: Creating a vehicle or a charge point counts against the user's quota.
QUOTA = errors({403: "over the user's quota"})
#: A vehicle that is plugged in cannot be changed or deleted.
VEHICLE_IN_USE = errors({409: "the vehicle is plugged in: unplug it first"})
#: A charge point's identity is unique, and its configuration changes only while offline.
CHARGE_POINT_CONFLICT = errors(
    {
        409: "the cid is taken, or the charge point is connected (ocpp_configuration)",
        422: "invalid field, or an OCPP configuration key or value the twin refuses",
    }
)
#: Deleting a charge point stops its twin first, through the host that runs it.
TWIN_STOP = errors(
    {
        503: "the host that runs the twin cannot be reached",
        504: "the twin did not stop in time",
    }
)
#: An action is a command to a running twin, which may talk to the CSMS.
ACTION = errors(
    {
        403: "the CSMS rejected it (e.g. the id tag)",
        404: "unknown charge point, connector, vehicle or transaction",
        409: "not connected, or not possible in the current state",
        422: "invalid field, or a request the twin cannot send (it breaks the OCPP schema)",
        503: "no twin host is running, or the host of the twin died",
        504: "the twin or the CSMS did not answer within `timeout`",
    }
)
#: A username is unique.
USERNAME_TAKEN = errors({409: "the username is taken"})
#: Failed logins for one username are slowed down.
LOGIN = errors(
    {
        401: "incorrect username or password, or the user is deactivated",
        429: "too many failed logins for this username; wait `Retry-After` seconds",
    }
)


def _error_content(model: type[BaseModel]) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}}


def _implied_errors(operation: dict[str, Any], credentials_error: str) -> dict[str, str]:
    implied: dict[str, str] = {}
    if operation.get("security"):
        implied["401"] = credentials_error
    parameters = operation.get("parameters", [])
    if any(parameter["in"] == "path" for parameter in parameters):
        implied["404"] = "no such id (or not yours)"
    if "requestBody" in operation:
        implied["400"] = "the body is not valid JSON (or not UTF-8)"
        implied["413"] = "the body is too large (ELU_MAX_REQUEST_BYTES)"
    if "requestBody" in operation or any(p["in"] == "query" for p in parameters):
        implied["422"] = "a field is missing or invalid; `detail` says which"
    return implied


def document_errors(app: FastAPI, credentials_error: str) -> None:
    """Document in ``app``'s OpenAPI the errors each operation's shape implies: 401 where it
    needs credentials, 404 for an id in its path, 400 and 413 for a body, 422 for a body or
    a query. What a route declares itself (one of the dicts above) keeps its say, and every
    error answer gets its body schema. Also answers 405 with a true ``Allow``, and a routing
    404 with what it means."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        schema = generate()
        _, definitions = models_json_schema(
            [(ErrorPublic, "serialization"), (ValidationErrorPublic, "serialization")],
            ref_template="#/components/schemas/{model}",
        )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for name, definition in definitions["$defs"].items():
            components.setdefault(name, definition)
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                answers = operation.setdefault("responses", {})
                implied = _implied_errors(operation, credentials_error)
                if "422" not in implied:
                    # FastAPI documents a 422 for any parameter; an id's path convertor
                    # makes a malformed id a 404 instead.
                    answers.pop("422", None)
                for code, description in implied.items():
                    answers.setdefault(code, {"description": description})
                for code, answer in answers.items():
                    if code.startswith(("4", "5")):
                        model = ValidationErrorPublic if code == "422" else ErrorPublic
                        answer["content"] = _error_content(model)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
    install_method_not_allowed(app)
    install_not_found(app)


def _routes(app: FastAPI) -> list[tuple[str, set[str]]]:
    """(path, methods) of every HTTP route of ``app``, through included routers too."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # FastAPI before 0.160 keeps included routes in app.routes
        contexts: Any = app.router.routes
    else:
        contexts = iter_route_contexts(app.router.routes)
    return [
        (context.path, set(context.methods))
        for context in contexts
        if getattr(context, "methods", None) and getattr(context, "path", None)
    ]


def allowed_methods(app: FastAPI, path: str) -> list[str]:
    """Every method some route of ``app`` answers at ``path``."""
    methods: set[str] = set()
    for template, route_methods in _routes(app):
        if compile_path(template)[0].match(path):
            methods |= route_methods
    return sorted(methods - {"HEAD"})


def install_method_not_allowed(app: FastAPI) -> None:
    """Answer 405 with ``Allow`` naming every method of the path: Starlette names only those
    of the first route that matches it (``GET /x`` and ``POST /x`` are two routes)."""

    async def method_not_allowed(request: Request, error: Exception) -> JSONResponse:
        detail = getattr(error, "detail", "Method Not Allowed")
        methods = allowed_methods(app, request.scope["path"])
        return JSONResponse(
            {"detail": detail},
            status.HTTP_405_METHOD_NOT_ALLOWED,
            headers={"Allow": ", ".join(methods)},
        )

    app.add_exception_handler(status.HTTP_405_METHOD_NOT_ALLOWED, method_not_allowed)


def install_not_found(app: FastAPI) -> None:
    """Say what a 404 from routing means: Starlette's bare ``Not Found`` does not tell a
    path nobody serves from an id that is not a UUID (ids use the ``uuid`` convertor)."""

    async def not_found(request: Request, error: Exception) -> JSONResponse:
        detail = getattr(error, "detail", "Not Found")
        if detail == "Not Found":
            path = request.scope["path"]
            detail = f"nothing at {path}: no such path, or an id in it that is not a UUID"
        return JSONResponse(
            {"detail": detail}, status.HTTP_404_NOT_FOUND, headers=getattr(error, "headers", None)
        )

    app.add_exception_handler(status.HTTP_404_NOT_FOUND, not_found)


__all__ = [
    "ACTION",
    "CHARGE_POINT_CONFLICT",
    "LOGIN",
    "QUOTA",
    "TWIN_STOP",
    "USERNAME_TAKEN",
    "VEHICLE_IN_USE",
    "document_errors",
    "errors",
]
