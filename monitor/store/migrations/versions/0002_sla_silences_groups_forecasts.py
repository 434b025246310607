"""SLA and duration figures on snapshots; silences, notification groups, receiver state,
forecasts and resourcing state.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


DATETIME_COLUMNS = {
    "snapshots": ("ts", "window_start"),
    "snapshot_rollups": ("hour",),
    "queue_counters": ("first_seen", "last_seen"),
    "source_state": ("watermark", "last_success_at", "last_attempt_at"),
    "alert_instances": (
        "active_since",
        "fired_at",
        "resolved_at",
        "keep_firing_since",
        "last_eval_at",
    ),
    "outbox": ("created_at", "next_attempt_at", "delivered_at"),
}


def _ts() -> sa.types.TypeEngine:  # type: ignore[type-arg]
    """DATETIME with microseconds on MariaDB/MySQL (plain DATETIME drops them)."""
    return sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def upgrade() -> None:
    if op.get_bind().dialect.name in ("mysql", "mariadb"):
        for table, columns in DATETIME_COLUMNS.items():
            for column in columns:
                nullable = column not in (
                    "ts",
                    "window_start",
                    "hour",
                    "first_seen",
                    "last_seen",
                    "created_at",
                    "next_attempt_at",
                )
                op.alter_column(
                    table, column, type_=mysql.DATETIME(fsp=6), existing_nullable=nullable
                )
    with op.batch_alter_table("snapshots") as batch:
        batch.add_column(sa.Column("sla_breached_window", sa.JSON))
        batch.add_column(sa.Column("avg_first_response_s", sa.Float))
        batch.add_column(sa.Column("avg_resolution_s", sa.Float))
        batch.add_column(sa.Column("reopened", sa.Integer))
    op.create_table(
        "silences",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("matchers", sa.JSON, nullable=False),
        sa.Column("starts_at", _ts(), nullable=False),
        sa.Column("ends_at", _ts(), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("comment", sa.Text, nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
    )
    op.create_table(
        "notification_groups",
        sa.Column("key", sa.String(500), primary_key=True),
        sa.Column("state", sa.JSON, nullable=False),
    )
    op.create_table(
        "receiver_state",
        sa.Column("receiver", sa.String(200), primary_key=True),
        sa.Column("consecutive_failures", sa.Integer, nullable=False),
        sa.Column("open_until", _ts()),
        sa.Column("disabled_at", _ts()),
        sa.Column("disabled_reason", sa.Text),
    )
    op.create_table(
        "forecasts",
        sa.Column("source", sa.String(200), primary_key=True),
        sa.Column("queue", sa.String(400), primary_key=True),
        sa.Column("made_at", _ts(), nullable=False),
        sa.Column("model", sa.String(50), nullable=False),
        sa.Column("status", sa.String(30), nullable=False),
        sa.Column("level", sa.Float, nullable=False),
        sa.Column("point", sa.JSON, nullable=False),
        sa.Column("lower", sa.JSON, nullable=False),
        sa.Column("upper", sa.JSON, nullable=False),
        sa.Column("backtest_mase", sa.Float),
        sa.Column("detail", sa.JSON),
    )
    op.create_table(
        "resourcing_state",
        sa.Column("source", sa.String(200), primary_key=True),
        sa.Column("queue", sa.String(400), primary_key=True),
        sa.Column("state", sa.JSON, nullable=False),
        sa.Column("updated_at", _ts(), nullable=False),
    )


def downgrade() -> None:
    for table in (
        "resourcing_state",
        "forecasts",
        "receiver_state",
        "notification_groups",
        "silences",
    ):
        op.drop_table(table)
    with op.batch_alter_table("snapshots") as batch:
        for column in (
            "reopened",
            "avg_resolution_s",
            "avg_first_response_s",
            "sla_breached_window",
        ):
            batch.drop_column(column)
