"""The generic SQL collector: aggregates a ticket table in the database, per queue.

Every figure is computed by the database (GROUP BY with bound parameters); ticket
rows never travel to Python. Cut-off instants (``now - 7d``, the window bounds) are
computed here and bound, so the predicates stay index-friendly and dialect-neutral.
It runs on SQLite, PostgreSQL and MariaDB/MySQL.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any, ClassVar, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from collectors.base import AGE_BUCKETS, QueueStats, Snapshot, Window
from collectors.sqlsession import open_engine, translate_db_error
from config.durations import Duration
from config.secrets import resolve_secret


class SqlMapping(BaseModel):
    """Where the ticket facts live in the store's schema.

    Each field names a column of ``table``. ``open_statuses`` lists the status values
    that count as open; ``open_sql`` is a raw SQL predicate instead (for schemas whose
    open state needs more than one column).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    table: str = Field(description="ticket table, optionally schema-qualified (schema.table)")
    id: str = "id"
    queue: str
    status: str
    priority: str | None = None
    created_at: str
    resolved_at: str | None = None
    open_statuses: tuple[str | int, ...] | None = None
    open_sql: str | None = None
    timezone: str = Field("UTC", description="time zone of naive DATETIME columns")

    @model_validator(mode="after")
    def _one_open_predicate(self) -> SqlMapping:
        if (self.open_statuses is None) == (self.open_sql is None):
            raise ValueError("give exactly one of open_statuses and open_sql")
        if self.open_statuses is not None and not self.open_statuses:
            raise ValueError("open_statuses must list at least one status")
        return self

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value


class SqlSourceConfig(BaseModel):
    """A ticket store reached through SQLAlchemy (``kind: sql``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["sql"]
    name: str = Field(pattern=r"^[A-Za-z0-9_.:-]+$")
    url: SecretStr | None = Field(None, description="SQLAlchemy URL, e.g. postgresql+psycopg://")
    url_file: Path | None = None
    interval: Duration = timedelta(seconds=60)
    timeout: Duration = timedelta(seconds=30)
    first_window: Duration = Field(
        timedelta(hours=1), description="how far back the very first poll counts throughput"
    )
    mapping: SqlMapping

    @model_validator(mode="after")
    def _url_given(self) -> SqlSourceConfig:
        url = resolve_secret(self.url, self.url_file, "url", required=True)
        object.__setattr__(self, "url", url)
        object.__setattr__(self, "url_file", None)
        return self

    def database_url(self) -> str:
        """The connection URL (a secret: never log it)."""
        assert self.url is not None  # guaranteed by the validator
        return self.url.get_secret_value()


class SqlCollector:
    """Reads per-queue backlog, throughput and aging from one SQL ticket store."""

    kind: ClassVar[str] = "sql"
    config_model: ClassVar[type[BaseModel]] = SqlSourceConfig

    def __init__(self, config: SqlSourceConfig, engine: sa.Engine | None = None) -> None:
        self.config = config
        self._engine = engine
        self._zone: tzinfo = ZoneInfo(config.mapping.timezone)
        self._tickets = _Tickets(config.mapping)

    @property
    def name(self) -> str:
        return self.config.name

    def collect(self, window: Window) -> Snapshot:
        engine = self._connect()
        with translate_db_error(self.name), engine.connect() as conn:
            backlog = conn.execute(self._backlog_query(window.end)).all()
            created = conn.execute(self._count_query("created_at", window)).all()
            resolved = (
                conn.execute(self._count_query("resolved_at", window)).all()
                if self.config.mapping.resolved_at
                else None
            )
        return Snapshot(
            source=self.name,
            window=window,
            queues=tuple(self._assemble(window.end, backlog, created, resolved)),
        )

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()

    # -- queries ---------------------------------------------------------------------

    def _connect(self) -> sa.Engine:
        if self._engine is None:
            self._engine = open_engine(self.config.database_url(), self.config.timeout)
        return self._engine

    def _open_predicate(self) -> sa.ColumnElement[bool]:
        mapping = self.config.mapping
        if mapping.open_sql is not None:
            return sa.text(f"({mapping.open_sql})")  # type: ignore[return-value]
        assert mapping.open_statuses is not None
        return self._tickets.c["status"].in_(mapping.open_statuses)

    def _backlog_query(self, now: datetime) -> sa.Select[Any]:
        c = self._tickets.c
        created_at = c["created_at"]
        bucket_columns = [
            sa.func.sum(
                sa.case((created_at < self._bind(now - timedelta(days=d)), 1), else_=0)
            ).label(f"gt_{name}")
            for name, d in AGE_BUCKETS
        ]
        dimensions = [c["queue"], c["status"]] + ([c["priority"]] if "priority" in c else [])
        priority = c["priority"] if "priority" in c else sa.literal("")
        return (
            sa.select(
                c["queue"].label("queue"),
                c["status"].label("status"),
                priority.label("priority"),
                sa.func.count().label("n"),
                sa.func.min(created_at).label("oldest"),
                *bucket_columns,
            )
            .select_from(self._tickets.table)
            .where(self._open_predicate())
            .group_by(*dimensions)
        )

    def _count_query(self, column: str, window: Window) -> sa.Select[Any]:
        queue, instant = self._tickets.c["queue"], self._tickets.c[column]
        return (
            sa.select(queue.label("queue"), sa.func.count().label("n"))
            .select_from(self._tickets.table)
            .where(instant >= self._bind(window.start), instant < self._bind(window.end))
            .group_by(queue)
        )

    def _bind(self, instant: datetime) -> datetime:
        """Convert an aware instant to the store's naive local time."""
        return instant.astimezone(self._zone).replace(tzinfo=None)

    def _from_store(self, value: Any) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # SQLite aggregates lose the column type
            value = datetime.fromisoformat(value)
        if not isinstance(value, datetime):
            return None
        aware: datetime = value if value.tzinfo else value.replace(tzinfo=self._zone)
        return aware.astimezone(UTC)

    # -- assembly (pure) -------------------------------------------------------------

    def _assemble(
        self,
        now: datetime,
        backlog: Sequence[sa.Row[Any]],
        created: Sequence[sa.Row[Any]],
        resolved: Sequence[sa.Row[Any]] | None,
    ) -> list[QueueStats]:
        by_status: dict[str, dict[tuple[str, str], int]] = defaultdict(dict)
        oldest: dict[str, datetime] = {}
        buckets: dict[str, dict[str, int]] = defaultdict(lambda: {k: 0 for k, _ in AGE_BUCKETS})
        for row in backlog:
            queue = _label(row.queue)
            key = (_label(row.status), _label(row.priority))
            by_status[queue][key] = by_status[queue].get(key, 0) + int(row.n)
            first = self._from_store(row.oldest)
            if first is not None and (queue not in oldest or first < oldest[queue]):
                oldest[queue] = first
            for name, _ in AGE_BUCKETS:
                buckets[queue][name] += int(getattr(row, f"gt_{name}") or 0)
        created_n = {_label(r.queue): int(r.n) for r in created}
        resolved_n = {_label(r.queue): int(r.n) for r in resolved} if resolved is not None else {}
        queues = sorted(set(by_status) | set(created_n) | set(resolved_n))
        return [
            QueueStats(
                queue=q,
                open_by_status_priority=by_status.get(q, {}),
                created=created_n.get(q, 0),
                resolved=resolved_n.get(q, 0) if resolved is not None else None,
                oldest_age_s=max(0.0, (now - oldest[q]).total_seconds()) if q in oldest else None,
                older_than=buckets[q] if q in buckets else {k: 0 for k, _ in AGE_BUCKETS},
            )
            for q in queues
        ]


class _Tickets:
    """The mapped columns of the ticket table, addressed by their role."""

    def __init__(self, mapping: SqlMapping) -> None:
        schema, _, name = mapping.table.rpartition(".")
        roles: dict[str, tuple[str | None, sa.types.TypeEngine[Any] | None]] = {
            "id": (mapping.id, None),
            "queue": (mapping.queue, None),
            "status": (mapping.status, None),
            "priority": (mapping.priority, None),
            "created_at": (mapping.created_at, sa.DateTime()),
            "resolved_at": (mapping.resolved_at, sa.DateTime()),
        }
        columns = {
            role: sa.column(col, type_) for role, (col, type_) in roles.items() if col is not None
        }
        self.table = sa.table(name, *columns.values(), schema=schema or None)
        self.c = columns


def _label(value: Any) -> str:
    """Render a dimension value as a metric label (None becomes an empty string)."""
    return "" if value is None else str(value)
