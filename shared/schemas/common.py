from __future__ import annotations

from types import UnionType
from typing import Annotated, Any, ClassVar, Generic, TypeVar, Union, get_args, get_origin

from fastapi import Query
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

T = TypeVar("T")


#: Numbers and booleans in request bodies, as the OpenAPI schema says them: ``false`` is
#: not 0, ``"1"`` is not 1 and ``0`` is not false (pydantic's lax mode would take them).
Number = Annotated[float, Field(strict=True)]
Boolean = Annotated[bool, Field(strict=True)]


def _is_integer(annotation: Any) -> bool:
    return annotation is int or (
        get_origin(annotation) in (Union, UnionType) and int in get_args(annotation)
    )


class ORMModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class RequestBody(BaseModel):
    """A body a client sends: a field the API does not know is a 422 naming it, not
    silently dropped (a typo like ``soc_`` would otherwise do nothing)."""

    model_config = ConfigDict(extra="forbid")

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
