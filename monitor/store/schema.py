"""The history store's tables (SQLAlchemy Core). Alembic migrations create them.

Every timestamp is stored as a timezone-aware UTC instant.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.types import TypeDecorator

metadata = sa.MetaData()


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out; stored as naive UTC on every backend.

    MariaDB/MySQL keep microseconds only with ``DATETIME(6)``: without them watermarks
    would lose their fractions and consecutive windows would overlap.
    """

    impl = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the history store")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


TS = UTCDateTime()

snapshots = sa.Table(
    "snapshots",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("source", sa.String(200), nullable=False),
    sa.Column("queue", sa.String(400), nullable=False),
    sa.Column("ts", TS, nullable=False),
    sa.Column("window_start", TS, nullable=False),
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
    sa.Column("sla_breached_window", sa.JSON),
    sa.Column("avg_first_response_s", sa.Float),
    sa.Column("avg_resolution_s", sa.Float),
    sa.Column("reopened", sa.Integer),
    # revision 0007: collectors.workload.QueueWorkload as JSON (None: not asked for)
    sa.Column("workload", sa.JSON),
    sa.Index("ix_snapshots_source_queue_ts", "source", "queue", "ts"),
    sa.Index("ix_snapshots_ts", "ts"),
)
"""One row per (source, queue, successful poll); raw rows are kept for ``raw_retention``."""

rollups = sa.Table(
    "snapshot_rollups",
    metadata,
    sa.Column("source", sa.String(200), primary_key=True),
    sa.Column("queue", sa.String(400), primary_key=True),
    sa.Column("hour", TS, primary_key=True),
    sa.Column("samples", sa.Integer, nullable=False),
    sa.Column("open_avg", sa.Float, nullable=False),
    sa.Column("open_min", sa.Integer, nullable=False),
    sa.Column("open_max", sa.Integer, nullable=False),
    sa.Column("open_last", sa.Integer, nullable=False),
    sa.Column("created", sa.Integer),
    sa.Column("resolved", sa.Integer),
    sa.Column("oldest_age_max_s", sa.Float),
    # revision 0006: reconstructed by ``backfill`` from the ticket store's times
    sa.Column("backfilled", sa.Boolean, nullable=False, server_default=sa.false()),
)
"""Hourly aggregates of ``snapshots`` (hour = start of the hour), kept for ``rollup_retention``;
``backfilled`` rows were reconstructed from the ticket store (``monitor.backfill``)."""

queue_counters = sa.Table(
    "queue_counters",
    metadata,
    sa.Column("source", sa.String(200), primary_key=True),
    sa.Column("queue", sa.String(400), primary_key=True),
    sa.Column("created_total", sa.BigInteger, nullable=False, default=0),
    sa.Column("resolved_total", sa.BigInteger, nullable=False, default=0),
    sa.Column("first_seen", TS, nullable=False),
    sa.Column("last_seen", TS, nullable=False),
)
"""Monotonic created/resolved totals per queue (Prometheus counters survive restarts)."""

source_state = sa.Table(
    "source_state",
    metadata,
    sa.Column("source", sa.String(200), primary_key=True),
    sa.Column("watermark", TS),
    sa.Column("last_success_at", TS),
    sa.Column("last_attempt_at", TS),
    sa.Column("last_error", sa.Text),
    sa.Column("last_error_reason", sa.String(50)),
    sa.Column("consecutive_failures", sa.Integer, nullable=False, default=0),
    # revision 0003: {figure: {"available", "mapped", "reason"}} at the latest poll
    sa.Column("figures", sa.JSON),
)
"""Per source: the watermark (end of the last counted window), poll health, and which
optional figures the source could give at its latest successful poll."""

alert_instances = sa.Table(
    "alert_instances",
    metadata,
    sa.Column("fingerprint", sa.String(64), primary_key=True),
    sa.Column("rule", sa.String(200), nullable=False),
    sa.Column("labels", sa.JSON, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("active_since", TS),
    sa.Column("fired_at", TS),
    sa.Column("resolved_at", TS),
    sa.Column("keep_firing_since", TS),
    sa.Column("fire_value", sa.Float),
    sa.Column("last_value", sa.Float),
    sa.Column("last_eval_at", TS),
    sa.Column("state_reason", sa.Text, nullable=False, default=""),
    sa.Index("ix_alert_instances_rule", "rule"),
)
"""The full state of every alert instance, restored on start whatever the rule's ``for``."""

outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("receiver", sa.String(200), nullable=False),
    sa.Column("idempotency_key", sa.String(100), nullable=False, unique=True),
    sa.Column("event", sa.String(100), nullable=False),
    # LONGTEXT on MariaDB/MySQL: a report e-mail (page and CSVs) exceeds TEXT's 64 KiB.
    sa.Column(
        "payload", sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb"), nullable=False
    ),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("next_attempt_at", TS, nullable=False),
    sa.Column("last_error", sa.Text),
    sa.Column("delivered_at", TS),
    # revision 0008: the lease generation of the leader that claimed it for sending
    sa.Column("claim_generation", sa.BigInteger),
    sa.Index("ix_outbox_status_receiver_id", "status", "receiver", "id"),
)
"""One row per notification per receiver, written in the transaction that caused it."""

# -- revision 0002 ---------------------------------------------------------------------

silences = sa.Table(
    "silences",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("matchers", sa.JSON, nullable=False),
    sa.Column("starts_at", TS, nullable=False),
    sa.Column("ends_at", TS, nullable=False),
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.Column("comment", sa.Text, nullable=False),
    sa.Column("created_at", TS, nullable=False),
)
"""Silences created through the HTTP API or the CLI."""

notification_groups = sa.Table(
    "notification_groups",
    metadata,
    sa.Column("key", sa.String(500), primary_key=True),
    sa.Column("state", sa.JSON, nullable=False),
)
"""Aggregation-group state (what each group last notified, its timers)."""

receiver_state = sa.Table(
    "receiver_state",
    metadata,
    sa.Column("receiver", sa.String(200), primary_key=True),
    sa.Column("consecutive_failures", sa.Integer, nullable=False, default=0),
    sa.Column("open_until", TS),
    sa.Column("disabled_at", TS),
    sa.Column("disabled_reason", sa.Text),
)
"""Per receiver: the circuit breaker and whether a 410 Gone disabled it."""

forecasts = sa.Table(
    "forecasts",
    metadata,
    sa.Column("source", sa.String(200), primary_key=True),
    sa.Column("queue", sa.String(400), primary_key=True),
    sa.Column("made_at", TS, nullable=False),
    sa.Column("model", sa.String(50), nullable=False),
    sa.Column("status", sa.String(30), nullable=False),
    sa.Column("level", sa.Float, nullable=False),
    sa.Column("point", sa.JSON, nullable=False),
    sa.Column("lower", sa.JSON, nullable=False),
    sa.Column("upper", sa.JSON, nullable=False),
    sa.Column("backtest_mase", sa.Float),
    sa.Column("detail", sa.JSON),
)
"""The latest forecast of each queue (hourly steps from ``made_at``)."""

forecast_states = sa.Table(
    "forecast_states",
    metadata,
    sa.Column("source", sa.String(200), primary_key=True),
    sa.Column("queue", sa.String(400), primary_key=True),
    sa.Column("format", sa.Integer, nullable=False),
    sa.Column("settings", sa.String(16), nullable=False),
    sa.Column("last_hour", TS, nullable=False),
    sa.Column(
        "state",
        sa.LargeBinary().with_variant(mysql.LONGBLOB(), "mysql", "mariadb"),
        nullable=False,
    ),
    sa.Column("saved_at", TS, nullable=False),
)
"""Each queue's forecast engine state (forecasts.codec), so a restart resumes it."""

resourcing_state = sa.Table(
    "resourcing_state",
    metadata,
    sa.Column("source", sa.String(200), primary_key=True),
    sa.Column("queue", sa.String(400), primary_key=True),
    sa.Column("state", sa.JSON, nullable=False),
    sa.Column("updated_at", TS, nullable=False),
)
"""Per queue: the stabiliser's state and the latest recommendation."""

# -- revision 0008 ---------------------------------------------------------------------

leases = sa.Table(
    "leases",
    metadata,
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("holder", sa.String(200), nullable=False),
    sa.Column("generation", sa.BigInteger, nullable=False),
    sa.Column("acquired_at", TS, nullable=False),
    sa.Column("expires_at", TS, nullable=False),
)
"""The leader lease of replicas sharing a PostgreSQL store (monitor/lease.py decides)."""

# -- revision 0009 ---------------------------------------------------------------------

mirror_tickets = sa.Table(
    "mirror_tickets",
    metadata,
    sa.Column("source", sa.String(200), primary_key=True),
    sa.Column("ticket_id", sa.String(200), primary_key=True),
    sa.Column("queue", sa.String(400), nullable=False),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("modified_at", TS, nullable=False),
)
"""The open tickets of a hosted source as its changed-since feed last said
(collectors/hosted/mirror.py)."""

mirror_state = sa.Table(
    "mirror_state",
    metadata,
    sa.Column("source", sa.String(200), primary_key=True),
    sa.Column("cursor", TS, nullable=True),
    sa.Column("reconciled_at", TS, nullable=True),
    sa.Column("drift", sa.JSON, nullable=True),
    sa.Column("build_position", sa.JSON, nullable=True),
)
"""Per mirrored source: how far the feed was read, and the last reconciliation's drift;
the row of an unfinished build (``source`` + ``\\x1fbuild``): where it resumes
(``cursor``, and ``build_position`` for stores that page by position; revision 0011)."""
