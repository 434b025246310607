"""A local mirror of a hosted store's open tickets, kept by a changed-since feed.

Revision ID: 0009_hosted_mirror
Revises: 0008_leader_lease
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0009_hosted_mirror"
down_revision = "0008_leader_lease"
branch_labels = None
depends_on = None


def _ts() -> sa.types.TypeEngine:  # type: ignore[type-arg]
    """DATETIME with microseconds on MariaDB/MySQL (plain DATETIME drops them)."""
    return sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def upgrade() -> None:
    op.create_table(
        "mirror_tickets",
        sa.Column("source", sa.String(200), primary_key=True),
        sa.Column("ticket_id", sa.String(200), primary_key=True),
        sa.Column("queue", sa.String(400), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("modified_at", _ts(), nullable=False),
    )
    op.create_table(
        "mirror_state",
        sa.Column("source", sa.String(200), primary_key=True),
        sa.Column("cursor", _ts(), nullable=True),
        sa.Column("reconciled_at", _ts(), nullable=True),
        sa.Column("drift", sa.JSON, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("mirror_state")
    op.drop_table("mirror_tickets")
