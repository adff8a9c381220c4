from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, status
from fastapi.security import OAuth2PasswordRequestForm

from public_api.deps import SessionDep, SettingsDep
from shared.crud.users import authenticate
from shared.schemas.auth import Token
from shared.security import create_token

router = APIRouter(tags=["login"])


@router.post("/token", summary="Get an access token (OAuth2 password flow)")
def login(
    session: SessionDep,
    settings: SettingsDep,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
) -> Token:
    user = authenticate(session, form.username, form.password)
    if user is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "incorrect username or password")
    if not user.is_active:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "user is deactivated")
    assert settings.secret_key is not None
    expires = timedelta(minutes=settings.access_token_expire_minutes)
    return Token(access_token=create_token(settings.secret_key, user.id, expires))
