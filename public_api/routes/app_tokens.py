from __future__ import annotations

import uuid

from fastapi import APIRouter, status

from public_api.deps import CurrentUser, SessionDep, SettingsDep
from shared.crud.app_tokens import create_app_token, list_app_tokens
from shared.crud.ownership import get_owned
from shared.models import AppToken
from shared.schemas.auth import AppTokenCreate, AppTokenCreated, AppTokenPublic

router = APIRouter(prefix="/app-token", tags=["app tokens"])


@router.post("", summary="Create an app token that expires after the given days")
def create(
    session: SessionDep, settings: SettingsDep, current_user: CurrentUser, body: AppTokenCreate
) -> AppTokenCreated:
    assert settings.secret_key is not None
    return create_app_token(session, current_user, body, settings.secret_key)


@router.get("", summary="List your app tokens (without the tokens themselves)")
def read_all(session: SessionDep, current_user: CurrentUser) -> list[AppTokenPublic]:
    return [AppTokenPublic.model_validate(row) for row in list_app_tokens(session, current_user)]


@router.get("/{id}")
def read(session: SessionDep, current_user: CurrentUser, id: uuid.UUID) -> AppTokenPublic:
    return AppTokenPublic.model_validate(get_owned(session, AppToken, id, current_user))


@router.delete("/{id}", status_code=status.HTTP_204_NO_CONTENT, summary="Revoke an app token")
def delete(session: SessionDep, current_user: CurrentUser, id: uuid.UUID) -> None:
    session.delete(get_owned(session, AppToken, id, current_user))
    session.commit()
