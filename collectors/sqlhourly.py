"""The set-based statement of ``backfill``: per queue and hour, open, created and resolved.

One statement covers a span of whole hours ``[start, start + n h)`` in which the store's
zone keeps one UTC offset (so the span's hours are ``n`` equal steps of its naive local
time too). It never ships ticket rows: the database

1. gives each ticket the index of the hour of its creation, of its *departure* from the
   backlog and of its resolution, counted from ``start`` (-1 for "before the span");
2. counts tickets per queue and hour index (``GROUP BY``), for each of the three;
3. joins those counts to a generated series of the hour indexes -1 .. n-1
   (``generate_series`` on PostgreSQL, a recursive CTE on MariaDB/MySQL and SQLite),
   for every queue;
4. runs the sums with a window function: open at the end of hour ``i`` is every
   creation up to ``i`` minus every departure up to ``i``.

A ticket departs when it was resolved (if it is not open now), at its creation when it
is closed without a resolution time or was resolved before it was created (it is never
open), and never while it is open now. That is exactly the rule of
:meth:`collectors.sqlqueries.PollQueries.open_predicate` for a past instant, so the hour
rows equal ``snapshot --as-of`` at each hour's end. Only rows from a queue's first
ticket on (or with a resolution in the hour) are returned.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement, FunctionElement

from collectors.sqlqueries import PollQueries

HOUR = timedelta(hours=1)


class hour_index(FunctionElement[int]):  # noqa: N801 - reads like the SQL function
    """Whole hours from ``start`` to a later DATETIME ``value`` (floored), per dialect."""

    type = sa.Integer()
    inherit_cache = True


class epoch_hour_index(FunctionElement[int]):  # noqa: N801
    """Whole hours from ``start`` to a later ``value``, both Unix seconds."""

    type = sa.Integer()
    inherit_cache = True


SQL: dict[type[FunctionElement[int]], dict[str, str]] = {
    hour_index: {
        "postgresql": "CAST(FLOOR(EXTRACT(EPOCH FROM ({value} - {start})) / 3600) AS INTEGER)",
        "mysql": "TIMESTAMPDIFF(HOUR, {start}, {value})",
        "mariadb": "TIMESTAMPDIFF(HOUR, {start}, {value})",
        "sqlite": "((CAST(strftime('%s', {value}) AS INTEGER)"
        " - CAST(strftime('%s', {start}) AS INTEGER)) / 3600)",
    },
    epoch_hour_index: {
        "default": "(({value} - {start}) / 3600)",
        "mysql": "(({value} - {start}) DIV 3600)",
        "mariadb": "(({value} - {start}) DIV 3600)",
    },
}
"""Each construct's SQL per dialect (``default``: every other one)."""


def _register(element: type[FunctionElement[int]], dialect: str, template: str) -> None:
    def render(e: FunctionElement[int], compiler: Any, **kw: Any) -> str:
        value, start = (compiler.process(c, **kw) for c in e.clauses)
        return template.format(value=value, start=start)

    compiles(element, *([] if dialect == "default" else [dialect]))(render)


for _element, _templates in SQL.items():
    for _dialect, _template in _templates.items():
        _register(_element, _dialect, _template)


def hourly_statement(q: PollQueries, dialect: str, start: datetime, hours: int) -> sa.Select[Any]:
    """The span's rows ``(queue, n, open_end, created, resolved)``, ``n`` from 0, for the
    queries' mapping (per queue, or the total with ``PollQueries(total=True)``)."""
    f = q.f
    end = start + hours * HOUR
    created, resolved = f.require("created_at"), f.require("resolved_at")
    open_now = q.open_now()
    departure = sa.case(
        (created.is_(None), sa.null()),
        (open_now, sa.null()),
        (resolved.is_(None), created),
        (resolved < created, created),
        else_=resolved,
    )
    counts = [
        _counts(
            q, departure if kind == "d" else created if kind == "c" else resolved, kind, start, end
        )
        for kind in ("c", "d", "r")
    ]
    events = sa.union_all(*counts).subquery("events")
    agg = (
        sa.select(
            events.c.queue,
            events.c.n,
            *(sa.func.sum(events.c[k]).label(k) for k in ("c", "d", "r")),
        )
        .group_by(events.c.queue, events.c.n)
        .subquery("agg")
    )
    series = _series(dialect, hours)
    queues = sa.select(agg.c.queue).distinct().subquery("queues")
    grid = (
        sa.select(queues.c.queue, series.c.n)
        .select_from(queues.join(series, sa.true()))
        .subquery("grid")
    )
    joined = (
        sa.select(
            grid.c.queue,
            grid.c.n,
            *(sa.func.coalesce(agg.c[k], 0).label(k) for k in ("c", "d", "r")),
        )
        .select_from(grid.outerjoin(agg, sa.and_(agg.c.queue == grid.c.queue, agg.c.n == grid.c.n)))
        .subquery("joined")
    )
    window: dict[str, Any] = {
        "partition_by": joined.c.queue,
        "order_by": joined.c.n,
        "rows": (None, 0),
    }
    running = sa.select(
        joined.c.queue,
        joined.c.n,
        sa.func.sum(joined.c.c - joined.c.d).over(**window).label("open_end"),
        sa.func.sum(joined.c.c).over(**window).label("seen"),
        joined.c.c.label("created"),
        joined.c.r.label("resolved"),
    ).subquery("running")
    return (
        sa.select(
            running.c.queue,
            running.c.n,
            running.c.open_end,
            running.c.created,
            running.c.resolved,
        )
        .where(running.c.n >= 0, sa.or_(running.c.seen > 0, running.c.resolved > 0))
        .order_by(running.c.queue, running.c.n)
    )


def _counts(
    q: PollQueries, value: ColumnElement[Any], kind: str, start: datetime, end: datetime
) -> sa.Select[Any]:
    """Tickets per queue and hour index of ``value`` (creation, departure or resolution)
    before ``end``; resolutions only within the span and of tickets not open now."""
    f = q.f
    field = "resolved_at" if kind == "r" else "created_at"
    low, high = _bound(f.bind(field, start)), _bound(f.bind(field, end))
    index_of = epoch_hour_index if field in q.m.epoch_fields else hour_index
    index = sa.case((value < low, sa.literal_column("-1")), else_=index_of(value, low))
    queue = _queue(q)
    where = [*q.scope(), value < high]
    if kind == "r":
        where += [value >= low, sa.not_(q.open_now())]
    # only the joins these fields read (the total's statements have no queue: no fan-out)
    fields = [n for n in ("queue", "status", "created_at", "resolved_at") if q.f.has(n)]
    inner = (
        sa.select(queue.label("queue"), index.label("n"))
        .select_from(q.source(fields))
        .where(*where)
        .subquery(f"t_{kind}")
    )
    zero: ColumnElement[int] = sa.literal_column("0", sa.Integer())
    columns = {k: sa.func.count().label(k) if k == kind else zero.label(k) for k in ("c", "d", "r")}
    return sa.select(inner.c.queue, inner.c.n, *columns.values()).group_by(inner.c.queue, inner.c.n)


def _queue(q: PollQueries) -> ColumnElement[Any]:
    """The queue label: the total's name, or the queue with NULL as '' (as polls label it)."""
    column, _ = q.queue()
    if q.total:
        return column
    return sa.func.coalesce(q.f.require("queue"), sa.literal(""))


def _bound(value: Any) -> ColumnElement[Any]:
    if isinstance(value, sa.ColumnElement):
        return value
    if isinstance(value, datetime):
        return sa.literal(value, sa.DateTime())
    return sa.literal(value, sa.Integer())


def _series(dialect: str, hours: int) -> Any:
    """The hour indexes -1 .. hours-1, as a FROM element with column ``n``."""
    if dialect == "postgresql":
        return sa.select(sa.func.generate_series(-1, hours - 1).label("n")).subquery("hours")
    first = sa.select(sa.literal_column("-1").label("n")).cte("hours", recursive=True)
    return first.union_all(sa.select((first.c.n + 1).label("n")).where(first.c.n < hours - 1))
