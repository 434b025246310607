"""Forecast engine states per queue, so a restart resumes forecasts at once.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _ts() -> sa.types.TypeEngine:  # type: ignore[type-arg]
    """DATETIME with microseconds on MariaDB/MySQL (plain DATETIME drops them)."""
    return sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def upgrade() -> None:
    op.create_table(
        "forecast_states",
        sa.Column("source", sa.String(200), primary_key=True),
        sa.Column("queue", sa.String(400), primary_key=True),
        sa.Column("format", sa.Integer, nullable=False),
        sa.Column("settings", sa.String(16), nullable=False),
        sa.Column("last_hour", _ts(), nullable=False),
        # About 100 KB per queue: LONGBLOB on MariaDB/MySQL, whose BLOB stops at 64 KB.
        sa.Column(
            "state",
            sa.LargeBinary().with_variant(mysql.LONGBLOB(), "mysql", "mariadb"),
            nullable=False,
        ),
        sa.Column("saved_at", _ts(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("forecast_states")
