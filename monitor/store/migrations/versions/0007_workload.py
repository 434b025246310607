"""Workload figures per snapshot (agents, stale, waiting, routing, categories) as JSON.

Revision ID: 0007
Revises: 0004
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("snapshots", sa.Column("workload", sa.JSON))


def downgrade() -> None:
    op.drop_column("snapshots", "workload")
