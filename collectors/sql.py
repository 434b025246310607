"""The generic SQL collector: aggregates a help desk's ticket table in the database, per queue.

Every figure is computed by the database (GROUP BY with bound parameters); ticket
rows never travel to Python. Cut-off instants (``now - 7d``, the window bounds) are
computed here and bound, so the predicates stay index-friendly and dialect-neutral.
It runs on SQLite, PostgreSQL and MariaDB/MySQL. The mapping (``collectors.sqlmap``)
says where the facts are; presets (``collectors.presets``) fill it for known help desks.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any, ClassVar, Literal
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from collectors.base import AGE_BUCKETS, QueueStats, Snapshot, Window
from collectors.sqlmap import SqlMapping
from collectors.sqlqueries import QUANTILES, PollQueries
from collectors.sqlsession import open_engine, translate_db_error
from config.durations import Duration
from config.secrets import resolve_secret

__all__ = ["SqlCollector", "SqlMapping", "SqlSourceConfig"]

SLA_KINDS = (("first_response", "fr"), ("resolution", "res"))


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
    session_time_zone: str | None = Field(
        None, description="session time zone to set (GLPI's TIMESTAMP columns), e.g. +00:00"
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
    """Reads per-queue backlog, throughput, aging and SLA state from one SQL ticket store."""

    kind: ClassVar[str] = "sql"
    config_model: ClassVar[type[BaseModel]] = SqlSourceConfig

    def __init__(self, config: SqlSourceConfig, engine: sa.Engine | None = None) -> None:
        self.config = config
        self._engine = engine
        self._zone: tzinfo = ZoneInfo(config.mapping.timezone)
        self._queries = PollQueries(config.mapping, self._bind)

    @property
    def name(self) -> str:
        return self.config.name

    def collect(self, window: Window) -> Snapshot:
        engine = self._connect()
        q = self._queries
        with translate_db_error(self.name), engine.connect() as conn:
            backlog = conn.execute(q.backlog(window.end)).all()
            created = conn.execute(q.created(window)).all()
            resolved = (
                conn.execute(q.resolved(window)).all() if self.config.mapping.resolved_at else None
            )
            quantiles = conn.execute(q.quantiles(engine.dialect.name)).all()
            breaches_query = q.sla_breaches(window)
            breaches = conn.execute(breaches_query).all() if breaches_query is not None else None
            reopened_query = q.reopened(window)
            reopened = conn.execute(reopened_query).all() if reopened_query is not None else None
        return Snapshot(
            source=self.name,
            window=window,
            queues=tuple(
                _Assembly(self, window.end).build(
                    backlog, created, resolved, quantiles, breaches, reopened
                )
            ),
        )

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()

    def _connect(self) -> sa.Engine:
        if self._engine is None:
            self._engine = open_engine(
                self.config.database_url(), self.config.timeout, self.config.session_time_zone
            )
        return self._engine

    def _bind(self, field: str, instant: datetime) -> Any:
        """An aware instant as the store holds ``field``: epoch seconds or naive local time.

        SQLite compares DATETIME columns as text. ``str()`` drops ``.000000`` on whole
        seconds, so the bound orders right both against SQLite's own
        ``YYYY-MM-DD HH:MM:SS`` text and against SQLAlchemy's ``...HH:MM:SS.ffffff``
        (SQLAlchemy's binding always adds ``.000000``, which puts a ticket stored as
        ``12:00:00`` before a ``12:00:00`` bound).
        """
        if field in self.config.mapping.epoch_fields:
            return int(instant.timestamp())
        naive = instant.astimezone(self._zone).replace(tzinfo=None)
        if self._engine is not None and self._engine.dialect.name == "sqlite":
            return sa.literal(str(naive), sa.String())
        return naive

    def from_store(self, value: Any, field: str = "created_at") -> datetime | None:
        """A stored instant as an aware UTC datetime (None for NULL and sentinels)."""
        if value is None:
            return None
        if field in self.config.mapping.epoch_fields:
            return datetime.fromtimestamp(float(value), UTC) if float(value) > 0 else None
        if isinstance(value, str):  # SQLite aggregates lose the column type
            value = datetime.fromisoformat(value)
        if not isinstance(value, datetime):
            return None
        aware: datetime = value if value.tzinfo else value.replace(tzinfo=self._zone)
        return aware.astimezone(UTC)


class _Assembly:
    """Turns the rows of one poll into :class:`QueueStats` (pure)."""

    def __init__(self, collector: SqlCollector, now: datetime) -> None:
        self.c = collector
        self.now = now
        mapping = collector.config.mapping
        self.has_assignee = mapping.assignee is not None
        self.sla = [
            (kind, short)
            for kind, short in SLA_KINDS
            if getattr(mapping, f"{kind}_due_at") is not None
        ]

    def build(
        self,
        backlog: Sequence[sa.Row[Any]],
        created: Sequence[sa.Row[Any]],
        resolved: Sequence[sa.Row[Any]] | None,
        quantiles: Sequence[sa.Row[Any]],
        breaches: Sequence[sa.Row[Any]] | None,
        reopened: Sequence[sa.Row[Any]] | None,
    ) -> list[QueueStats]:
        open_ = self._open(backlog)
        created_n = {_label(r.queue): int(r.n) for r in created}
        done = {_label(r.queue): r for r in resolved} if resolved is not None else {}
        ages = {_label(r.queue): self._ages(r) for r in quantiles}
        missed = {_label(r.queue): r for r in breaches} if breaches is not None else {}
        reopen_n = {_label(r.queue): int(r.n) for r in reopened} if reopened is not None else {}
        queues = sorted(set(open_) | set(created_n) | set(done))
        return [
            self._queue(
                q,
                open_.get(q),
                created_n,
                done,
                resolved is not None,
                ages,
                missed,
                breaches is not None,
                reopen_n,
                reopened is not None,
            )
            for q in queues
        ]

    def _queue(
        self,
        q: str,
        figures: dict[str, Any] | None,
        created_n: dict[str, int],
        done: dict[str, sa.Row[Any]],
        knows_resolved: bool,
        ages: dict[str, dict[str, float]],
        missed: dict[str, sa.Row[Any]],
        knows_breaches: bool,
        reopen_n: dict[str, int],
        knows_reopened: bool,
    ) -> QueueStats:
        f = figures or self._empty()
        row = done.get(q)
        return QueueStats(
            queue=q,
            open_by_status_priority=f["by"],
            created=created_n.get(q, 0),
            resolved=(int(row.n) if row is not None else 0) if knows_resolved else None,
            oldest_age_s=self._age(f["oldest"]),
            older_than=f["older"],
            age_quantiles=ages.get(q) if f["by"] else None,
            sla_breached_open={k: f[f"{s}_breached"] for k, s in self.sla} if self.sla else None,
            sla_at_risk={k: f[f"{s}_at_risk"] for k, s in self.sla} if self.sla else None,
            unassigned=f["unassigned"] if self.has_assignee else None,
            sla_breached_window=self._missed(missed.get(q)) if knows_breaches else None,
            avg_first_response_s=_float(getattr(row, "avg_first_response_s", None)),
            avg_resolution_s=_float(getattr(row, "avg_resolution_s", None)),
            reopened=reopen_n.get(q, 0) if knows_reopened else None,
        )

    def _empty(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "by": {},
            "oldest": None,
            "older": {k: 0 for k, _ in AGE_BUCKETS},
            "unassigned": 0,
        }
        for _, short in self.sla:
            out[f"{short}_breached"] = out[f"{short}_at_risk"] = 0
        return out

    def _open(self, backlog: Sequence[sa.Row[Any]]) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = defaultdict(self._empty)
        for row in backlog:
            f = out[_label(row.queue)]
            key = (_label(row.status), _label(row.priority))
            f["by"][key] = f["by"].get(key, 0) + int(row.n)
            first = self.c.from_store(row.oldest)
            if first is not None and (f["oldest"] is None or first < f["oldest"]):
                f["oldest"] = first
            for name, _ in AGE_BUCKETS:
                f["older"][name] += int(getattr(row, f"gt_{name}") or 0)
            if self.has_assignee:
                f["unassigned"] += int(row.unassigned or 0)
            for _, short in self.sla:
                f[f"{short}_breached"] += int(getattr(row, f"{short}_breached") or 0)
                f[f"{short}_at_risk"] += int(getattr(row, f"{short}_at_risk") or 0)
        return out

    def _age(self, created: datetime | None) -> float | None:
        return None if created is None else max(0.0, (self.now - created).total_seconds())

    def _ages(self, row: sa.Row[Any]) -> dict[str, float]:
        out = {}
        for label, p in QUANTILES:
            age = self._age(self.c.from_store(getattr(row, f"q{p}")))
            if age is not None:
                out[label] = age
        return out

    def _missed(self, row: sa.Row[Any] | None) -> dict[str, int]:
        return {
            kind: int(getattr(row, f"{short}_breached_window", 0) or 0) if row is not None else 0
            for kind, short in self.sla
        }


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _label(value: Any) -> str:
    """Render a dimension value as a metric label (None becomes an empty string)."""
    return "" if value is None else str(value)
