from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared.models import AppToken, User
from shared.models.base import utcnow
from shared.schemas.auth import AppTokenCreate, AppTokenCreated, AppTokenPublic
from shared.security import create_token


def create_app_token(
    session: Session, user: User, body: AppTokenCreate, secret_key: str
) -> AppTokenCreated:
    now = utcnow()
    row = AppToken(
        user_id=user.id,
        name=body.name,
        created_at=now,
        expires_at=now + timedelta(days=body.expiry_in_days),
    )
    session.add(row)
    session.flush()
    token = create_token(secret_key, user.id, row.expires_at - now, kind="app", token_id=row.id)
    session.commit()
    return AppTokenCreated(**AppTokenPublic.model_validate(row).model_dump(), access_token=token)


def list_app_tokens(
    session: Session, user: User, offset: int, limit: int
) -> tuple[list[AppToken], int]:
    mine = AppToken.user_id == user.id
    query = select(AppToken).where(mine).order_by(AppToken.created_at, AppToken.id)
    rows = list(session.scalars(query.offset(offset).limit(limit)))
    return rows, session.scalar(select(func.count()).select_from(AppToken).where(mine)) or 0
