from __future__ import annotations

import uuid

from fastapi import APIRouter, HTTPException, status
from fastapi.exceptions import RequestValidationError

from public_api.deps import CurrentUser, SessionDep, SettingsDep, TokenClaimsDep
from shared.crud.app_tokens import create_app_token, list_app_tokens
from shared.crud.ownership import get_owned
from shared.models import AppToken
from shared.openapi import errors
from shared.schemas.auth import AppTokenCreate, AppTokenCreated, AppTokenPublic
from shared.schemas.common import Limit, Offset, Page

router = APIRouter(prefix="/app-token", tags=["app tokens"])


@router.post(
    "",
    summary="Create an app token that expires after the given days",
    description="`expiry_in_days` is at most `ELU_APP_TOKEN_MAX_DAYS` (365 by default). "
    "Needs an access token from `POST /token`: an app token cannot create app tokens.",
    responses=errors({403: "an app token cannot create app tokens"}),
)
def create(
    session: SessionDep,
    settings: SettingsDep,
    claims: TokenClaimsDep,
    current_user: CurrentUser,
    body: AppTokenCreate,
) -> AppTokenCreated:
    if claims.kind != "access":
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            "an app token cannot create app tokens: use an access token from POST /token",
        )
    if body.expiry_in_days > settings.app_token_max_days:
        raise RequestValidationError(
            [
                {
                    "type": "less_than_equal",
                    "loc": ("body", "expiry_in_days"),
                    "msg": f"Input should be less than or equal to "
                    f"{settings.app_token_max_days} (ELU_APP_TOKEN_MAX_DAYS)",
                    "input": body.expiry_in_days,
                    "ctx": {"le": settings.app_token_max_days},
                }
            ]
        )
    assert settings.secret_key is not None
    return create_app_token(session, current_user, body, settings.secret_key)


@router.get("", summary="List your app tokens (without the tokens themselves)")
def read_all(
    session: SessionDep, current_user: CurrentUser, offset: Offset = 0, limit: Limit = 100
) -> Page[AppTokenPublic]:
    rows, count = list_app_tokens(session, current_user, offset, limit)
    return Page(data=[AppTokenPublic.model_validate(row) for row in rows], count=count)


@router.get("/{id:uuid}")
def read(session: SessionDep, current_user: CurrentUser, id: uuid.UUID) -> AppTokenPublic:
    return AppTokenPublic.model_validate(get_owned(session, AppToken, id, current_user))


@router.delete("/{id:uuid}", status_code=status.HTTP_204_NO_CONTENT, summary="Revoke an app token")
def delete(session: SessionDep, current_user: CurrentUser, id: uuid.UUID) -> None:
    session.delete(get_owned(session, AppToken, id, current_user))
    session.commit()
