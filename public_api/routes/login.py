from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordRequestForm

from public_api.deps import SessionDep, SettingsDep
from shared.crud.users import authenticate
from shared.login_throttle import LoginThrottle
from shared.openapi import LOGIN
from shared.schemas.auth import Token
from shared.security import create_token

router = APIRouter(tags=["login"])


@router.post(
    "/token",
    summary="Get an access token (OAuth2 password flow)",
    description="Repeated failures for one username are slowed down: after a few, a 429 "
    "with `Retry-After` (seconds) until the next try.",
    responses=LOGIN,
)
def login(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
) -> Token:
    throttle: LoginThrottle = request.app.state.login_throttle
    wait = throttle.retry_after(form.username)
    if wait:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"too many failed logins for this username: try again in {wait} s",
            headers={"Retry-After": str(wait)},
        )
    user = authenticate(session, form.username, form.password)
    if user is None:
        throttle.failed(form.username)
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "incorrect username or password")
    throttle.succeeded(form.username)
    if not user.is_active:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "user is deactivated")
    assert settings.secret_key is not None
    expires = timedelta(minutes=settings.access_token_expire_minutes)
    return Token(access_token=create_token(settings.secret_key, user.id, expires))
