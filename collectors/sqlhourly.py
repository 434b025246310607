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

Where the mapping's ``past_state`` gives the queue and the rows that may change it
(``queue_changes``), every figure counts the ticket in its queue at the hour's end and
each hour with a change row moves it between queues (see "queues from the help desk's
history" below); the statement is otherwise the same. Where a ticket may hold several
queues at once (``past_state.queue_join`` with ``rows``, ``held`` and ``changes``: GLPI's
assigned groups), the same events count it in every queue it holds at the instant (see
"several queues at once" below).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement, FunctionElement

from collectors.base import HourFigures
from collectors.sqlmap import AS_OF_PARAM, PastJoin, PastState, QueueChanges
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


class hours_after(FunctionElement[Any]):  # noqa: N801
    """The naive DATETIME ``start`` plus ``k`` (an integer expression) hours, per dialect
    (SQLite: the text ``YYYY-MM-DD HH:MM:SS``, which orders like its stored DATETIMEs)."""

    type = sa.DateTime()
    inherit_cache = True


class epoch_hours_after(FunctionElement[int]):  # noqa: N801
    """Unix seconds ``start`` plus ``k`` hours."""

    type = sa.Integer()
    inherit_cache = True


SQL: dict[type[FunctionElement[Any]], dict[str, str]] = {
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
    hours_after: {
        "postgresql": "({start} + ({k}) * INTERVAL '1 hour')",
        "mysql": "CAST(TIMESTAMPADD(HOUR, {k}, {start}) AS DATETIME)",
        "mariadb": "CAST(TIMESTAMPADD(HOUR, {k}, {start}) AS DATETIME)",
        "sqlite": "datetime({start}, '+' || ({k}) || ' hours')",
    },
    epoch_hours_after: {"default": "({start} + ({k}) * 3600)"},
}
"""Each construct's SQL per dialect (``default``: every other one)."""


ARGS: dict[type[FunctionElement[Any]], tuple[str, str]] = {
    hours_after: ("start", "k"),
    epoch_hours_after: ("start", "k"),
}
"""Each construct's arguments in order (default: ``value, start``)."""


def _register(element: type[FunctionElement[Any]], dialect: str, template: str) -> None:
    names = ARGS.get(element, ("value", "start"))

    def render(e: FunctionElement[Any], compiler: Any, **kw: Any) -> str:
        args = (compiler.process(c, **kw) for c in e.clauses)
        return template.format(**dict(zip(names, args, strict=True)))

    compiles(element, *([] if dialect == "default" else [dialect]))(render)


for _element, _templates in SQL.items():
    for _dialect, _template in _templates.items():
        _register(_element, _dialect, _template)


class at_instant(FunctionElement[str]):  # noqa: N801
    """A ``past_state`` expression with its ``:as_of`` replaced by an SQL expression (an
    instant computed per row: the end of the hour of the row's event)."""

    type = sa.String()
    inherit_cache = False  # the text is not one of the clauses

    def __init__(self, text: str, instant: ColumnElement[Any]) -> None:
        self.text = text
        super().__init__(instant)


@compiles(at_instant)
def _at_instant(element: at_instant, compiler: Any, **kw: Any) -> str:
    (instant,) = element.clauses.clauses
    rendered = f"({compiler.process(instant, **kw)})"
    return "(" + rendered.join(element.text.split(AS_OF_PARAM)) + ")"


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
    moving, joining = _moving(q), _joining(q)
    if moving is not None:
        parts = _moving_parts(q, moving, start, end, carried)
    elif joining is not None:
        parts = _joined_parts(_Held(q, *joining, start), start, end, carried)
    else:
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
    queue: ColumnElement[Any] | None = None,
    also_from: sa.FromClause | None = None,
    source: sa.TextClause | None = None,
    **flags: ColumnElement[Any],
) -> sa.Select[Any]:
    """``(queue, n, c, d, r, s)`` of the tickets matching ``where``, per queue and hour
    index: each given column sums its per-ticket 0/1 flag; the others are 0. ``queue``:
    the queue label (default: today's, :func:`_queue`); ``also_from``: a derived table
    read beside the tickets (``where`` links them); ``source``: the tickets and their
    joins (default: today's, ``q.source``)."""
    # only the joins these fields read (the total's statements have no queue: no fan-out)
    froms: list[Any] = [] if also_from is None else [also_from]
    inner = (
        sa.select(
            (_queue(q) if queue is None else queue).label("queue"),
            index.label("n"),
            *(flag.label(k) for k, flag in flags.items()),
        )
        .select_from(*froms, q.source(_fields(q)) if source is None else source)
        .where(*q.scope(), *where)
        .subquery("t")
    )
    zero: ColumnElement[int] = sa.literal_column("0", sa.Integer())
    columns = [sa.func.sum(inner.c[k]).label(k) if k in flags else zero.label(k) for k in COLUMNS]
    return sa.select(inner.c.queue, inner.c.n, *columns).group_by(inner.c.queue, inner.c.n)


def _fields(q: PollQueries) -> list[str]:
    """The fields whose joins the statements read."""
    return [n for n in ("queue", "status", "created_at", "resolved_at") if q.f.has(n)]


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


# -- queues from the help desk's history (``past_state.queue`` with ``queue_changes``) ----
#
# Each figure of hour ``n`` counts the ticket in its queue at the hour's end ``T(n)``
# (``start + (n + 1) h``), as ``snapshot --as-of T(n)`` does: the ``past_state.queue``
# expression with ``:as_of`` bound to ``T(n)`` per row. A creation enters the backlog of
# the queue at the end of its hour; a resolution leaves the queue the ticket was in at
# the end of the hour before (or, created in the same hour, the one it entered); in an
# hour with a queue-change row a ticket open at both ends of the hour leaves the queue of
# the hour before and enters the queue at the hour's end (the two cancel when it is the
# same queue: moved there and back; an arrival is a departure of -1, not a creation). The
# running sums are then those of the path without history; nothing is evaluated per hour,
# only per event row, and only hours with a change row are looked at for moves.


def _moving(q: PollQueries) -> PastState | None:
    """The mapping's ``past_state`` when it gives the queue and the rows that change it
    (and the statement is per queue); None: every ticket counts in today's queue."""
    past = q.m.past_state
    if q.total or past is None or past.queue is None or past.queue_changes is None:
        return None
    return past if q.f.has("queue") else None


def _moving_parts(
    q: PollQueries, past: PastState, start: datetime, end: datetime, carried: bool
) -> list[sa.Select[Any]]:
    at = _Instants(q, past, start)
    parts = [
        _created_moving(q, at, start, end),
        *_resolved_moving(q, at, start, end),
        _moves(q, at, start, end),
    ]
    if not carried:
        parts.insert(0, _before_moving(q, at, start))
    return parts


class _Hours:
    """``start + k`` hours as the ticket table's and the history's columns hold it."""

    def __init__(self, q: PollQueries, past: PastState, start: datetime) -> None:
        self.q, self.past = q, past
        self.epoch = "created_at" in q.m.epoch_fields
        self.ticket_start = _bound(q.f.bind("created_at", start))
        self.history_start = _bound(
            int(start.timestamp()) if past.epoch else q.f.bind("past_state", start)
        )

    def ticket(self, k: ColumnElement[int]) -> ColumnElement[Any]:
        """``start + k`` hours, comparable with ``created_at`` and ``resolved_at``."""
        after = epoch_hours_after if self.epoch else hours_after
        return after(self.ticket_start, k)


class _Instants(_Hours):
    """``start + k`` hours as each column holds it, and the queue at such an instant."""

    def queue(self, k: ColumnElement[int] | None) -> ColumnElement[Any]:
        """The ticket's queue label at ``start + k`` hours (``None``: at ``start``):
        ``past_state.queue`` then, else today's; NULL as ''. The history is only read
        for a ticket with a change row at or after the instant (an ``EXISTS`` on the
        history's ticket index): any other ticket is in today's queue then."""
        instant: ColumnElement[Any] = self.history_start
        if k is not None:
            after = epoch_hours_after if self.past.epoch else hours_after
            instant = after(self.history_start, k)
        changes, text = self.past.queue_changes, self.past.queue
        assert changes is not None and text is not None
        when, _ = self.history_index(changes)
        ticket: ColumnElement[Any] = sa.literal_column(self.q.m.expression("id") or "t.id")
        later = sa.exists(
            sa.select(ONE)
            .select_from(sa.text(f"{changes.table} h"))
            .where(
                sa.literal_column(changes.expression("ticket")) == ticket,
                when >= instant,
                *_where(changes),
            )
        )
        then = sa.func.coalesce(at_instant(text, instant), self.q.f.require("queue"))
        return sa.case((later, sa.func.coalesce(then, sa.literal(""))), else_=_queue(self.q))

    def history_index(self, changes: QueueChanges) -> tuple[ColumnElement[Any], ColumnElement[int]]:
        """The change rows' time and their hour index from ``start``."""
        kind: sa.types.TypeEngine[Any] = sa.Integer() if self.past.epoch else sa.DateTime()
        value = sa.literal_column(changes.expression("at"), kind)
        index_of = epoch_hour_index if self.past.epoch else hour_index
        return value, index_of(value, self.history_start)


def _before_moving(q: PollQueries, at: _Instants, start: datetime) -> sa.Select[Any]:
    """:func:`_before` with each ticket in its queue at ``start``."""
    created, resolved = q.f.require("created_at"), q.f.require("resolved_at")
    low_c, low_r = _bound(q.f.bind("created_at", start)), _bound(q.f.bind("resolved_at", start))
    open_then = sa.or_(q.open_now(), resolved >= low_r)
    return _grouped(
        q,
        sa.literal_column("-1", sa.Integer()),
        [created < low_c],
        queue=at.queue(None),
        c=sa.case((open_then, 1), else_=0),
        s=ONE,
    )


def _created_moving(
    q: PollQueries, at: _Instants, start: datetime, end: datetime
) -> sa.Select[Any]:
    """:func:`_created`, each creation in the queue at the end of its hour."""
    created, resolved = q.f.require("created_at"), q.f.require("resolved_at")
    low, high = _bound(q.f.bind("created_at", start)), _bound(q.f.bind("created_at", end))
    n = _index(q, "created_at", created, low)
    never_open = sa.case(
        (q.open_now(), 0), (resolved.is_(None), 1), (resolved < created, 1), else_=0
    )
    return _grouped(
        q,
        n,
        [created >= low, created < high],
        queue=at.queue(n + 1),
        c=ONE,
        d=never_open,
        s=ONE,
    )


def _resolved_moving(
    q: PollQueries, at: _Instants, start: datetime, end: datetime
) -> list[sa.Select[Any]]:
    """:func:`_resolved` in two parts: the resolutions in the queue at the end of their
    hour (with the departures of tickets created in that hour, counted there), and the
    departures of tickets created before the hour from the queue at its start."""
    created, resolved = q.f.require("created_at"), q.f.require("resolved_at")
    n, within, same_hour = _resolved_hours(q, at, start, end)
    hour_start = at.ticket(n)
    return [
        _grouped(q, n, within, queue=at.queue(n + 1), r=ONE, d=same_hour),
        _grouped(
            q,
            n,
            [*within, created < hour_start, resolved >= created],
            queue=at.queue(n),
            d=ONE,
        ),
    ]


def _resolved_hours(
    q: PollQueries, at: _Hours, start: datetime, end: datetime
) -> tuple[ColumnElement[int], list[ColumnElement[bool]], ColumnElement[int]]:
    """The resolutions of ``[start, end)`` for the paths that read queues from the
    history: their hour index ``n``, the conditions selecting them (an index range on the
    resolution time, tickets not open now) and ``same_hour``, 1 when the resolution is the
    departure of a ticket created in its hour (counted there, not from the queues of the
    hour's start: a ticket with no creation time or resolved before it was created never
    departs then)."""
    created, resolved = q.f.require("created_at"), q.f.require("resolved_at")
    low, high = _bound(q.f.bind("resolved_at", start)), _bound(q.f.bind("resolved_at", end))
    n = _index(q, "resolved_at", resolved, low)
    within = [resolved >= low, resolved < high, sa.not_(q.open_now())]
    same_hour = sa.case(
        (created.is_(None), 0), (resolved < created, 0), (created < at.ticket(n), 0), else_=1
    )
    return n, within, same_hour


def _moves(q: PollQueries, at: _Instants, start: datetime, end: datetime) -> sa.Select[Any]:
    """Per ticket and hour with a change row, in one pass over the tickets: a ticket open
    at both ends of the hour leaves the queue it was in at the hour's start and enters the
    one it is in at its end (an arrival also marks that queue as having had a ticket).

    Each (ticket, hour) row reads its queue at the hour's start (only if it was open at
    both ends) and at its end once, and is then doubled by a two-row table into its
    departure (``side`` 0) and its arrival (``side`` 1)."""
    changes = at.past.queue_changes
    assert changes is not None
    when, index = at.history_index(changes)
    high = _bound(int(end.timestamp()) if at.past.epoch else q.f.bind("past_state", end))
    moved = (
        sa.select(
            sa.literal_column(changes.expression("ticket")).label("ticket"),
            index.label("n"),
        )
        .select_from(sa.text(f"{changes.table} h"))
        .where(when >= at.history_start, when < high, *_where(changes))
        .distinct()
        .subquery("bm_moved")
    )
    n = moved.c.n
    created, resolved = q.f.require("created_at"), q.f.require("resolved_at")
    ticket: ColumnElement[Any] = sa.literal_column(q.m.expression("id") or "t.id")
    both_open = sa.and_(created < at.ticket(n), sa.or_(q.open_now(), resolved >= at.ticket(n + 1)))
    fields = _fields(q)
    pair = (
        sa.select(
            n.label("n"),
            sa.case((both_open, 1), else_=0).label("both"),
            sa.case((both_open, at.queue(n)), else_=None).label("left_q"),
            at.queue(n + 1).label("entered_q"),
        )
        .select_from(moved, q.source(fields))
        .where(*q.scope(), ticket == moved.c.ticket, created < at.ticket(n + 1))
        .subquery("bm_pair")
    )
    zero, minus = sa.literal_column("0", sa.Integer()), sa.literal_column("-1", sa.Integer())
    side = sa.union_all(sa.select(zero.label("side")), sa.select(ONE.label("side"))).subquery(
        "bm_side"
    )
    leaving = side.c.side == 0
    # an arrival is a negative departure: it counts in the backlog, not as created
    arrival = sa.case((pair.c.both == 1, minus), else_=zero)
    inner = (
        sa.select(
            sa.case((leaving, pair.c.left_q), else_=pair.c.entered_q).label("queue"),
            pair.c.n,
            sa.case((leaving, ONE), else_=arrival).label("d"),
            sa.case((leaving, zero), else_=ONE).label("s"),
        )
        .select_from(pair.join(side, sa.or_(side.c.side == 1, pair.c.both == 1)))
        .subquery("t")
    )
    columns = [sa.func.sum(inner.c[k]).label(k) if k in "ds" else zero.label(k) for k in COLUMNS]
    return sa.select(inner.c.queue, inner.c.n, *columns).group_by(inner.c.queue, inner.c.n)


def _where(changes: QueueChanges) -> list[sa.TextClause]:
    """The change rows' own condition, as written: a text clause, not a boolean column,
    which MariaDB and MySQL (no native boolean) would compare with 1, and ``(h.objecttype
    = 'RT::Ticket' AND ...) = 1`` hides the equality on the first column of RT's
    ``Transactions1 (objecttype, objectid)`` from the optimizer: each ``EXISTS`` of
    :meth:`_Instants.queue` then scanned the whole table per ticket."""
    return [sa.text(f"({changes.where})")] if changes.where else []


# -- several queues at once (``past_state.queue_join`` with ``rows``, ``held``, ``changes``) --
#
# A ticket may hold several queues at once (GLPI's assigned groups): the mapping's queue
# reads a ``fan_out`` join, and the join's rows as of an instant are ``rows`` joined on
# ``on AND held`` (``:as_of`` bound to the instant, per row: the end of the event's
# hour). A LEFT JOIN keeps the ticket with a NULL row when it holds none, so the queue
# expression labels it as today's poll does (GLPI: ``(unassigned)``). Each event of the
# single-queue path above then counts the ticket in every row it holds at the instant
# that path reads its queue at: a creation in those of its hour's end, a resolution in
# those of its hour's end, a departure from those of its hour's start, and in an hour
# with a change row a ticket open at both ends leaves every queue it held at the
# hour's start and enters every one it holds at its end (unchanged ones cancel out).


def _joining(q: PollQueries) -> tuple[PastState, PastJoin] | None:
    """The mapping's ``past_state`` and its ``queue_join`` when backfill reads the join
    over time (per queue, the queue reading that join); None otherwise."""
    past = q.m.past_state
    if q.total or past is None or past.queue_join is None or not past.queue_join.backfills():
        return None
    if not q.f.has("queue"):
        return None
    read = {j.alias for j in q.joins(_fields(q))}
    return (past, past.queue_join) if past.queue_join.alias in read else None


class _SqlText(sa.sql.elements.TextClause):
    """SQL text with SQLAlchemy elements compiled in place (a FROM clause whose join
    conditions read an instant computed per row, or a derived table of a subquery)."""

    inherit_cache = False

    def __init__(self, *parts: str | sa.ClauseElement) -> None:
        super().__init__("")
        self.parts = parts


@compiles(_SqlText)
def _sql_text(element: _SqlText, compiler: Any, **kw: Any) -> str:
    inner = {k: v for k, v in kw.items() if k not in ("asfrom", "from_linter")}
    out: list[str] = []
    for part in element.parts:
        if isinstance(part, str):
            out.append(part)
        elif isinstance(part, sa.FromClause):
            out.append(compiler.process(part, asfrom=True, **inner))
        else:
            out.append(compiler.process(part, **inner))
    return "".join(out)


class _Held(_Hours):
    """The tickets with the rows of ``queue_join`` held at ``start + k`` hours."""

    def __init__(self, q: PollQueries, past: PastState, join: PastJoin, start: datetime) -> None:
        super().__init__(q, past, start)
        self.join = join
        assert join.rows is not None
        # the join's rows as a common table expression: the statement joins them once
        # (:func:`_joined_parts`), and a derived table that cannot be read per ticket
        # (GLPI's spans: a window over every relation row) is built once per reference
        self.rows = (
            sa.select(sa.literal_column("*"))
            .select_from(sa.text(f"{join.rows} bm_r"))
            .cte("bm_rows")
        )

    def source(
        self, k: ColumnElement[int] | None, base: sa.ClauseElement | None = None
    ) -> _SqlText:
        """The ticket table (or ``base``, a derived table of it aliased ``t``) and the
        joins the statements read, the join of ``queue_join`` as of ``start + k`` hours
        (``None``: at ``start``)."""
        instant: ColumnElement[Any] = self.history_start
        if k is not None:
            after = epoch_hours_after if self.past.epoch else hours_after
            instant = after(self.history_start, k)
        join = self.join
        assert join.rows is not None and join.held is not None
        parts: list[str | sa.ClauseElement] = [self.q.m.table if base is None else base, " t"]
        for j in self.q.joins(_fields(self.q)):
            kind = "LEFT JOIN" if j.kind == "left" else "JOIN"
            if j.alias != join.alias:
                parts.append(f" {kind} {j.table} {j.alias} ON {j.on}")
                continue
            parts += [f" {kind} ", self.rows, f" {j.alias} ON ({join.on or j.on}) AND "]
            parts.append(at_instant(join.held, instant))
        return _SqlText(*parts)

    def changed(self, start: datetime, end: datetime) -> _SqlText:
        """The ticket table as a derived table ``t`` with one row per ticket and hour index
        ``bm_n`` of ``[start, end)`` with a change row (``t.*`` and ``bm_n``)."""
        changes = self.join.changes
        assert changes is not None
        kind: sa.types.TypeEngine[Any] = sa.Integer() if self.past.epoch else sa.DateTime()
        when = sa.literal_column(changes.expression("at"), kind)
        index_of = epoch_hour_index if self.past.epoch else hour_index
        high = _bound(int(end.timestamp()) if self.past.epoch else self.q.f.bind("past_state", end))
        moved = (
            sa.select(
                sa.literal_column(changes.expression("ticket")).label("ticket"),
                index_of(when, self.history_start).label("n"),
            )
            .select_from(sa.text(f"{changes.table} h"))
            .where(when >= self.history_start, when < high, *_where(changes))
            .distinct()
            .subquery("bm_moved")
        )
        ticket = self.q.m.expression("id") or "t.id"
        return _SqlText(
            "(SELECT t.*, bm_moved.n AS bm_n FROM ",
            moved,
            f" JOIN {self.q.m.table} t ON {ticket} = bm_moved.ticket)",
        )


def _joined_parts(at: _Held, start: datetime, end: datetime, carried: bool) -> list[sa.Select[Any]]:
    """The span's events of :func:`_joined_events` joined once to the rows held at each
    event's instant and counted per queue and hour index: one join of ``rows`` per
    statement (MariaDB materializes a common table expression once per reference, so a
    join per part built GLPI's spans five or six times per chunk)."""
    q = at.q
    events = sa.union_all(*_joined_events(at, start, end, carried)).subquery("bm_ev")
    ticket = q.m.expression("id") or "t.id"
    base = _SqlText(
        "(SELECT t.*, bm_ev.bm_n, bm_ev.bm_k, bm_ev.bm_c, bm_ev.bm_d, bm_ev.bm_r, bm_ev.bm_s FROM ",
        events,
        f" JOIN {q.m.table} t ON {ticket} = bm_ev.bm_ticket)",
    )

    def column(name: str) -> ColumnElement[int]:
        return sa.literal_column(f"t.{name}", sa.Integer())

    return [
        _grouped(
            q,
            column("bm_n"),
            [],
            source=at.source(column("bm_k"), base),
            c=column("bm_c"),
            d=column("bm_d"),
            r=column("bm_r"),
            s=column("bm_s"),
        )
    ]


def _joined_events(
    at: _Held, start: datetime, end: datetime, carried: bool
) -> list[sa.Select[Any]]:
    """One row per ticket and event of the span, without the queues: ``bm_ticket``, the
    hour index ``bm_n``, ``bm_k`` (the event's instant: ``start + bm_k`` hours, where the
    queues it counts in are read) and its flags ``bm_c``, ``bm_d``, ``bm_r``, ``bm_s``
    (:data:`COLUMNS`)."""
    q = at.q
    created, resolved = q.f.require("created_at"), q.f.require("resolved_at")
    ticket: ColumnElement[Any] = sa.literal_column(q.m.expression("id") or "t.id")
    fields = [f for f in _fields(q) if f != "queue"]
    plain = q.source(fields)
    zero = sa.literal_column("0", sa.Integer())

    def event(
        n: ColumnElement[int],
        k: ColumnElement[int],
        where: list[ColumnElement[bool]],
        source: sa.TextClause = plain,
        **flags: ColumnElement[Any],
    ) -> sa.Select[Any]:
        return (
            sa.select(
                ticket.label("bm_ticket"),
                n.label("bm_n"),
                k.label("bm_k"),
                *(flags.get(c, zero).label(f"bm_{c}") for c in COLUMNS),
            )
            .select_from(source)
            .where(*q.scope(), *where)
        )

    parts: list[sa.Select[Any]] = []
    if not carried:  # the backlog at the start, in every queue held then
        low_c = _bound(q.f.bind("created_at", start))
        low_r = _bound(q.f.bind("resolved_at", start))
        open_then = sa.or_(q.open_now(), resolved >= low_r)
        minus_one = sa.literal_column("-1", sa.Integer())
        parts.append(
            event(minus_one, zero, [created < low_c], c=sa.case((open_then, 1), else_=0), s=ONE)
        )
    # creations, in every queue held at the end of their hour
    low, high = _bound(q.f.bind("created_at", start)), _bound(q.f.bind("created_at", end))
    n = _index(q, "created_at", created, low)
    never_open = sa.case(
        (q.open_now(), 0), (resolved.is_(None), 1), (resolved < created, 1), else_=0
    )
    parts.append(event(n, n + 1, [created >= low, created < high], c=ONE, d=never_open, s=ONE))
    # resolutions in every queue held at their hour's end (with the departures of tickets
    # created in that hour), departures of older tickets from those held at its start
    n, within, same_hour = _resolved_hours(q, at, start, end)
    hour_start = at.ticket(n)
    parts.append(event(n, n + 1, within, r=ONE, d=same_hour))
    parts.append(event(n, n, [*within, created < hour_start, resolved >= created], d=ONE))
    # hours with a change row: a ticket open at both ends leaves the queues of the hour's
    # start and enters those of its end (an arrival is a departure of -1)
    k = sa.literal_column("t.bm_n", sa.Integer())
    both_open = sa.and_(created < at.ticket(k), sa.or_(q.open_now(), resolved >= at.ticket(k + 1)))
    joins = [
        f" {'LEFT JOIN' if j.kind == 'left' else 'JOIN'} {j.table} {j.alias} ON {j.on}"
        for j in q.joins(fields)
    ]
    changed = _SqlText(at.changed(start, end), " t", *joins)
    minus = sa.literal_column("-1", sa.Integer())
    parts.append(event(k, k, [both_open], source=changed, d=ONE))
    parts.append(
        event(
            k,
            k + 1,
            [created < at.ticket(k + 1)],
            source=changed,
            d=sa.case((both_open, minus), else_=zero),
            s=ONE,
        )
    )
    return parts
