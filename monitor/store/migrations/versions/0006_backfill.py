"""Hourly rollups reconstructed by ``backfill`` are marked as such (snapshot_rollups.backfilled).

Revision ID: 0006
Revises: 0004
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("snapshot_rollups") as batch:
        batch.add_column(
            sa.Column("backfilled", sa.Boolean, nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("snapshot_rollups") as batch:
        batch.drop_column("backfilled")
