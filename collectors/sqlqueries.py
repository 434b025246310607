"""The statements of one poll, built from a :class:`SqlMapping` with SQLAlchemy Core.

Everything is aggregated in the database with bound parameters; the cut-off instants
are computed in Python and bound, so predicates stay index-friendly. Durations are
taken with a small construct compiled per dialect (``seconds_between``).

A :class:`PollQueries` is built for a set of fields to leave out (optional fields that
cannot be read: their figures are absent) and, with ``total=True``, for the source's
total: the same statements without the queue grouping and without the joins only the
queue reads (used when a ``fan_out`` join puts a ticket in several queues).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import BindParameter
from sqlalchemy.sql.expression import ColumnElement, FunctionElement
from sqlalchemy.sql.visitors import InternalTraversal

from collectors.base import AGE_BUCKETS, TOTAL_QUEUE, Window
from collectors.sqlmap import AS_OF_PARAM, DIMENSION_FIELDS, TIME_FIELDS, Join, SqlMapping
from collectors.zones import Transition, transitions

QUANTILES: tuple[tuple[str, int], ...] = (("0.5", 50), ("0.9", 90), ("0.99", 99))
"""Open-ticket age quantiles, as (label, percent)."""

ZONE_YEARS = 10
"""How many years of a zone's offset changes durations are corrected for."""


class seconds_between(FunctionElement[float]):  # noqa: N801 - reads like the SQL function
    """``later - earlier`` in seconds, for DATETIME operands, on every dialect."""

    type = sa.Float()
    inherit_cache = True


@compiles(seconds_between, "postgresql")
def _pg_seconds(element: seconds_between, compiler: Any, **kw: Any) -> str:
    later, earlier = (compiler.process(c, **kw) for c in element.clauses)
    return f"EXTRACT(EPOCH FROM ({later} - {earlier}))"


@compiles(seconds_between, "mysql")
@compiles(seconds_between, "mariadb")
def _mysql_seconds(element: seconds_between, compiler: Any, **kw: Any) -> str:
    later, earlier = (compiler.process(c, **kw) for c in element.clauses)
    return f"TIMESTAMPDIFF(SECOND, {earlier}, {later})"


@compiles(seconds_between, "sqlite")
def _sqlite_seconds(element: seconds_between, compiler: Any, **kw: Any) -> str:
    later, earlier = (compiler.process(c, **kw) for c in element.clauses)
    return f"((julianday({later}) - julianday({earlier})) * 86400.0)"


class float_seconds_between(seconds_between):  # noqa: N801 - reads like the SQL function
    """:class:`seconds_between` as a ``double precision`` on PostgreSQL (``date_part``,
    not ``EXTRACT``, which gives ``numeric``), for ordering: the report's
    ``percentile_disc`` sorts the period's durations, and sorting millions of ``numeric``
    values took half again as long (``docs/benchmarks/workload.md``). The same value
    wherever a float holds it (whole seconds exactly; other dialects: the same SQL)."""

    inherit_cache = True


@compiles(float_seconds_between, "postgresql")
def _pg_float_seconds(element: float_seconds_between, compiler: Any, **kw: Any) -> str:
    later, earlier = (compiler.process(c, **kw) for c in element.clauses)
    return f"date_part('epoch', {later} - {earlier})"


PAST_COLUMNS = {"status": "bm_status_as_of", "queue": "bm_queue_as_of"}
"""The columns a ``past_state`` adds to the ticket table ``t`` as of a past instant."""


@dataclass(frozen=True)
class Fields:
    """The mapping's fields as SQL elements over the ticket table ``t`` and its joins."""

    mapping: SqlMapping
    bind: Callable[[str, datetime], Any]
    skip: frozenset[str] = frozenset()
    """Fields treated as not mapped (optional fields that cannot be read)."""
    past: bool = False
    """Status and queue as of a past instant (the mapping's ``past_state``, read into the
    columns :data:`PAST_COLUMNS` of the ticket table's derived table)."""
    computed: tuple[tuple[str, ColumnElement[Any]], ...] = ()
    """Fields read from a derived table's columns (:func:`once`) instead of their
    expressions."""

    def get(self, name: str) -> ColumnElement[Any] | None:
        for field, column in self.computed:
            if field == name:
                return column
        text = None if name in self.skip else self.mapping.expression(name)
        if text is None:
            return None
        past = self.mapping.past_state if self.past and name in PAST_COLUMNS else None
        if past is not None and getattr(past, name) is not None:
            text = f"COALESCE(t.{PAST_COLUMNS[name]}, {text})"
        is_time = name.endswith("_at")
        epoch = name in self.mapping.epoch_fields
        type_: sa.types.TypeEngine[Any] = (
            sa.Integer() if epoch else sa.DateTime() if is_time else sa.String()
        )
        return sa.literal_column(f"({text})" if not _simple(text) else text, type_)

    def require(self, name: str) -> ColumnElement[Any]:
        element = self.get(name)
        assert element is not None, name
        return element

    def has(self, name: str) -> bool:
        return name not in self.skip and getattr(self.mapping, name) is not None

    def before(self, name: str, instant: datetime) -> ColumnElement[bool]:
        condition: ColumnElement[bool] = self.require(name) < self.bind(name, instant)
        return condition

    def within(self, name: str, window: Window) -> ColumnElement[bool]:
        col = self.require(name)
        return sa.and_(col >= self.bind(name, window.start), col < self.bind(name, window.end))

    def duration(
        self, later: str, earlier: str, until: datetime, ordering: bool = False
    ) -> ColumnElement[float]:
        """``later - earlier`` in seconds of elapsed time, for values up to ``until``
        (``ordering``: as a ``double precision`` on PostgreSQL, :class:`float_seconds_between`).

        Naive local DATETIMEs in a zone with summer time are corrected by the difference
        of their UTC offsets (``collectors.zones``): a ticket opened before a change and
        resolved after it is otherwise an hour off. Changes more than
        :data:`ZONE_YEARS` years before ``until`` are not looked at.
        """
        epoch = set(self.mapping.epoch_fields)
        if (later in epoch) != (earlier in epoch):
            # mixed representations (epoch and DATETIME) are not comparable portably
            return sa.cast(sa.null(), sa.Float())
        if later in epoch:
            return sa.cast(self.require(later) - self.require(earlier), sa.Float())
        between = float_seconds_between if ordering else seconds_between
        naive = between(self.require(later), self.require(earlier))
        changes = transitions(self.mapping.timezone, until.year - ZONE_YEARS, until.year)
        if not changes:
            return naive
        return naive - (self._offset(later, changes) - self._offset(earlier, changes))

    def _offset(self, name: str, changes: tuple[Transition, ...]) -> ColumnElement[int]:
        """The UTC offset, in seconds, of the naive local value of time field ``name``."""
        value = self.require(name)
        return sa.case(
            *((value < self.bind(name, c.bound_instant), c.before) for c in changes),
            else_=changes[-1].after,
        )


ONCE_ALIAS = "bm_once"
"""The derived table of :func:`once`."""


def once(fields: Fields, rows: sa.Select[Any], names: Iterable[str]) -> tuple[Fields, sa.Subquery]:
    """``rows`` (one row per ticket: its FROM, WHERE and columns) as a derived table that
    also holds the values of the time fields ``names``, and the fields reading them there.

    A duration in a zone with summer time names each value once per offset change
    (:meth:`Fields.duration`), and the databases evaluate a subquery mapped as a field
    (Znuny's close time, first response, first assignment) at every mention. Read from
    the derived table, each is evaluated once per ticket. ``OFFSET 0`` keeps the derived
    table from being merged into the statement around it (which would put the
    expressions back): PostgreSQL does not pull up a subquery with an OFFSET, SQLite does
    not flatten one, and MariaDB/MySQL materialize a derived table with a LIMIT.
    """
    wanted = list(dict.fromkeys(names))
    labelled = [fields.require(n).label(f"bm_{n}") for n in wanted]
    table = rows.add_columns(*labelled).offset(0).subquery(ONCE_ALIAS)
    computed = tuple((n, table.c[f"bm_{n}"]) for n in wanted)
    return replace(fields, computed=fields.computed + computed), table


def _simple(text: str) -> bool:
    return text.replace(".", "").replace("_", "").isalnum()


class PollQueries:
    """Builds the statements of one poll for one mapping.

    Args:
        mapping: the source's mapping.
        bind: turns an instant into the bound value a time field is compared with.
        skip: fields to treat as not mapped (their figures are absent).
        total: build the source-wide statements (one row group, queue :data:`TOTAL_QUEUE`).
        as_of: measure as of this past instant (see :meth:`open_predicate`); None: open
            means open now (the live poll).
    """

    def __init__(
        self,
        mapping: SqlMapping,
        bind: Callable[[str, datetime], Any],
        skip: frozenset[str] = frozenset(),
        total: bool = False,
        as_of: datetime | None = None,
    ) -> None:
        self.m = mapping
        self.past = as_of is not None and mapping.past_state is not None
        self.f = Fields(mapping, bind, skip | ({"queue"} if total else set()), self.past)
        self.total = total
        self.as_of = as_of

    # -- FROM and WHERE ------------------------------------------------------------------

    def used_fields(self) -> list[str]:
        """The mapped fields these statements read."""
        return [n for n in (*DIMENSION_FIELDS, *TIME_FIELDS) if self.f.has(n)]

    def joins(self, fields: list[str] | None = None) -> list[Join]:
        """The joins the statements (or only ``fields``) need: every inner join (it filters
        tickets) and the left joins referred to; a left join nothing reads is left out.
        The total's statements never join for the queue: a ``fan_out`` queue join (GLPI's
        groups) would count a ticket once per queue in them."""
        names = self.used_fields() if fields is None else fields
        names = [n for n in names if not (self.total and n == "queue")]
        texts = [self.m.expression(n) or "" for n in names]
        texts += [self.m.where or "", self.m.open_sql or self.m.expression("status") or ""]
        texts += [j.on for j in self.m.joins if j.kind == "inner"]
        needed = {j.alias for j in self.m.joins_for(texts)}
        return [j for j in self.m.joins if j.alias in needed or j.kind == "inner"]

    def source(self, fields: list[str] | None = None) -> sa.TextClause:
        if not self.past:
            return source_text(self.m.table, self.joins(fields))
        return self._past_source(fields)

    def _past_source(self, fields: list[str] | None) -> sa.TextClause:
        """The ticket table as a derived table ``t`` with the status and queue as of
        ``as_of`` from the mapping's ``past_state`` (NULL where the history does not
        say). Every other field still reads ``t``'s own columns."""
        past, as_of = self.m.past_state, self.as_of
        assert past is not None and as_of is not None
        wanted = {n: getattr(past, n) for n in PAST_COLUMNS if n not in self.f.skip}
        extra = "".join(
            f", ({text}) AS {PAST_COLUMNS[n]}" for n, text in wanted.items() if text is not None
        )
        # the joins as of the instant (past_state.queue_join), where these statements use them
        used = {j.alias for j in self.joins(fields)}
        joins = [j for j in self.m.joins_as_of() if j.alias in used]
        reads = any(AS_OF_PARAM in f"{j.table} {j.on}" for j in joins)
        if not extra and not reads:  # the total reads no queue, and no past status is mapped
            return source_text(self.m.table, joins)
        derived = f"(SELECT t.*{extra} FROM {self.m.table} t)" if extra else self.m.table
        clause = source_text(derived, joins)
        value = int(as_of.timestamp()) if past.epoch else self.f.bind("past_state", as_of)
        if isinstance(value, BindParameter):  # SQLite: text that orders like its DATETIMEs
            return clause.bindparams(sa.bindparam("as_of", value.value, type_=value.type))
        return clause.bindparams(sa.bindparam("as_of", value))

    def queue(self) -> tuple[ColumnElement[Any], list[ColumnElement[Any]]]:
        """The ``queue`` column of every statement, and what it adds to GROUP BY."""
        if self.total:
            return sa.literal_column(f"'{TOTAL_QUEUE}'", sa.String()).label("queue"), []
        queue = self.f.require("queue")
        return queue.label("queue"), [queue]

    def scope(self) -> list[ColumnElement[bool]]:
        return [_predicate(self.m.where)] if self.m.where else []

    def open_predicate(self) -> ColumnElement[bool]:
        """Open at the statements' instant: open now, or (``as_of``) open then.

        As of a past instant ``T``: created before ``T``, and either open now or resolved
        at or after ``T`` (so never when resolved before its creation). A ticket closed
        now without a resolution time is never open; one without a creation time never
        counts.
        """
        if self.as_of is None:
            return self.open_now()
        f = self.f
        later = (
            [f.require("resolved_at") >= f.bind("resolved_at", self.as_of)]
            if f.has("resolved_at")
            else []
        )
        condition: ColumnElement[bool] = sa.and_(
            f.before("created_at", self.as_of), sa.or_(self.open_now(), *later)
        )
        return condition

    def open_now(self) -> ColumnElement[bool]:
        """Open according to the ticket's current status (the mapping's open predicate)."""
        if self.m.open_sql is not None:
            return _predicate(self.m.open_sql)
        assert self.m.open_statuses is not None
        status = sa.literal_column(self.m.expression("status") or "", sa.String())
        return status.in_([sa.literal(s) for s in self.m.open_statuses])

    def resolved_predicate(self) -> list[ColumnElement[bool]]:
        """Resolved tickets are the ones not open now."""
        return [sa.not_(self.open_now())]

    # -- statements ------------------------------------------------------------------------

    def backlog(self, now: datetime) -> sa.Select[Any]:
        """Per (queue, status, priority): count, oldest, aging buckets, unassigned, SLA."""
        f = self.f
        queue, by_queue = self.queue()
        status = f.require("status")
        priority = f.get("priority")
        columns: list[ColumnElement[Any]] = [
            queue,
            status.label("status"),
            (priority if priority is not None else sa.literal("")).label("priority"),
            sa.func.count().label("n"),
            sa.func.min(f.require("created_at")).label("oldest"),
            # with a creation time (the report's aged list: collectors.sqlreport.aged_groups)
            sa.func.count(f.require("created_at")).label("dated"),
        ]
        columns += [
            _count_if(f.before("created_at", now - timedelta(days=d))).label(f"gt_{name}")
            for name, d in AGE_BUCKETS
        ]
        if f.has("assignee"):
            columns.append(_count_if(f.require("assignee").is_(None)).label("unassigned"))
        columns += self._sla_columns(now)
        group = [*by_queue, status] + ([priority] if priority is not None else [])
        return sorted_groups(
            sa.select(*columns)
            .select_from(self.source())
            .where(*self.scope(), self.open_predicate())
            .group_by(*group)
        )

    def _sla_columns(self, now: datetime) -> list[ColumnElement[Any]]:
        f = self.f
        risk = now + self.m.at_risk_margin
        out: list[ColumnElement[Any]] = []
        if f.has("first_response_due_at"):
            pending = self._unanswered(now)
            due = f.require("first_response_due_at")
            out.append(
                _count_if(sa.and_(*pending, f.before("first_response_due_at", now))).label(
                    "fr_breached"
                )
            )
            out.append(
                _count_if(
                    sa.and_(
                        *pending,
                        due >= f.bind("first_response_due_at", now),
                        f.before("first_response_due_at", risk),
                    )
                ).label("fr_at_risk")
            )
        if f.has("resolution_due_at"):
            due = f.require("resolution_due_at")
            out.append(_count_if(f.before("resolution_due_at", now)).label("res_breached"))
            out.append(
                _count_if(
                    sa.and_(
                        due >= f.bind("resolution_due_at", now), f.before("resolution_due_at", risk)
                    )
                ).label("res_at_risk")
            )
        return out

    def _unanswered(self, now: datetime) -> list[ColumnElement[bool]]:
        """No first response yet (as of ``now`` when measuring the past)."""
        f = self.f
        if not f.has("first_response_at"):
            return []
        answered = f.require("first_response_at")
        if self.as_of is None:
            return [answered.is_(None)]
        return [sa.or_(answered.is_(None), answered >= f.bind("first_response_at", now))]

    def created(self, window: Window) -> sa.Select[Any]:
        queue, by_queue = self.queue()
        return sorted_groups(
            sa.select(queue, sa.func.count().label("n"))
            .select_from(self.source())
            .where(*self.scope(), self.f.within("created_at", window))
            .group_by(*by_queue)
        )

    def resolved(self, window: Window) -> sa.Select[Any]:
        """Resolved in the window (and not open again), with the sums and counts of their
        durations (averages of several queues combine exactly; NULL durations not counted)."""
        queue, by_queue = self.queue()
        rows = (
            sa.select(queue)
            .select_from(self.source())
            .where(*self.scope(), *self.resolved_predicate(), self.f.within("resolved_at", window))
        )
        answered = self.f.has("first_response_at")
        times = ["resolved_at", "created_at", *(["first_response_at"] if answered else [])]
        f, ticket = once(self.f, rows, times)  # each value read once per ticket
        group: list[ColumnElement[Any]] = [ticket.c.queue] if by_queue else []
        took = f.duration("resolved_at", "created_at", window.end)
        columns: list[ColumnElement[Any]] = [
            *(group or [queue]),
            sa.func.count().label("n"),
            sa.func.sum(took).label("res_sum"),
            sa.func.count(took).label("res_n"),
        ]
        if answered:
            responded = f.duration("first_response_at", "created_at", window.end)
            columns.append(sa.func.sum(responded).label("fr_sum"))
            columns.append(sa.func.count(responded).label("fr_n"))
        return sorted_groups(sa.select(*columns).select_from(ticket).group_by(*group))

    def sla_breaches(self, window: Window) -> sa.Select[Any] | None:
        """SLA deadlines that fell in the window and were missed."""
        if not self.m.sla_history:
            return None  # met deadlines are cleared: misses in the window are unknown
        f = self.f
        queue, by_queue = self.queue()
        columns: list[ColumnElement[Any]] = [queue]
        conditions: list[ColumnElement[bool]] = []
        if f.has("first_response_due_at"):
            due = f.require("first_response_due_at")
            late: list[ColumnElement[bool]] = (
                [f.require("first_response_at").is_(None)] if f.has("first_response_at") else []
            )
            if f.has("first_response_at"):
                late.append(f.require("first_response_at") > due)
            hit = sa.and_(
                f.within("first_response_due_at", window), sa.or_(*late) if late else sa.true()
            )
            columns.append(_count_if(hit).label("fr_breached_window"))
            conditions.append(f.within("first_response_due_at", window))
        if f.has("resolution_due_at"):
            due = f.require("resolution_due_at")
            late = [self.open_predicate()]
            if f.has("resolved_at"):
                late.append(f.require("resolved_at") > due)
            hit = sa.and_(f.within("resolution_due_at", window), sa.or_(*late))
            columns.append(_count_if(hit).label("res_breached_window"))
            conditions.append(f.within("resolution_due_at", window))
        if not conditions:
            return None
        return sorted_groups(
            sa.select(*columns)
            .select_from(self.source())
            .where(*self.scope(), sa.or_(*conditions))
            .group_by(*by_queue)
        )

    def reopened(self, window: Window) -> sa.Select[Any] | None:
        if not self.f.has("reopened_at"):
            return None
        queue, by_queue = self.queue()
        return sorted_groups(
            sa.select(queue, sa.func.count().label("n"))
            .select_from(self.source())
            .where(*self.scope(), self.f.within("reopened_at", window))
            .group_by(*by_queue)
        )

    def quantiles(
        self, dialect: str, with_total: bool = False
    ) -> sa.Select[Any] | sa.CompoundSelect[Any]:
        """Creation instants at the age quantiles of open tickets, per queue (nearest rank).

        With ``with_total`` (queues that do not overlap) the same statement also gives the
        source-wide quantiles, on a row flagged ``is_total``: a ``ROLLUP`` on PostgreSQL,
        elsewhere a second ranking of every open ticket after ``UNION ALL``. (Not a second
        window in the same SELECT: MariaDB 10.11 numbers ``ROW_NUMBER() OVER (ORDER BY
        ...)`` wrongly next to a window partitioned by queue, checked: every row off.)
        """
        f = self.f
        queue, by_queue = self.queue()
        created = f.require("created_at")
        base = sa.select().select_from(self.source()).where(*self.scope(), self.open_predicate())
        with_total = with_total and bool(by_queue)
        if dialect == "postgresql":
            picks = [
                sa.func.percentile_disc(p / 100).within_group(created.desc()).label(f"q{p}")
                for _, p in QUANTILES
            ]
            if with_total:
                flag = sa.func.grouping(*by_queue).label("is_total")
                return base.add_columns(queue, flag, *picks).group_by(sa.func.rollup(*by_queue))
            return base.add_columns(queue, *picks).group_by(*by_queue)
        per_queue = _ranked(base, queue, by_queue or None, created)
        if not with_total:
            return per_queue
        everyone = sa.literal_column(f"'{TOTAL_QUEUE}'", sa.String()).label("queue")
        return sa.union_all(
            per_queue.add_columns(sa.literal_column("0").label("is_total")),
            _ranked(base, everyone, None, created).add_columns(sa.literal_column("1")),
        )


def source_text(table: str, joins: Iterable[Join]) -> sa.TextClause:
    """``FROM`` the ticket table ``t`` and ``joins``."""
    parts = [f"{table} t"]
    for join in joins:
        kind = "LEFT JOIN" if join.kind == "left" else "JOIN"
        parts.append(f"{kind} {join.table} {join.alias} ON {join.on}")
    return sa.text(" ".join(parts))


def _ranked(
    base: sa.Select[Any],
    queue: ColumnElement[Any],
    partition: list[ColumnElement[Any]] | None,
    created: ColumnElement[Any],
) -> sa.Select[Any]:
    """Nearest-rank quantiles by window functions (MariaDB/MySQL, SQLite), per ``partition``
    (every open ticket at once when None): the creation instant at rank ``ceil(n * p)``,
    newest first."""
    ranked = base.add_columns(
        queue,
        created.label("created"),
        sa.func.row_number().over(partition_by=partition, order_by=created.desc()).label("rn"),
        sa.func.count().over(partition_by=partition).label("cnt"),
    ).subquery("ranked")
    picks = [
        sa.func.min(
            sa.case((ranked.c.rn == (ranked.c.cnt * p + 99) // 100, ranked.c.created))
        ).label(f"q{p}")
        for _, p in QUANTILES
    ]
    return sa.select(ranked.c.queue, *picks).group_by(ranked.c.queue)


class Condition(ColumnElement[bool]):
    """A raw SQL condition of the mapping (``where``, ``open_sql``), rendered ``(sql)``
    as written in every boolean context (WHERE, AND, OR, NOT, CASE WHEN) on every
    dialect.

    A boolean *column* would do as well on PostgreSQL, but on a database without a
    native boolean (MariaDB, MySQL, SQLite) SQLAlchemy compares a boolean column with 1
    under AND/OR and with 0 under NOT: ``(t.status IN (1, 2)) = 1`` hides the
    condition from the optimizer, which can then use no index on its columns. This
    element is marked as a boolean expression of SQL (``_is_implicitly_boolean``, as
    SQLAlchemy marks a comparison), so it is written without the comparison and NOT
    gives ``NOT (sql)``. The text is not parsed for bind parameters (a ``:`` in a
    string literal stays as written) and is escaped like a literal column (``%`` for
    the drivers whose paramstyle needs it).

    On MariaDB/MySQL/SQLite a condition is now true when its value is true (non-zero),
    as in a WHERE of hand-written SQL, where before it had to equal 1: the same rows
    for any condition PostgreSQL accepts (a comparison, IN, IS NULL, AND/OR of them).
    """

    __visit_name__ = "mapping_condition"
    _traverse_internals = [("sql", InternalTraversal.dp_string)]
    inherit_cache = True
    _is_implicitly_boolean = True
    type = sa.Boolean()

    def __init__(self, sql: str) -> None:
        self.sql = sql


@compiles(Condition)
def _condition(element: Condition, compiler: Any, **kw: Any) -> str:
    return f"({compiler.escape_literal_column(element.sql)})"


def _predicate(sql: str) -> ColumnElement[bool]:
    """A raw SQL condition from the mapping, usable with AND, OR, NOT and CASE."""
    return Condition(sql)


def sorted_groups(statement: sa.Select[Any]) -> sa.Select[Any]:
    """``statement`` with ``SQL_BIG_RESULT`` on MariaDB/MySQL (nothing elsewhere).

    With an index that leads with the queue column (a help desk's foreign-key index, or
    the recommended ``(queue, status)``), MariaDB's optimizer answers ``GROUP BY queue``
    by reading that whole index in order and fetching every row from it, instead of
    scanning the table and sorting what passed the WHERE; on a table larger than the
    buffer pool that is 3 to 4 times slower (``docs/benchmarks/workload.md``). The
    modifier makes it sort; range scans on the WHERE's own indexes are still chosen.
    """
    return statement.prefix_with("SQL_BIG_RESULT", dialect="mysql").prefix_with(
        "SQL_BIG_RESULT", dialect="mariadb"
    )


def _count_if(condition: ColumnElement[bool]) -> ColumnElement[Any]:
    return sa.func.sum(sa.case((condition, 1), else_=0))
