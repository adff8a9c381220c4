from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared.errors import Conflict, NotFound
from shared.models import Quota, User
from shared.schemas.user import QuotaUpdate, UserCreate, UserUpdate
from shared.security import hash_password, verify_dummy_password, verify_password
from shared.settings import Settings


def create_user(session: Session, body: UserCreate, settings: Settings) -> User:
    if session.scalar(select(User.id).where(User.username == body.username)):
        raise Conflict(f"username {body.username!r} is taken")
    user = User(username=body.username, hashed_password=hash_password(body.password))
    user.quota = Quota(
        max_charge_points=body.max_charge_points
        if body.max_charge_points is not None
        else settings.default_max_charge_points,
        max_vehicles=body.max_vehicles
        if body.max_vehicles is not None
        else settings.default_max_vehicles,
    )
    session.add(user)
    session.commit()
    return user


def authenticate(session: Session, username: str, password: str) -> User | None:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        verify_dummy_password(password)
        return None
    if not verify_password(password, user.hashed_password):
        return None
    return user


def get_user(session: Session, user_id: uuid.UUID) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"user {user_id} not found")
    return user


def has_users(session: Session) -> bool:
    return session.scalar(select(User.id).limit(1)) is not None


def list_users(session: Session, offset: int, limit: int) -> tuple[list[User], int]:
    users = session.scalars(select(User).order_by(User.created_at).offset(offset).limit(limit))
    return list(users), session.scalar(select(func.count()).select_from(User)) or 0


def update_user(session: Session, user: User, body: UserUpdate) -> User:
    if body.is_active is not None:
        user.is_active = body.is_active
    if body.password is not None:
        user.hashed_password = hash_password(body.password)
    session.commit()
    return user


def update_quota(session: Session, user: User, body: QuotaUpdate) -> User:
    for field, value in body.model_dump(exclude_unset=True, exclude_none=True).items():
        setattr(user.quota, field, value)
    session.commit()
    return user


def delete_user(session: Session, user: User) -> None:
    session.delete(user)
    session.commit()
