from __future__ import annotations

from fastapi import APIRouter

from public_api.deps import CurrentUser
from shared.schemas.user import UserPublic

router = APIRouter(prefix="/user", tags=["user"])


@router.get("/me", summary="The user the token belongs to")
def read_me(current_user: CurrentUser) -> UserPublic:
    return UserPublic.model_validate(current_user)
