"""bidirectional vehicles (V2X)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 05:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("vehicles", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("bidirectional", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(
            sa.Column("maximum_discharge_power", sa.Double(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("minimum_soc", sa.Double(), server_default="0", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("vehicles", schema=None) as batch_op:
        batch_op.drop_column("minimum_soc")
        batch_op.drop_column("maximum_discharge_power")
        batch_op.drop_column("bidirectional")
