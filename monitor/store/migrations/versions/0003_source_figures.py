"""Which optional figures each source can give (source_state.figures).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("source_state") as batch:
        batch.add_column(sa.Column("figures", sa.JSON))


def downgrade() -> None:
    with op.batch_alter_table("source_state") as batch:
        batch.drop_column("figures")
