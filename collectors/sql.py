"""The generic SQL collector: aggregates a help desk's ticket table in the database, per queue.

Every figure is computed by the database (GROUP BY with bound parameters); ticket
rows never travel to Python. Cut-off instants (``now - 7d``, the window bounds) are
computed here and bound, so the predicates stay index-friendly and dialect-neutral.
It runs on SQLite, PostgreSQL and MariaDB/MySQL. The mapping (``collectors.sqlmap``)
says where the facts are; presets (``collectors.presets``) fill it for known help desks.

The core figures never depend on an optional one: when a statement fails on the mapping
or a missing grant, each optional field is probed on its own (``collectors.sqlfigures``),
those the database rejects are left out (their figures absent, never 0) and the poll is
read again. A lost connection or a timeout still fails the whole poll (an outage).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any, ClassVar, Literal
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)
from sqlalchemy import exc

from collectors.base import (
    TOTAL_QUEUE,
    HourFigures,
    QueueStats,
    Snapshot,
    Window,
    reserved_queue_message,
)
from collectors.sqlassembly import Assembly, PollRows
from collectors.sqlfigures import Availability
from collectors.sqlhourly import HOUR, Carry, carry_on, hourly_statement
from collectors.sqllookups import AgeLookups, looked_up
from collectors.sqlmap import SqlMapping
from collectors.sqlqueries import PollQueries
from collectors.sqlreport import ReportFigures, read_first_assignment, read_report
from collectors.sqlresolved import Resolved, ResolvedOnce, once
from collectors.sqlsession import classify, open_engine, translate_db_error
from collectors.sqlworkload import WorkloadQueries
from collectors.workload import Routing, WorkloadConfig, workload_fallbacks, workload_problem
from collectors.workloadread import Arrivals, read_workload
from collectors.zones import offset_seconds
from config.durations import Duration
from config.secrets import resolve_secret
from monitor.errors import MappingError, ReservedQueueName

__all__ = ["SqlCollector", "SqlMapping", "SqlSourceConfig"]


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
    workload: WorkloadConfig | None = Field(
        None, description="agent load, stale/waiting tickets, routing quality, categories"
    )

    @field_validator("workload")
    @classmethod
    def _workload_fits_mapping(
        cls, value: WorkloadConfig | None, info: ValidationInfo
    ) -> WorkloadConfig | None:
        mapping = info.data.get("mapping")
        if value is not None and isinstance(mapping, SqlMapping):
            problem = workload_problem(value, mapping)
            if problem is not None:
                raise ValueError(problem)
        return value

    @model_validator(mode="after")
    def _url_given(self) -> SqlSourceConfig:
        url = resolve_secret(self.url, self.url_file, "url", required=True)
        object.__setattr__(self, "url", url)
        object.__setattr__(self, "url_file", None)
        return self

    def records_first_assignment(self) -> bool:
        """Whether a poll gives the time to first assignment: a workload section and a
        ``first_assigned_at`` in the mapping (a routing rule on it is checked against it)."""
        return self.workload is not None and self.mapping.first_assigned_at is not None

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
        self._utc = config.mapping.timezone in ("UTC", "Etc/UTC")
        """Naive instants are UTC: ``from_store`` attaches ``UTC``, no conversion (the
        per-agent rows of a large desk call it tens of thousands of times a poll)."""
        self._epoch = frozenset(config.mapping.epoch_fields)
        self._queries = PollQueries(config.mapping, self._bind)
        self.figures = Availability(config.mapping)
        self._overlap = config.mapping.queues_overlap()
        self._lookups = AgeLookups()
        self._carry: dict[bool, tuple[datetime, Carry]] = {}
        """Per statement kind (total or not): where the last span read ended, and the
        backlog per queue then (the next chunk of a backfill starts from it)."""

    @property
    def name(self) -> str:
        return self.config.name

    def collect(self, window: Window) -> Snapshot:
        engine = self._connect()
        with translate_db_error(self.name), engine.connect() as conn:
            return self._collect(conn, window, None)[0]

    def collect_report(self, window: Window, aged_limit: int) -> tuple[Snapshot, ReportFigures]:
        """A poll over the period (:meth:`collect`) and the report's figures
        (:meth:`report`) on one connection. Where the engine allows
        (``collectors.sqlresolved``), the period's resolved tickets are read once for the
        poll's resolved counts and durations, the workload section's routing, the
        resolution quantiles and the SLA attainment, instead of once for each; and the
        poll's backlog rows tell the aged list where to look (``sqlreport.aged_groups``);
        the period's arrivals are read once for the poll's created counts and the workload
        section's categories of the arrivals (:meth:`_arrivals_once`)."""
        engine = self._connect()
        with translate_db_error(self.name), engine.connect() as conn:
            resolved = self._resolved_once(conn, window)
            arrivals = self._arrivals_once(conn, window)
            snapshot, rows = self._collect(conn, window, resolved, arrivals)
            live = None if window.historical else rows.backlog  # open now, as the aged list
            return snapshot, self._report(conn, window, aged_limit, resolved, live)

    def _resolved_once(self, conn: sa.Connection, window: Window) -> Resolved | None:
        """The one read of the period's resolved tickets, or None where the report keeps
        separate statements (SQLite, overlapping queues, a past instant, no resolution
        time, or a field of it the database rejects: the separate statements then
        degrade as a poll does; and a workload section with ``first_assigned_at``,
        whose routing waits the one statement does not read)."""
        mapping = self.config.mapping
        if self._overlap or window.historical or not once(conn.dialect.name):
            return None
        if self.config.records_first_assignment():
            return None
        self.figures.recheck(conn, self.name, window.end)
        queries = PollQueries(mapping, self._bind, self.figures.skip())
        if not queries.f.has("resolved_at") or not queries.f.has("created_at"):
            return None
        workload = self.config.workload
        wq = None if workload is None else WorkloadQueries(mapping, workload, self._bind)
        try:
            return ResolvedOnce(queries, wq, window).read(conn)
        except exc.DBAPIError as err:
            if err.connection_invalidated or not isinstance(classify(self.name, err), MappingError):
                raise
            conn.rollback()
            return None

    def _arrivals_once(self, conn: sa.Connection, window: Window) -> Arrivals | None:
        """The period's arrivals per (queue, category), the workload section's statement,
        whose counts summed per queue are the poll's created counts: one read of them
        instead of two (each a scan of the ticket table where no index holds the
        category). None where the report reads them apart: no categories in the workload
        section, overlapping queues, a past instant, a category join the created
        statement does not make (or lacks: the joins must be the same, so the same rows
        are counted), or a category the database rejects."""
        config = self.config.workload
        if config is None or self._overlap or window.historical:
            return None
        mapping = self.config.mapping
        wq = WorkloadQueries(mapping, config, self._bind)
        statement = wq.categories(window)
        if statement is None:
            return None
        self.figures.recheck(conn, self.name, window.end)
        joins = tuple(j.alias for j in wq.q.joins(["queue", "category", "created_at"]))
        if joins != tuple(
            j.alias for j in PollQueries(mapping, self._bind, self.figures.skip()).joins()
        ):
            return None
        try:
            return Arrivals(conn.execute(statement).all(), joins)
        except exc.DBAPIError as err:
            if err.connection_invalidated or not isinstance(classify(self.name, err), MappingError):
                raise
            conn.rollback()
            return None

    def _collect(
        self,
        conn: sa.Connection,
        window: Window,
        resolved: Resolved | None,
        arrivals: Arrivals | None = None,
    ) -> tuple[Snapshot, PollRows]:
        """The snapshot, and the per-queue statements' rows it was assembled from."""
        self.figures.recheck(conn, self.name, window.end)
        queries, rows, total_rows = self._read(conn, window, resolved, arrivals)
        assembly = Assembly(queries.f, window.end, self.from_store)
        queues = tuple(assembly.queues(rows))
        routing = None if resolved is None else resolved.routing
        queues = self._with_workload(conn, window, queues, routing, arrivals)
        snapshot = Snapshot(
            source=self.name,
            window=window,
            # as of a past instant, statuses and queues are today's (no history read)
            exactness="approximate" if window.historical else "exact",
            queues=queues,
            # queues that overlap (a ticket in several) have statements of their own
            total=assembly.total(total_rows if total_rows is not None else rows),
            figures=self.figures.states(),
        )
        return snapshot, rows

    def _read(
        self,
        conn: sa.Connection,
        window: Window,
        resolved: Resolved | None = None,
        arrivals: Arrivals | None = None,
    ) -> tuple[PollQueries, PollRows, PollRows | None]:
        """Run the poll's statements, leaving out each optional field the database rejects."""
        while True:
            skip = self.figures.skip()
            past = window.end if window.historical else None
            queries = PollQueries(self.config.mapping, self._bind, skip, as_of=past)
            try:
                rows = self._run(conn, queries, window, not self._overlap, resolved, arrivals)
                if not self._overlap:
                    return queries, rows, None
                total = PollQueries(self.config.mapping, self._bind, skip, total=True, as_of=past)
                return queries, rows, self._run(conn, total, window, with_total=False)
            except exc.DBAPIError as err:
                if err.connection_invalidated or not isinstance(
                    classify(self.name, err), MappingError
                ):
                    raise
                conn.rollback()
                if not self.figures.degrade(conn, self.name, window.end):
                    raise  # no optional field is at fault: the core mapping is

    def _with_workload(
        self,
        conn: sa.Connection,
        window: Window,
        queues: tuple[QueueStats, ...],
        routing: dict[Any, Routing] | None = None,
        arrivals: Arrivals | None = None,
    ) -> tuple[QueueStats, ...]:
        """The queues with their workload figures (when the source asks for them);
        ``routing`` and ``arrivals``: the routing figures and the arrivals' categories
        already read with the mapping as configured."""
        config = self.config.workload
        if config is None:
            return queues
        figures, names = None, [q.queue for q in queues]
        for mapping in workload_fallbacks(self.config.mapping):
            wq = WorkloadQueries(mapping, config, self._bind)
            try:
                mine = mapping is self.config.mapping
                figures = read_workload(
                    conn,
                    wq,
                    window,
                    self.from_store,
                    names,
                    cache=self._lookups,
                    routing=routing if mine else None,
                    arrivals=arrivals.rows if mine and arrivals is not None else None,
                )
                break
            except exc.DBAPIError as err:
                if err.connection_invalidated or not isinstance(
                    classify(self.name, err), MappingError
                ):
                    raise
                conn.rollback()  # a table of a workload field is missing or not readable
        if figures is None:
            return queues
        known = {q.queue for q in queues}
        extra = [QueueStats.empty(q) for q in figures if q not in known]
        return tuple(replace(q, workload=figures.get(q.queue)) for q in (*queues, *extra))

    def report(self, window: Window, aged_limit: int) -> ReportFigures:
        """The weekly report's figures beyond a poll: resolution-time quantiles, SLA
        attainment, the ``aged_limit`` oldest open tickets and the time to first
        assignment's quantiles (absent when its table cannot be read)."""
        engine = self._connect()
        with translate_db_error(self.name), engine.connect() as conn:
            return self._report(conn, window, aged_limit, None)

    def _report(
        self,
        conn: sa.Connection,
        window: Window,
        aged_limit: int,
        resolved: Resolved | None,
        backlog: Sequence[Any] | None = None,
    ) -> ReportFigures:
        mapping = self.config.mapping
        per_queue = PollQueries(mapping, self._bind)
        total = PollQueries(mapping, self._bind, total=True)
        figures = read_report(
            conn,
            per_queue,
            total,
            window,
            aged_limit,
            self.from_store,
            overlap=self._overlap,
            resolved=resolved,
            backlog=backlog,
        )
        try:
            first = read_first_assignment(conn, per_queue, total, window, self._overlap)
        except exc.DBAPIError as err:
            if err.connection_invalidated or not isinstance(classify(self.name, err), MappingError):
                raise
            conn.rollback()  # the history table it reads is missing or not readable
            first = None
        return replace(figures, first_assignment=first)

    def _run(
        self,
        conn: sa.Connection,
        q: PollQueries,
        window: Window,
        with_total: bool,
        resolved: Resolved | None = None,
        arrivals: Arrivals | None = None,
    ) -> PollRows:
        dialect = conn.dialect.name
        breaches, reopened = q.sla_breaches(window), q.reopened(window)
        backlog = conn.execute(q.backlog(window.end)).all()
        quantiles: Sequence[Any]
        if looked_up(dialect) and not q.past:  # MariaDB/MySQL: index lookups, not windows
            quantiles = self._lookups.rows(conn, q, backlog, with_total)
        else:
            quantiles = conn.execute(q.quantiles(dialect, with_total)).all()
        return PollRows(
            backlog=backlog,
            created=self._created_rows(conn, q, window, arrivals),
            resolved=self._resolved_rows(conn, q, window, resolved),
            quantiles=quantiles,
            breaches=conn.execute(breaches).all() if breaches is not None else None,
            reopened=conn.execute(reopened).all() if reopened is not None else None,
        )

    def _created_rows(
        self, conn: sa.Connection, q: PollQueries, window: Window, arrivals: Arrivals | None
    ) -> Sequence[Any]:
        """The poll's created counts per queue: the arrivals' categories summed per queue
        when read already through the same joins, or their own statement."""
        if arrivals is None or q.total or tuple(j.alias for j in q.joins()) != arrivals.joins:
            return conn.execute(q.created(window)).all()
        return arrivals.created()

    def _resolved_rows(
        self, conn: sa.Connection, q: PollQueries, window: Window, resolved: Resolved | None
    ) -> Sequence[Any] | None:
        """The poll's resolved counts and durations per queue: read already with the
        report's (``resolved``), or by their own statement."""
        if not q.f.has("resolved_at"):
            return None
        if resolved is not None and not q.total:
            return resolved.poll
        return conn.execute(q.resolved(window)).all()

    def hourly(self, start: datetime, end: datetime) -> list[HourFigures]:
        """Each hour of ``[start, end)`` per queue and for the total, reconstructed in the
        database (``collectors.sqlhourly``): one statement per span of hours with a
        constant UTC offset (two per span when queues overlap: the total has its own)."""
        mapping = self.config.mapping
        epoch = set(mapping.epoch_fields)
        if mapping.resolved_at is None:
            raise MappingError(f"{self.name}: backfill needs resolved_at in the mapping")
        if ("created_at" in epoch) != ("resolved_at" in epoch):
            raise MappingError(
                f"{self.name}: backfill needs created_at and resolved_at stored alike"
                " (both in epoch_fields or neither)"
            )
        engine = self._connect()
        out: list[HourFigures] = []
        with translate_db_error(self.name), engine.connect() as conn:
            _without_jit(conn)
            for span_start, hours in self._spans(start, end, "created_at" in epoch):
                figures = self._hours(conn, PollQueries(mapping, self._bind), span_start, hours)
                if any(f.queue == TOTAL_QUEUE for f in figures):
                    raise ReservedQueueName(reserved_queue_message(self.name))
                if self._overlap:
                    total = PollQueries(mapping, self._bind, total=True)
                    figures += self._hours(conn, total, span_start, hours)
                else:
                    figures += _totals(figures)
                out += figures
        return out

    def _hours(
        self, conn: sa.Connection, q: PollQueries, start: datetime, hours: int
    ) -> list[HourFigures]:
        """One span's figures; when the span follows the last one read (the next chunk of
        a backfill), from the backlog carried from it, without reading what precedes."""
        until, carry = self._carry.get(q.total, (None, None))
        if until != start:
            carry = None
        statement = hourly_statement(q, conn.dialect.name, start, hours, carry is not None)
        figures, after = carry_on(conn.execute(statement).all(), start, hours, carry)
        self._carry[q.total] = (start + hours * HOUR, after)
        return figures

    def _spans(self, start: datetime, end: datetime, epoch: bool) -> list[tuple[datetime, int]]:
        """``[start, end)`` cut where the zone's UTC offset changes: (span start, hours).
        An hour across a change is a span of its own (its local length is not an hour)."""
        spans: list[tuple[datetime, int]] = []

        def offset(instant: datetime) -> int:
            return 0 if epoch else offset_seconds(self._zone, instant)  # type: ignore[arg-type]

        hour = start
        while hour < end:
            first, same = hour, offset(hour)
            hour += HOUR
            if offset(hour) == same:
                while hour < end and offset(hour + HOUR) == same:
                    hour += HOUR
            spans.append((first, int((hour - first) / HOUR)))
        return spans

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
        if field in self._epoch:
            return datetime.fromtimestamp(float(value), UTC) if float(value) > 0 else None
        if self._utc and type(value) is datetime and value.tzinfo is None:
            return value.replace(tzinfo=UTC)  # the common case, as below without a zone
        if isinstance(value, str):  # SQLite aggregates lose the column type
            value = datetime.fromisoformat(value)
        if not isinstance(value, datetime):
            return None
        aware: datetime = value if value.tzinfo else value.replace(tzinfo=self._zone)
        return aware.astimezone(UTC)


def _without_jit(conn: sa.Connection) -> None:
    """PostgreSQL 11+: no JIT compilation for this transaction's statements. The hourly
    statement's estimates (a group per ticket) exceed ``jit_above_cost``, and compiling
    it took 2.4 s of a 7.9 s chunk on 1M tickets, for a plan that runs in milliseconds
    per row; ``SET LOCAL`` ends with the read's transaction."""
    version = conn.dialect.server_version_info or (0,)
    if conn.dialect.name == "postgresql" and version >= (11,):
        conn.exec_driver_sql("SET LOCAL jit = off")


def _totals(figures: list[HourFigures]) -> list[HourFigures]:
    """The source's total per hour when every ticket is in one queue: the queues' sums."""
    sums: dict[datetime, list[int]] = {}
    for f in figures:
        acc = sums.setdefault(f.hour, [0, 0, 0])
        acc[0] += f.open_end
        acc[1] += f.created
        acc[2] += f.resolved
    return [HourFigures(TOTAL_QUEUE, hour, *acc) for hour, acc in sorted(sums.items())]
