from __future__ import annotations

from typing import Annotated, ClassVar, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel, ConfigDict, model_validator

T = TypeVar("T")


class ORMModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class RequestBody(BaseModel):
    """A body a client sends: a field the API does not know is a 422 naming it, not
    silently dropped (a typo like ``soc_`` would otherwise do nothing)."""

    model_config = ConfigDict(extra="forbid")


class Page(BaseModel, Generic[T]):
    """A list answer: ``data`` holds this page, ``count`` all rows that match."""

    data: list[T]
    count: int


class Message(BaseModel):
    message: str


#: Most items one bulk create takes (``POST .../bulk``); more is a 422 saying so.
BULK_MAX_ITEMS = 1000
BULK_DESCRIPTION = (
    f"1 to {BULK_MAX_ITEMS} items, created all or none; send more in several requests."
)

#: Paging parameters: how many rows to skip and how many to answer.
Offset = Annotated[int, Query(ge=0, le=2**31 - 1, description="rows to skip")]
Limit = Annotated[int, Query(ge=1, le=1000, description="rows to answer")]


class PartialUpdate(RequestBody):
    """A PATCH body: a field left out is not changed; ``null`` is refused for a field that
    cannot be empty (those not in ``nullable``)."""

    nullable: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="after")
    def _no_null_for_required(self) -> PartialUpdate:
        for name in self.model_fields_set:
            if getattr(self, name) is None and name not in self.nullable:
                raise ValueError(f"{name} may not be null (leave it out to keep it)")
        return self
