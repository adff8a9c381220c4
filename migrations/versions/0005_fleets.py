"""fleets

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 02:22:53.452048
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shared.models.base

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "fleets",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("specification", sa.JSON(), nullable=False),
        sa.Column("charge_point_ids", sa.JSON(), nullable=False),
        sa.Column("vehicle_ids", sa.JSON(), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("latency_histograms", sa.JSON(), nullable=False),
        sa.Column("arrivals", sa.JSON(), nullable=False),
        sa.Column("started_at", shared.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("stopped_at", shared.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "stop_requested_at", shared.models.base.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", shared.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", shared.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_fleets_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fleets")),
    )
    with op.batch_alter_table("fleets", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_fleets_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("fleets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_fleets_user_id"))

    op.drop_table("fleets")
