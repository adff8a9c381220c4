from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict

T = TypeVar("T")


class ORMModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Page(BaseModel, Generic[T]):
    """A list answer: ``data`` holds this page, ``count`` all rows that match."""

    data: list[T]
    count: int


class Message(BaseModel):
    message: str
