"""The weekly report's statements beyond a poll's: resolution and first-response time
quantiles, SLA attainment and the aged list, per queue, aggregated (or ranked) in the database.

Quantiles are nearest rank (the ``ceil(n * p)``-th shortest duration), as the poll's
open-age quantiles are: an ordered-set aggregate on PostgreSQL, counts of each (queue,
duration) ranked in Python on MariaDB/MySQL (``collectors.sqlranks``), window functions
on SQLite.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from collectors.base import TOTAL_QUEUE, Window
from collectors.sqllookups import looked_up
from collectors.sqlqueries import PollQueries, _count_if, once, sorted_groups
from collectors.sqlranks import counted, pick, value_counts

REPORT_QUANTILES = ((50, "median"), (90, "p90"))
REPORT_QUANTILES_NAMED = tuple((name, p) for p, name in REPORT_QUANTILES)


@dataclass(frozen=True)
class AgedTicket:
    """One of the oldest open tickets."""

    id: str
    queue: str
    status: str
    assignee: str | None
    age_s: float


class ReportQueries:
    """Builds the report's own statements for one mapping."""

    def __init__(self, queries: PollQueries) -> None:
        self.q = queries
        self.f = queries.f

    def _resolved_in(self, window: Window) -> list[Any]:
        return [
            *self.q.scope(),
            *self.q.resolved_predicate(),
            self.f.within("resolved_at", window),
        ]

    def resolution_quantiles(
        self, window: Window, dialect: str = "", with_total: bool = False
    ) -> sa.Select[Any] | None:
        """Per queue: the median and p90 resolution time of the tickets resolved in
        ``window`` (nearest rank), and how many there were."""
        if not self.f.has("resolved_at"):
            return None
        where = self._resolved_in(window)
        return self._quantiles("resolved_at", window, where, dialect, with_total)

    def first_response_quantiles(
        self, window: Window, dialect: str = "", with_total: bool = False
    ) -> sa.Select[Any] | None:
        """Per queue: the median and p90 first-response time of the tickets first answered
        in ``window`` (nearest rank), and how many there were."""
        if not self.f.has("first_response_at"):
            return None
        where = [*self.q.scope(), self.f.within("first_response_at", window)]
        return self._quantiles("first_response_at", window, where, dialect, with_total)

    def first_assignment_quantiles(
        self, window: Window, dialect: str = "", with_total: bool = False
    ) -> sa.Select[Any] | None:
        """Per queue: the median and p90 time to first assignment of the tickets resolved
        in ``window`` that record one (the routing figures' tickets; nearest rank), and
        how many there were."""
        if not self.f.has("first_assigned_at") or not self.f.has("resolved_at"):
            return None
        # never assigned: the duration is NULL, and those rows are left out with it
        where = self._resolved_in(window)
        return self._quantiles("first_assigned_at", window, where, dialect, with_total)

    def _quantiles(
        self, field: str, window: Window, where: list[Any], dialect: str, with_total: bool
    ) -> sa.Select[Any]:
        """Per queue (and, on PostgreSQL with ``with_total``, the source's total as the
        ``ROLLUP`` row flagged ``is_total``): count, median and p90 of the duration.

        On MariaDB/MySQL (:func:`collectors.sqlranks.counted`) the rows are instead the
        counts of each (queue, duration), for :func:`collectors.sqlranks.pick`."""
        queue, by_queue = self.q.queue()
        rows = sa.select(queue).select_from(self.q.source(["queue", "created_at", field]))
        # each value read once per ticket (a subquery, or a zone with summer time: see once)
        f, ticket = once(self.f, rows.where(*where), [field, "created_at"])
        if by_queue:
            queue, by_queue = ticket.c.queue, [ticket.c.queue]
        took = f.duration(field, "created_at", window.end)
        if dialect == "postgresql":
            # an ordered-set aggregate sorts each queue once: several times faster than
            # ranking every row with window functions (docs/benchmarks/workload.md);
            # percentile_disc(p) is the ceil(n * p)-th value, the same nearest rank
            ordered = f.duration(field, "created_at", window.end, ordering=True)
            picks = [
                sa.func.percentile_disc(p / 100).within_group(ordered).label(name)
                for p, name in REPORT_QUANTILES
            ]
            statement = (
                sa.select(queue, sa.func.count().label("n"), *picks)
                .select_from(ticket)
                .where(took.is_not(None))
            )
            if with_total and by_queue:
                flag = sa.func.grouping(*by_queue).label("is_total")
                return statement.add_columns(flag).group_by(sa.func.rollup(*by_queue))
            return statement.group_by(*by_queue)
        if counted(dialect):
            # MariaDB/MySQL: (queue, duration) counts, ranked in Python (collectors.sqlranks)
            base = sa.select().select_from(ticket).where(took.is_not(None))
            return value_counts(base, queue, by_queue, took)
        ranked = (
            sa.select(
                queue,
                took.label("took"),
                sa.func.row_number().over(partition_by=by_queue or None, order_by=took).label("rn"),
                sa.func.count().over(partition_by=by_queue or None).label("cnt"),
            )
            .select_from(ticket)
            .where(took.is_not(None))
            .subquery("ranked")
        )
        picks = [
            sa.func.min(
                sa.case((ranked.c.rn == (ranked.c.cnt * p + 99) // 100, ranked.c.took))
            ).label(name)
            for p, name in REPORT_QUANTILES
        ]
        return sa.select(ranked.c.queue, sa.func.max(ranked.c.cnt).label("n"), *picks).group_by(
            ranked.c.queue
        )

    def sla_attainment(self, window: Window) -> sa.Select[Any] | None:
        """Per queue: tickets resolved in ``window`` that had a resolution deadline, and
        how many were resolved by it (None when deadlines are not kept once met)."""
        if not self.f.has("resolution_due_at") or not self.q.m.sla_history:
            return None
        if not self.f.has("resolved_at"):
            return None
        queue, by_queue = self.q.queue()
        due, resolved = self.f.require("resolution_due_at"), self.f.require("resolved_at")
        fields = ["queue", "resolved_at", "resolution_due_at"]
        if "resolution_due_at" in self.q.m.epoch_fields:
            return None  # an epoch deadline and a DATETIME resolution do not compare portably
        return sorted_groups(
            sa.select(queue, sa.func.count().label("n"), _count_if(resolved <= due).label("met"))
            .select_from(self.q.source(fields))
            .where(*self._resolved_in(window), due.is_not(None))
            .group_by(*by_queue)
        )

    def aged(self, limit: int) -> sa.Select[Any]:
        """The ``limit`` oldest open tickets of the source (ties by id)."""
        queue, _ = self.q.queue()
        assignee = self.f.get("assignee")
        created, ticket = self.f.require("created_at"), self.f.require("id")
        return (
            sa.select(
                ticket.label("ticket"),
                queue,
                self.f.require("status").label("status"),
                (assignee if assignee is not None else sa.null()).label("assignee"),
                created.label("created"),
            )
            .select_from(self.q.source(["id", "queue", "status", "assignee", "created_at"]))
            .where(*self.q.scope(), self.q.open_predicate())
            .order_by(created, ticket)
            .limit(limit)
        )

    def aged_lookup(self, groups: Sequence[tuple[Any, Any]], limit: int) -> sa.Select[Any]:
        """MariaDB/MySQL: :meth:`aged` as one ``ORDER BY created, id LIMIT limit`` per
        (queue, status) group of ``groups`` (from :func:`aged_groups`), in one ``UNION
        ALL`` ordered and cut the same way: with an index led by the status and queue
        then the creation time (``docs/workload.md``, recommended indexes) each part reads
        at most ``limit`` index entries and rows, not every open ticket. The same tickets
        in the same order (ties by id, NULL creation times first, as ``aged`` orders)."""
        queue, by_queue = self.q.queue()
        assignee = self.f.get("assignee")
        created, ticket = self.f.require("created_at"), self.f.require("id")
        status = self.f.require("status")
        source = self.q.source(["id", "queue", "status", "assignee", "created_at"])
        parts = []
        for i, (value, state) in enumerate(groups):
            which = [
                status.is_(None) if state is None else status == sa.bindparam(f"s{i}", state),
                *(
                    [
                        by_queue[0].is_(None)
                        if value is None
                        else by_queue[0] == sa.bindparam(f"v{i}", value)
                    ]
                    if by_queue
                    else []
                ),
            ]
            parts.append(
                sa.select(
                    ticket.label("ticket"),
                    queue,
                    status.label("status"),
                    (assignee if assignee is not None else sa.null()).label("assignee"),
                    created.label("created"),
                )
                .select_from(source)
                .where(*self.q.scope(), self.q.open_predicate(), *which)
                .order_by(created, ticket)
                .limit(limit)
            )
        union = sa.union_all(*parts).subquery("aged")
        return sa.select(union).order_by(union.c.created, union.c.ticket).limit(limit)


def aged_groups(backlog: Iterable[Any], limit: int) -> list[tuple[Any, Any]]:
    """The (queue, status) groups of the open tickets that can hold one of the ``limit``
    oldest, from the poll's backlog rows (per queue, status and priority: ``oldest``, the
    least creation time, ``n`` and ``dated``, how many have one).

    Each group's oldest ticket is a ticket, so the ``limit``-th least of the groups'
    ``oldest`` (``cut``) is at or after the ``limit``-th oldest ticket: a group whose
    oldest is later than ``cut`` holds none of them. A group with a ticket without a
    creation time is kept too (MariaDB and MySQL order NULL first, as :meth:`aged`
    does). Every group when there are ``limit`` groups or fewer."""
    oldest: dict[tuple[Any, Any], Any] = {}
    undated: set[tuple[Any, Any]] = set()
    for row in backlog:
        key = (row.queue, row.status)
        first = oldest.get(key)
        if row.oldest is not None and (first is None or row.oldest < first):
            oldest[key] = row.oldest
        else:
            oldest.setdefault(key, first)
        if int(row.dated or 0) < int(row.n):
            undated.add(key)
    if limit <= 0:
        return []
    dated = sorted(v for v in oldest.values() if v is not None)
    cut = dated[limit - 1] if len(dated) >= limit else None
    return [
        key
        for key, first in oldest.items()
        if key in undated or first is None or cut is None or first <= cut
    ]


def aged_tickets(rows: list[Any], now: datetime, from_store: Any) -> tuple[AgedTicket, ...]:
    """The aged list's rows as :class:`AgedTicket` (ages at ``now``)."""
    out = []
    for r in rows:
        created = from_store(r.created, "created_at")
        age = (now - created).total_seconds() if created is not None else 0.0
        assignee = None if r.assignee is None else str(r.assignee)
        out.append(AgedTicket(str(r.ticket), str(r.queue), str(r.status), assignee, age))
    return tuple(out)


@dataclass(frozen=True)
class ReportFigures:
    """What the report reads beyond a poll, per queue (and for the source as
    :data:`collectors.base.TOTAL_QUEUE`)."""

    resolution: dict[str, tuple[int, float | None, float | None]]
    """queue -> (tickets resolved, median, p90 resolution time in seconds)."""
    first_response: dict[str, tuple[int, float | None, float | None]] | None
    sla: dict[str, tuple[int, int]] | None
    """queue -> (resolved with a deadline, resolved by it); None when not known."""
    aged: tuple[AgedTicket, ...]
    first_assignment: dict[str, tuple[int, float | None, float | None]] | None = None
    """queue -> (resolved tickets first assigned, median, p90 time to first assignment in
    seconds); None where the mapping has no ``first_assigned_at``."""


def read_report(
    conn: sa.Connection,
    per_queue: PollQueries,
    total: PollQueries,
    window: Window,
    aged_limit: int,
    from_store: Any,
    overlap: bool = True,
    resolved: Any = None,
    backlog: Sequence[Any] | None = None,
) -> ReportFigures:
    """Run the report's statements for the queues and for the source's total.

    ``resolved`` (a ``collectors.sqlresolved.Resolved``): the resolution quantiles and
    SLA attainment read already, with the period's other resolved-ticket figures; only
    the first-response quantiles and the aged list are then read here.

    When no ticket is in two queues (``overlap`` False), the quantiles of the total come
    from the per-queue statement (PostgreSQL: its ``ROLLUP`` row; MariaDB/MySQL: the
    merged counts of every queue): the period's tickets are read and sorted once instead
    of twice."""
    resolution: dict[str, tuple[int, float | None, float | None]] = {}
    sla: dict[str, tuple[int, int]] | None = None
    first: dict[str, tuple[int, float | None, float | None]] | None = None
    dialect = conn.dialect.name
    rolled = (dialect == "postgresql" or counted(dialect)) and not overlap

    def quantiles(statement: sa.Select[Any], queries: PollQueries) -> list[Any]:
        if not counted(dialect):
            return list(conn.execute(statement).all())
        # one row per (queue, duration): streamed into the counts, not held as rows
        streamed = conn.execute(statement.execution_options(stream_results=True))
        # the total statement's only group is the total: flag it as such
        return pick(streamed, REPORT_QUANTILES_NAMED, with_total=rolled or queries.total)

    if resolved is not None:
        resolution, sla = dict(resolved.resolution), resolved.sla
    for queries in (per_queue, total):
        rq = ReportQueries(queries)
        # with ROLLUP (or merged counts) the per-queue statements gave the total's already
        wanted = not (rolled and queries is total)
        statement = rq.resolution_quantiles(window, dialect, rolled) if wanted else None
        statement = None if resolved is not None else statement
        for r in quantiles(statement, queries) if statement is not None else ():
            resolution[_queue(r)] = (int(r.n), _float(r.median), _float(r.p90))
        answered = rq.first_response_quantiles(window, dialect, rolled)
        if answered is not None:
            first = first or {}
            for r in quantiles(answered, queries) if wanted else ():
                first[_queue(r)] = (int(r.n), _float(r.median), _float(r.p90))
        attainment = rq.sla_attainment(window) if resolved is None else None
        if attainment is not None:
            sla = sla or {}
            sla.update({r.queue: (int(r.n), int(r.met or 0)) for r in conn.execute(attainment)})
    aged = aged_tickets(_aged(conn, per_queue, window, aged_limit, backlog), window.end, from_store)
    return ReportFigures(resolution, first, sla, aged)


def _aged(
    conn: sa.Connection,
    per_queue: PollQueries,
    window: Window,
    limit: int,
    backlog: Sequence[Any] | None,
) -> list[Any]:
    """The aged list's rows: on MariaDB/MySQL looked up in the (queue, status) groups
    that can hold them (the live poll's ``backlog`` rows, read here when not given)."""
    rq = ReportQueries(per_queue)
    if not looked_up(conn.dialect.name) or limit <= 0:
        return list(conn.execute(rq.aged(limit)).all())
    if backlog is None:
        backlog = conn.execute(per_queue.backlog(window.end)).all()
    groups = aged_groups(backlog, limit)
    return list(conn.execute(rq.aged_lookup(groups, limit)).all()) if groups else []


def read_first_assignment(
    conn: sa.Connection, per_queue: PollQueries, total: PollQueries, window: Window, overlap: bool
) -> dict[str, tuple[int, float | None, float | None]] | None:
    """The time to first assignment's quantiles per queue and for the source's total
    (:meth:`ReportQueries.first_assignment_quantiles`), read as :func:`read_report` reads
    the resolution times; None where the mapping has no ``first_assigned_at``."""
    dialect = conn.dialect.name
    rolled = (dialect == "postgresql" or counted(dialect)) and not overlap
    out: dict[str, tuple[int, float | None, float | None]] | None = None
    for queries in (per_queue, total):
        statement = ReportQueries(queries).first_assignment_quantiles(window, dialect, rolled)
        if statement is None:
            return out
        out = out if out is not None else {}
        if rolled and queries is total:
            continue  # the per-queue statement's ROLLUP row (or merged counts) gave it
        rows: list[Any]
        if counted(dialect):
            streamed = conn.execute(statement.execution_options(stream_results=True))
            rows = list(pick(streamed, REPORT_QUANTILES_NAMED, with_total=rolled or queries.total))
        else:
            rows = list(conn.execute(statement).all())
        for r in rows:
            out[_queue(r)] = (int(r.n), _float(r.median), _float(r.p90))
    return out


def _queue(row: Any) -> str:
    """The row's queue; the ``ROLLUP`` row (``is_total``) is the source's total."""
    return TOTAL_QUEUE if getattr(row, "is_total", 0) else str(row.queue)


def _float(value: Any) -> float | None:
    return None if value is None else float(value)
