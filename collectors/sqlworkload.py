"""The statements of the workload figures (``collectors.workload``), built from a mapping.

Like the poll's own statements (``collectors.sqlqueries``), each aggregates in the
database with bound cut-off instants, per queue: open tickets per agent, stale counts,
waiting counts and ages, routing quality of the window's resolved tickets, categories.
The status history (``mapping.history``), when there is one, is read through a derived
table joined on the ticket id: the instant each ticket last entered each status, and
whether it was ever moved to another queue after its first assignment.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.expression import ColumnElement

from collectors.base import Window
from collectors.sqlmap import IDENT, SqlMapping
from collectors.sqlqueries import PollQueries, _count_if, once, sorted_groups, source_text
from collectors.workload import WorkloadConfig

ENTERED = "wh"
"""Alias of the derived table: per (ticket, status), when the ticket last entered it."""
ROUTING_FIGURES = ("reassignments", "reopened", "misrouted")
"""The routing statement's optional counts, in :class:`Routing`'s field order (then
``assigned`` and ``first_assignment_s`` where ``first_assigned_at`` is mapped)."""
MOVED = "wm"
"""Alias of the derived table: the tickets moved to another queue (misroutes)."""


class WorkloadQueries:
    """Builds the workload statements of one poll for one mapping and workload section."""

    def __init__(
        self, mapping: SqlMapping, config: WorkloadConfig, bind: Callable[[str, datetime], Any]
    ) -> None:
        self.q = PollQueries(mapping, bind)
        self.f = self.q.f
        self.m = mapping
        self.config = config

    # -- FROM ---------------------------------------------------------------------------

    def _from(self, fields: list[str], *derived: str) -> sa.TextClause:
        base = source_text(self.m.table, self.q.joins(fields)).text
        return sa.text(" ".join([base, *derived]))

    def _entered_join(self) -> str:
        """``LEFT JOIN`` of when each ticket last entered each status (status history)."""
        h = self.m.history
        assert h is not None and h.status is not None
        status, ticket = _h(h.status), _h(h.ticket)
        scope = f" AND ({h.where})" if h.where else ""
        return (
            f"LEFT JOIN (SELECT {ticket} AS ticket, {status} AS status, MAX({_h(h.at)}) AS"
            f" entered FROM {h.table} h WHERE {status} IS NOT NULL{scope}"
            f" GROUP BY {ticket}, {status}) {ENTERED}"
            f" ON {ENTERED}.ticket = {self.m.expression('id')}"
            f" AND {ENTERED}.status = {self.m.expression('status')}"
        )

    def _moved_join(self) -> str:
        h = self.m.history
        assert h is not None and h.queue_moves is not None
        scope = f" AND ({h.where})" if h.where else ""
        ticket = _h(h.ticket)
        return (
            f"LEFT JOIN (SELECT {ticket} AS ticket FROM {h.table} h"
            f" WHERE ({h.queue_moves}){scope} GROUP BY {ticket}) {MOVED}"
            f" ON {MOVED}.ticket = {self.m.expression('id')}"
        )

    @property
    def has_status_history(self) -> bool:
        return self.m.history is not None and self.m.history.status is not None

    # -- statements ---------------------------------------------------------------------

    def agents(self) -> sa.Select[Any] | None:
        """Per (queue, assignee): open tickets and the oldest one's creation."""
        if not self.f.has("assignee"):
            return None
        queue, by_queue = self.q.queue()
        assignee = self.f.require("assignee")
        return sorted_groups(
            sa.select(
                queue,
                assignee.label("agent"),
                sa.func.count().label("n"),
                sa.func.min(self.f.require("created_at")).label("oldest"),
            )
            .select_from(self._from(["queue", "assignee", "created_at"]))
            .where(*self.q.scope(), self.q.open_predicate(), assignee.is_not(None))
            .group_by(*by_queue, assignee)
        )

    def stale(self, now: datetime) -> sa.Select[Any] | None:
        """Per queue: open tickets not updated for longer than each age, oldest update."""
        if not self.config.stale_after or not self.f.has("updated_at"):
            return None
        queue, by_queue = self.q.queue()
        columns: list[ColumnElement[Any]] = [
            queue,
            sa.func.min(self.f.require("updated_at")).label("oldest"),
        ]
        columns += [
            _count_if(self.f.before("updated_at", now - age)).label(f"s{i}")
            for i, age in enumerate(self.config.stale_after)
        ]
        return sorted_groups(
            sa.select(*columns)
            .select_from(self._from(["queue", "updated_at"]))
            .where(*self.q.scope(), self.q.open_predicate())
            .group_by(*by_queue)
        )

    def _since(self) -> ColumnElement[Any]:
        """When a waiting ticket entered its status (else its last update)."""
        entered = sa.literal_column(f"{ENTERED}.entered", sa.DateTime())
        if not self.has_status_history:
            return self.f.require("updated_at")
        if self.f.has("updated_at"):
            return sa.func.coalesce(entered, self.f.require("updated_at"))
        return entered

    def _waiting_from(self, fields: list[str]) -> sa.TextClause:
        extra = [self._entered_join()] if self.has_status_history else []
        return self._from(fields, *extra)

    def _is_waiting(self) -> ColumnElement[bool]:
        status = sa.literal_column(self.m.expression("status") or "", sa.String())
        return status.in_([sa.literal(s) for s in self.config.waiting_statuses])

    def waiting(self) -> sa.Select[Any] | None:
        """Per (queue, waiting status): count and when the longest-waiting one entered."""
        if not self.config.waiting_statuses:
            return None
        queue, by_queue = self.q.queue()
        status = self.f.require("status")
        return sorted_groups(
            sa.select(
                queue,
                status.label("status"),
                sa.func.count().label("n"),
                sa.func.min(self._since()).label("since"),
            )
            .select_from(self._waiting_from(["queue", "status", "updated_at"]))
            .where(*self.q.scope(), self.q.open_predicate(), self._is_waiting())
            .group_by(*by_queue, status)
        )

    def listed(self, kind: str) -> sa.Select[Any] | None:
        """The oldest ``listed_tickets`` open tickets per queue: ``stale`` by last update,
        ``waiting`` by their entry into a waiting status."""
        if kind == "stale":
            if not self.config.stale_after or not self.f.has("updated_at"):
                return None
            since, conditions = self.f.require("updated_at"), []
            source = self._from(["id", "queue", "status", "assignee", "updated_at"])
        else:
            if not self.config.waiting_statuses:
                return None
            since, conditions = self._since(), [self._is_waiting()]
            source = self._waiting_from(["id", "queue", "status", "assignee", "updated_at"])
        queue, by_queue = self.q.queue()
        ticket = self.f.require("id")
        ranked = (
            sa.select(
                *self._listed_columns(queue, since),
                sa.func.row_number()
                .over(partition_by=by_queue or None, order_by=(since, ticket))
                .label("rn"),
            )
            .select_from(source)
            .where(*self.q.scope(), self.q.open_predicate(), *conditions)
            .subquery("ranked")
        )
        keep = ranked.c.rn <= self.config.listed_tickets
        return sa.select(*(c for c in ranked.c if c.name != "rn")).where(keep)

    def _listed_columns(self, queue: Any, since: Any) -> list[Any]:
        """The columns of a listed ticket: queue, ticket, status, assignee, since."""
        assignee = self.f.get("assignee")
        return [
            queue,
            self.f.require("id").label("ticket"),
            self.f.require("status").label("status"),
            (assignee if assignee is not None else sa.null()).label("assignee"),
            since.label("since"),
        ]

    def can_look_up(self, kind: str) -> bool:
        """Whether :meth:`listed_lookup` can list ``kind`` (its age is a column)."""
        if kind == "stale":
            return bool(self.config.stale_after) and self.f.has("updated_at")
        return bool(self.config.waiting_statuses) and not self.has_status_history

    def listed_lookup(self, kind: str, nulls: tuple[bool, ...]) -> sa.CompoundSelect[Any] | None:
        """MariaDB/MySQL: :meth:`listed` as one bounded ``ORDER BY ... LIMIT`` per queue
        (queue ``i`` bound as ``v{i}``, or NULL where ``nulls[i]``), in one ``UNION
        ALL``: no window function ranking every open ticket. The same tickets (ties by
        id, as the ranking). None when the age is not a column (a status history)."""
        if not nulls or not self.can_look_up(kind):
            return None
        conditions = [self._is_waiting()] if kind == "waiting" else []
        since = self.f.require("updated_at")
        source = self._from(["id", "queue", "status", "assignee", "updated_at"])
        queue, by_queue = self.q.queue()
        ticket = self.f.require("id")
        parts = [
            sa.select(*self._listed_columns(queue, since))
            .select_from(source)
            .where(
                *self.q.scope(),
                self.q.open_predicate(),
                *conditions,
                by_queue[0].is_(None) if is_null else by_queue[0] == sa.bindparam(f"v{i}"),
            )
            .order_by(since, ticket)
            .limit(self.config.listed_tickets)
            for i, is_null in enumerate(nulls)
        ]
        return sa.union_all(*parts)

    def routing_recorded(self) -> set[str]:
        """Which of :data:`ROUTING_FIGURES` (and ``assigned``, the time to first
        assignment) this store records."""
        h = self.m.history
        first = {"assigned"} if self.f.has("first_assigned_at") else set()
        return first | {
            name
            for name, there in zip(
                ROUTING_FIGURES,
                (self.m.reassignments, self.m.reopens, h and h.queue_moves),
                strict=True,
            )
            if there is not None
        }

    def routing(self, window: Window) -> sa.Select[Any] | None:
        """Tickets resolved in the window: count, reassignments, reopened, misrouted."""
        if not self.f.has("resolved_at"):
            return None
        queue, by_queue = self.q.queue()
        # one row per ticket, aggregated around it (first assignment: see sqlqueries.once)
        per_ticket: list[ColumnElement[Any]] = [queue]
        fields = ["queue", "resolved_at"]
        if self.m.reassignments is not None:
            per_ticket.append(_number(self.m, "reassignments").label("reassignments"))
            fields.append("reassignments")
        if self.m.reopens is not None:
            per_ticket.append(_number(self.m, "reopens").label("reopens"))
            fields.append("reopens")
        moved = self.m.history is not None and self.m.history.queue_moves is not None
        if moved:
            per_ticket.append(sa.literal_column(f"{MOVED}.ticket").label("moved"))
        assigned = self.f.has("first_assigned_at")
        if assigned:
            fields += ["created_at", "first_assigned_at"]
        rows = (
            sa.select(*per_ticket)
            .select_from(self._from(fields, *([self._moved_join()] if moved else [])))
            .where(
                *self.q.scope(),
                *self.q.resolved_predicate(),
                self.f.within("resolved_at", window),
            )
        )
        f, ticket = once(self.f, rows, ["first_assigned_at", "created_at"] if assigned else [])
        group: list[ColumnElement[Any]] = [ticket.c.queue] if by_queue else []
        columns: list[ColumnElement[Any]] = [*(group or [queue]), sa.func.count().label("n")]
        if self.m.reassignments is not None:
            columns.append(sa.func.sum(ticket.c.reassignments).label("reassignments"))
        if self.m.reopens is not None:
            columns.append(_count_if(ticket.c.reopens > 0).label("reopened"))
        if moved:
            columns.append(sa.func.count(ticket.c.moved).label("misrouted"))
        if assigned:
            waited = f.duration("first_assigned_at", "created_at", window.end)
            columns += [
                sa.func.count(waited).label("assigned"),
                sa.func.sum(waited).label("first_assignment_s"),
            ]
        return sorted_groups(sa.select(*columns).select_from(ticket).group_by(*group))

    def categories(self, window: Window | None) -> sa.Select[Any] | None:
        """Per (queue, category): open tickets (``window`` None) or arrivals in ``window``."""
        if self.config.top_categories is None or self.m.category is None:
            return None
        queue, by_queue = self.q.queue()
        category = self.f.require("category")
        wanted = (
            [self.q.open_predicate()] if window is None else [self.f.within("created_at", window)]
        )
        return sorted_groups(
            sa.select(queue, category.label("category"), sa.func.count().label("n"))
            .select_from(self._from(["queue", "category", "created_at"]))
            .where(*self.q.scope(), *wanted)
            .group_by(*by_queue, category)
        )


def _h(text: str) -> str:
    """A history field: a bare column name is qualified by the history table's alias."""
    return f"h.{text}" if IDENT.match(text) else text


def _number(mapping: SqlMapping, field: str) -> ColumnElement[int]:
    text = mapping.expression(field) or ""
    return sa.literal_column(f"({text})", sa.Integer())
