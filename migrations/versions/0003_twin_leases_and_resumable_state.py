"""twin leases and resumable state

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 23:23:12.707155
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shared.models.base

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "twin_states",
        sa.Column("charge_point_id", sa.Uuid(), nullable=False),
        sa.Column("lease_token", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("saved_at", shared.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("saved_by", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(
            ["charge_point_id"],
            ["charge_points.id"],
            name=op.f("fk_twin_states_charge_point_id_charge_points"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("charge_point_id", name=op.f("pk_twin_states")),
    )
    with op.batch_alter_table("charge_points", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("lease_token", sa.BigInteger(), server_default="0", nullable=False)
        )
        batch_op.create_index(batch_op.f("ix_charge_points_host"), ["host"], unique=False)
    with op.batch_alter_table("twin_hosts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pid", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("status", sa.String(length=16), server_default="running", nullable=False)
        )
        batch_op.add_column(
            sa.Column(
                "lease_expires_at", shared.models.base.UTCDateTime(timezone=True), nullable=True
            )
        )
    with op.batch_alter_table("vehicles", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_vehicles_connector_id"), ["connector_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("vehicles", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_vehicles_connector_id"))
    with op.batch_alter_table("twin_hosts", schema=None) as batch_op:
        batch_op.drop_column("lease_expires_at")
        batch_op.drop_column("status")
        batch_op.drop_column("pid")
    with op.batch_alter_table("charge_points", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_charge_points_host"))
        batch_op.drop_column("lease_token")
    op.drop_table("twin_states")
