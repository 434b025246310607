"""The set-based statement of ``backfill``: per queue and hour, open, created and resolved.

One statement covers a span of whole hours ``[start, start + n h)`` in which the store's
zone keeps one UTC offset (so the span's hours are ``n`` equal steps of its naive local
time too). It never ships ticket rows: the database

1. counts, per queue, the tickets open at ``start`` and those created before it, in one
   aggregate over the tickets created before ``start``, grouped by queue only (hour
   index -1, "before the span");
2. counts, per queue and hour index from ``start``, the creations inside the span (an
   index range on the creation time) and the resolutions inside it (a range on the
   resolution time), with the departures from the backlog among them (``GROUP BY``);
   no ticket created or departed before the span is counted again per hour;
3. runs the sums per queue over those event rows, in hour order, with a window
   function: open at the end of hour ``i`` is the backlog at ``start`` plus every
   creation up to ``i`` minus every departure up to ``i``.

Only the queue-hours with an event come back (plus the row before the span); the hours
between them, where nothing changes, are filled in Python (:func:`carry_on`). No hour
grid is joined in the database: the rows that come back grow with the events of the
span, not with queues x hours, and no ticket row is shipped.

A ticket departs when it was resolved (if it is not open now), at its creation when it
is closed without a resolution time or was resolved before it was created (it is never
open), and never while it is open now. That is exactly the rule of
:meth:`collectors.sqlqueries.PollQueries.open_predicate` for a past instant, so the hour
rows equal ``snapshot --as-of`` at each hour's end. Only rows from a queue's first
ticket on (or with a resolution in the hour) are returned.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement, FunctionElement

from collectors.base import HourFigures
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
        "postgresql": "CAST(FLOOR(date_part('epoch', {value} - {start}) / 3600) AS INTEGER)",
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


def hourly_statement(
    q: PollQueries, dialect: str, start: datetime, hours: int, carried: bool = False
) -> sa.Select[Any]:
    """The span's event rows ``(queue, n, open_end, created, resolved, seen)`` for the
    queries' mapping (per queue, or the total with ``PollQueries(total=True)``), ordered
    by queue and ``n``: one row per queue and hour index that has a creation or a
    resolution (``n`` from 0), and (unless ``carried``) one row ``n = -1`` per queue with
    a ticket created before ``start``. ``open_end`` and ``seen`` are running sums from
    ``n = -1``; :func:`carry_on` fills the hours between events.

    ``carried``: the caller knows each queue's backlog at ``start`` (it read the span
    before): nothing before ``start`` is read, and ``open_end`` and ``seen`` count from 0
    at ``start``."""
    end = start + hours * HOUR
    parts = [_created(q, start, end), _resolved(q, start, end)]
    if not carried:
        parts.insert(0, _before(q, start))
    events = sa.union_all(*parts).subquery("events")
    agg = (
        sa.select(
            events.c.queue,
            events.c.n,
            *(sa.func.sum(events.c[k]).label(k) for k in COLUMNS),
        )
        .group_by(events.c.queue, events.c.n)
        .subquery("agg")
    )
    window: dict[str, Any] = {
        "partition_by": agg.c.queue,
        "order_by": agg.c.n,
        "rows": (None, 0),
    }
    return sa.select(
        agg.c.queue,
        agg.c.n,
        sa.func.sum(agg.c.c - agg.c.d).over(**window).label("open_end"),
        agg.c.c.label("created"),
        agg.c.r.label("resolved"),
        sa.func.sum(agg.c.c + agg.c.s).over(**window).label("seen"),
    ).order_by(agg.c.queue, agg.c.n)


Carry = dict[str, int]
"""Per queue that has a ticket created before an instant: its backlog then."""


def carry_on(
    rows: Iterable[Any], start: datetime, hours: int, carry: Carry | None
) -> tuple[list[HourFigures], Carry]:
    """The span's figures from :func:`hourly_statement`'s event rows (tuples in its
    column order), and the carry at its end.

    Every hour of a queue from its first ticket on (or with a resolution in it) is a
    row: an hour without an event keeps the backlog of the hour before and counts no
    creation or resolution. ``carry`` is the backlog per queue at ``start`` when the
    statement was ``carried`` (its ``open_end`` and ``seen`` then count from ``start``),
    ``None`` otherwise; a carried queue without any event in the span keeps its backlog
    every hour."""
    carry = carry or {}
    at = [start + i * HOUR for i in range(hours)]
    out: list[HourFigures] = []
    after: Carry = {}

    def fill(queue: str, backlog: int, first: int, stop: int) -> None:
        out.extend(HourFigures(queue, at[i], backlog, 0, 0) for i in range(first, stop))

    queue: str | None = None
    base = backlog = last = 0
    seen = False
    for name, n, open_end, created, resolved, seen_sum in rows:
        if name != queue:
            if queue is not None and seen:
                fill(queue, backlog, last + 1, hours)
                after[queue] = backlog
            before = carry.get(str(name))
            seen, base, backlog, last = before is not None, before or 0, before or 0, -1
        queue = str(name)
        n = int(n)
        if seen:
            fill(queue, backlog, last + 1, n)
        backlog = base + int(open_end)
        seen = seen or int(seen_sum) > 0
        if n >= 0 and (seen or int(resolved) > 0):
            out.append(HourFigures(queue, at[n], backlog, int(created), int(resolved)))
        last = n
    if queue is not None and seen:
        fill(queue, backlog, last + 1, hours)
        after[queue] = backlog
    for name, backlog in carry.items():
        if name not in after:
            fill(name, backlog, 0, hours)
            after[name] = backlog
    return out, after


COLUMNS = ("c", "d", "r", "s")
"""Per queue and hour index: ``c`` tickets that enter the backlog count (at ``n = -1``:
the backlog at the span's start; from 0: creations), ``d`` departures, ``r``
resolutions, ``s`` tickets created before the span (only at ``n = -1``)."""


ONE: ColumnElement[int] = sa.literal_column("1", sa.Integer())


def _before(q: PollQueries, start: datetime) -> sa.Select[Any]:
    """Row ``n = -1`` per queue: the backlog at ``start`` and the tickets created before
    it (one aggregate over the tickets created before the span, no per-hour grouping)."""
    created, resolved = q.f.require("created_at"), q.f.require("resolved_at")
    low_c, low_r = _bound(q.f.bind("created_at", start)), _bound(q.f.bind("resolved_at", start))
    # created before T and (open now or resolved at/after T): resolved >= T > created
    # implies it was not resolved before it was created (see the module's rule)
    open_then = sa.or_(q.open_now(), resolved >= low_r)
    return _grouped(
        q,
        sa.literal_column("-1", sa.Integer()),
        [created < low_c],
        c=sa.case((open_then, 1), else_=0),
        s=ONE,
    )


def _created(q: PollQueries, start: datetime, end: datetime) -> sa.Select[Any]:
    """Creations per queue and hour of the span (an index range on the creation time);
    a ticket that is never open (closed without a resolution time, or resolved before
    it was created) departs in the hour of its creation."""
    created, resolved = q.f.require("created_at"), q.f.require("resolved_at")
    low, high = _bound(q.f.bind("created_at", start)), _bound(q.f.bind("created_at", end))
    never_open = sa.case(
        (q.open_now(), 0), (resolved.is_(None), 1), (resolved < created, 1), else_=0
    )
    return _grouped(
        q,
        _index(q, "created_at", created, low),
        [created >= low, created < high],
        c=ONE,
        d=never_open,
    )


def _resolved(q: PollQueries, start: datetime, end: datetime) -> sa.Select[Any]:
    """Resolutions of tickets not open now per queue and hour of the span (an index range
    on the resolution time); each is the ticket's departure unless it was resolved before
    it was created or has no creation time (then it departs at creation, or never)."""
    created, resolved = q.f.require("created_at"), q.f.require("resolved_at")
    low, high = _bound(q.f.bind("resolved_at", start)), _bound(q.f.bind("resolved_at", end))
    open_now = q.open_now()
    departs = sa.case((created.is_(None), 0), (resolved < created, 0), else_=1)
    return _grouped(
        q,
        _index(q, "resolved_at", resolved, low),
        [resolved >= low, resolved < high, sa.not_(open_now)],
        r=ONE,
        d=departs,
    )


def _index(
    q: PollQueries, field: str, value: ColumnElement[Any], low: ColumnElement[Any]
) -> ColumnElement[int]:
    index_of = epoch_hour_index if field in q.m.epoch_fields else hour_index
    return index_of(value, low)


def _grouped(
    q: PollQueries,
    index: ColumnElement[int],
    where: list[ColumnElement[bool]],
    **flags: ColumnElement[Any],
) -> sa.Select[Any]:
    """``(queue, n, c, d, r, s)`` of the tickets matching ``where``, per queue and hour
    index: each given column sums its per-ticket 0/1 flag; the others are 0."""
    # only the joins these fields read (the total's statements have no queue: no fan-out)
    fields = [n for n in ("queue", "status", "created_at", "resolved_at") if q.f.has(n)]
    inner = (
        sa.select(
            _queue(q).label("queue"),
            index.label("n"),
            *(flag.label(k) for k, flag in flags.items()),
        )
        .select_from(q.source(fields))
        .where(*q.scope(), *where)
        .subquery("t")
    )
    zero: ColumnElement[int] = sa.literal_column("0", sa.Integer())
    columns = [sa.func.sum(inner.c[k]).label(k) if k in flags else zero.label(k) for k in COLUMNS]
    return sa.select(inner.c.queue, inner.c.n, *columns).group_by(inner.c.queue, inner.c.n)


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
