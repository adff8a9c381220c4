from __future__ import annotations

import math
from types import UnionType
from typing import Annotated, Any, ClassVar, Generic, TypeVar, Union, get_args, get_origin

from fastapi import Query
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

T = TypeVar("T")

INT32_MAX = 2**31 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

#: A count or amount stored in a 32-bit integer column (quotas, costs): larger is a 422,
#: not a database error.
NonNegativeInt32 = Annotated[int, Field(ge=0, le=INT32_MAX)]


def text_problem(text: str) -> str | None:
    """Why ``text`` cannot be stored or sent on (None when it can): Postgres refuses NUL
    characters, and a lone surrogate (JSON ``"\\ud800"``) is not encodable as UTF-8."""
    if "\x00" in text:
        return "must not contain NUL characters (\\u0000)"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "must be valid Unicode text: a lone surrogate (\\ud800-\\udfff) is not"
    return None


def check_text(text: str) -> str:
    problem = text_problem(text)
    if problem is not None:
        raise ValueError(problem)
    return text


def check_storable(value: Any) -> Any:
    """``value`` if every string in it (keys too) is storable text, every number finite and
    every integer fits 64 bits; else a ValueError that says what is wrong. Nested models
    check themselves."""
    if isinstance(value, str):
        check_text(value)
    elif isinstance(value, bool) or value is None or isinstance(value, BaseModel):
        pass
    elif isinstance(value, int):
        if not INT64_MIN <= value <= INT64_MAX:
            raise ValueError("integer out of range: it must fit in 64 bits")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("must be a finite number (not NaN or Infinity)")
    elif isinstance(value, dict):
        for key, item in value.items():
            check_storable(key)
            check_storable(item)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            check_storable(item)
    return value


#: Text that can be stored in any database and sent on as JSON.
Text = Annotated[str, AfterValidator(check_text)]
#: A JSON object sent on as given (e.g. an OCPP payload), refused when JSON cannot carry it.
JsonObject = Annotated[dict[str, Any], AfterValidator(check_storable)]


#: Numbers and booleans in request bodies, as the OpenAPI schema says them: ``false`` is
#: not 0, ``"1"`` is not 1 and ``0`` is not false (pydantic's lax mode would take them).
Number = Annotated[float, Field(strict=True)]
Boolean = Annotated[bool, Field(strict=True)]


def _is_integer(annotation: Any) -> bool:
    """``int``, a constrained ``Annotated[int, ...]``, or a union holding one."""
    if get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    return annotation is int or (
        get_origin(annotation) in (Union, UnionType)
        and any(_is_integer(arg) for arg in get_args(annotation))
    )


class ORMModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class RequestBody(BaseModel):
    """A body a client sends: a field the API does not know is a 422 naming it, not
    silently dropped (a typo like ``soc_`` would otherwise do nothing). In every field, at
    any depth, NaN / Infinity, integers beyond 64 bits, NUL characters and lone surrogates
    are a 422 too: no database or JSON encoder downstream can take them."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    _storable = field_validator("*")(classmethod(lambda cls, value: check_storable(value)))

    @field_validator("*", mode="before")
    @classmethod
    def _integers_are_json_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        """An integer field takes ``525`` or ``525.0`` as JSON Schema does, but not ``true``
        or ``"525"`` (a strict int would refuse 525.0, and a constraint on a type-level
        validator would fall out of the OpenAPI schema)."""
        field = cls.model_fields.get(info.field_name or "")
        if field is not None and isinstance(value, bool | str) and _is_integer(field.annotation):
            raise ValueError("Input should be a JSON integer")
        return value


class Page(BaseModel, Generic[T]):
    """A list answer: ``data`` holds this page, ``count`` all rows that match."""

    data: list[T]
    count: int


class Message(BaseModel):
    message: str


class ErrorPublic(BaseModel):
    """The body of every error answer but request validation: what went wrong, for people,
    and for some a stable ``code`` a client can branch on (e.g. ``not_connected``)."""

    detail: str
    code: str | None = None


class ValidationErrorItem(BaseModel):
    """One reason a request was refused: where (``loc``), what (``msg``, ``type``)."""

    loc: list[str | int]
    msg: str
    type: str
    input: Any = None
    ctx: dict[str, Any] | None = None


class ValidationErrorPublic(BaseModel):
    """A 422: the request is well-formed but not valid. ``detail`` lists each field that is
    wrong, or says in words why the request cannot be done (e.g. an unknown OCPP key)."""

    detail: list[ValidationErrorItem] | str
    code: str | None = None


#: Most items one bulk create takes (``POST .../bulk``); more is a 422 saying so.
BULK_MAX_ITEMS = 1000
BULK_DESCRIPTION = (
    f"1 to {BULK_MAX_ITEMS} items, created all or none; send more in several requests."
)

#: Paging parameters: how many rows to skip and how many to answer.
Offset = Annotated[int, Query(ge=0, le=2**31 - 1, description="rows to skip")]
Limit = Annotated[int, Query(ge=1, le=1000, description="rows to answer")]


def _null_only_where_nullable(schema: dict[str, Any], model: type[BaseModel]) -> None:
    """The JSON schema of a PATCH body offers ``null`` only for the fields that take it."""
    nullable: frozenset[str] = getattr(model, "nullable", frozenset())
    for name, field in schema.get("properties", {}).items():
        if name in nullable or "anyOf" not in field:
            continue
        options = [option for option in field.pop("anyOf") if option.get("type") != "null"]
        if len(options) == 1:
            field.update(options[0])
        else:
            field["anyOf"] = options
        if field.get("default", ...) is None:
            del field["default"]


class PartialUpdate(RequestBody):
    """A PATCH body: a field left out is not changed; ``null`` is refused for a field that
    cannot be empty (those not in ``nullable``)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_null_only_where_nullable)

    nullable: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="after")
    def _no_null_for_required(self) -> PartialUpdate:
        for name in self.model_fields_set:
            if getattr(self, name) is None and name not in self.nullable:
                raise ValueError(f"{name} may not be null (leave it out to keep it)")
        return self
