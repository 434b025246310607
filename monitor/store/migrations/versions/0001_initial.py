"""Initial schema: snapshots, rollups, counters, source state, alert instances, outbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "snapshots",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("queue", sa.String(400), nullable=False),
        sa.Column("ts", sa.DateTime, nullable=False),
        sa.Column("window_start", sa.DateTime, nullable=False),
        sa.Column("open_total", sa.Integer, nullable=False),
        sa.Column("open_breakdown", sa.JSON, nullable=False),
        sa.Column("created", sa.Integer),
        sa.Column("resolved", sa.Integer),
        sa.Column("oldest_age_s", sa.Float),
        sa.Column("older_than", sa.JSON),
        sa.Column("age_quantiles", sa.JSON),
        sa.Column("sla_breached_open", sa.JSON),
        sa.Column("sla_at_risk", sa.JSON),
        sa.Column("unassigned", sa.Integer),
    )
    op.create_index("ix_snapshots_source_queue_ts", "snapshots", ["source", "queue", "ts"])
    op.create_index("ix_snapshots_ts", "snapshots", ["ts"])
    op.create_table(
        "snapshot_rollups",
        sa.Column("source", sa.String(200), primary_key=True),
        sa.Column("queue", sa.String(400), primary_key=True),
        sa.Column("hour", sa.DateTime, primary_key=True),
        sa.Column("samples", sa.Integer, nullable=False),
        sa.Column("open_avg", sa.Float, nullable=False),
        sa.Column("open_min", sa.Integer, nullable=False),
        sa.Column("open_max", sa.Integer, nullable=False),
        sa.Column("open_last", sa.Integer, nullable=False),
        sa.Column("created", sa.Integer),
        sa.Column("resolved", sa.Integer),
        sa.Column("oldest_age_max_s", sa.Float),
    )
    op.create_table(
        "queue_counters",
        sa.Column("source", sa.String(200), primary_key=True),
        sa.Column("queue", sa.String(400), primary_key=True),
        sa.Column("created_total", sa.BigInteger, nullable=False),
        sa.Column("resolved_total", sa.BigInteger, nullable=False),
        sa.Column("first_seen", sa.DateTime, nullable=False),
        sa.Column("last_seen", sa.DateTime, nullable=False),
    )
    op.create_table(
        "source_state",
        sa.Column("source", sa.String(200), primary_key=True),
        sa.Column("watermark", sa.DateTime),
        sa.Column("last_success_at", sa.DateTime),
        sa.Column("last_attempt_at", sa.DateTime),
        sa.Column("last_error", sa.Text),
        sa.Column("last_error_reason", sa.String(50)),
        sa.Column("consecutive_failures", sa.Integer, nullable=False),
    )
    op.create_table(
        "alert_instances",
        sa.Column("fingerprint", sa.String(64), primary_key=True),
        sa.Column("rule", sa.String(200), nullable=False),
        sa.Column("labels", sa.JSON, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("active_since", sa.DateTime),
        sa.Column("fired_at", sa.DateTime),
        sa.Column("resolved_at", sa.DateTime),
        sa.Column("keep_firing_since", sa.DateTime),
        sa.Column("fire_value", sa.Float),
        sa.Column("last_value", sa.Float),
        sa.Column("last_eval_at", sa.DateTime),
        sa.Column("state_reason", sa.Text, nullable=False),
    )
    op.create_index("ix_alert_instances_rule", "alert_instances", ["rule"])
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("receiver", sa.String(200), nullable=False),
        sa.Column("idempotency_key", sa.String(100), nullable=False, unique=True),
        sa.Column("event", sa.String(100), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.DateTime, nullable=False),
        sa.Column("last_error", sa.Text),
        sa.Column("delivered_at", sa.DateTime),
    )
    op.create_index("ix_outbox_status_receiver_id", "outbox", ["status", "receiver", "id"])


def downgrade() -> None:
    for table in (
        "outbox",
        "alert_instances",
        "source_state",
        "queue_counters",
        "snapshot_rollups",
        "snapshots",
    ):
        op.drop_table(table)
