"""Typed dependencies of the private API (operators, with the X-Operator-Key header)."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, HTTPException, Security, status
from fastapi.security import APIKeyHeader

from shared.deps import OptionalCommandBusDep, SessionDep, SettingsDep

operator_key_header = APIKeyHeader(name="X-Operator-Key", auto_error=False)


def check_operator_key(
    settings: SettingsDep, key: Annotated[str | None, Security(operator_key_header)]
) -> None:
    assert settings.operator_key is not None
    if key is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "X-Operator-Key header missing")
    if not secrets.compare_digest(key.encode(), settings.operator_key.encode()):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "wrong operator key")


OperatorKey = Annotated[None, Depends(check_operator_key)]

__all__ = ["OperatorKey", "OptionalCommandBusDep", "SessionDep", "SettingsDep"]
