"""charge point client certificate (security profile 3)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 05:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("charge_points", schema=None) as batch_op:
        batch_op.add_column(sa.Column("client_certificate", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("client_key", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("charge_points", schema=None) as batch_op:
        batch_op.drop_column("client_key")
        batch_op.drop_column("client_certificate")
