from __future__ import annotations

import uuid

from fastapi import APIRouter, status

from private_api.deps import OperatorKey, SessionDep, SettingsDep
from shared.crud import users as crud
from shared.openapi import USERNAME_TAKEN
from shared.schemas.common import Limit, Offset, Page
from shared.schemas.user import QuotaUpdate, UserCreate, UserPublic, UserUpdate

router = APIRouter(prefix="/user", tags=["users"])


@router.post(
    "/", responses=USERNAME_TAKEN, summary="Create a user (with the default quota unless given)"
)
def create(
    _: OperatorKey, session: SessionDep, settings: SettingsDep, body: UserCreate
) -> UserPublic:
    return UserPublic.model_validate(crud.create_user(session, body, settings))


@router.get("/")
def read_all(
    _: OperatorKey,
    session: SessionDep,
    offset: Offset = 0,
    limit: Limit = 100,
) -> Page[UserPublic]:
    users, count = crud.list_users(session, offset, limit)
    return Page(data=[UserPublic.model_validate(user) for user in users], count=count)


@router.get("/{id:uuid}")
def read(_: OperatorKey, session: SessionDep, id: uuid.UUID) -> UserPublic:
    return UserPublic.model_validate(crud.get_user(session, id))


@router.patch("/{id:uuid}", summary="Deactivate or reactivate a user, or set a new password")
def update(_: OperatorKey, session: SessionDep, id: uuid.UUID, body: UserUpdate) -> UserPublic:
    return UserPublic.model_validate(crud.update_user(session, crud.get_user(session, id), body))


@router.put(
    "/{id:uuid}/quota", summary="Change how many charge points and vehicles a user may have"
)
def update_quota(
    _: OperatorKey, session: SessionDep, id: uuid.UUID, body: QuotaUpdate
) -> UserPublic:
    return UserPublic.model_validate(crud.update_quota(session, crud.get_user(session, id), body))


@router.delete(
    "/{id:uuid}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete a user and all"
)
def delete(_: OperatorKey, session: SessionDep, id: uuid.UUID) -> None:
    crud.delete_user(session, crud.get_user(session, id))
