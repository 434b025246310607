"""Running the workload statements and assembling :class:`QueueWorkload` per queue."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa

from collectors.base import Window
from collectors.sqllookups import CompiledCache, looked_up
from collectors.sqlworkload import ROUTING_FIGURES, WorkloadQueries
from collectors.workload import (
    AgeFrom,
    ListedTicket,
    QueueWorkload,
    Routing,
    Waiting,
    age_label,
    bound_agents,
    spread,
    top_categories,
)

FromStore = Callable[[Any, str], datetime | None]


@dataclass(frozen=True)
class Arrivals:
    """The period's arrivals per (queue, category) (``WorkloadQueries.categories`` over
    the window), read once by the weekly report for the workload section and, summed per
    queue, for the poll's created counts (``SqlCollector._arrivals_once``)."""

    rows: Sequence[Any]
    joins: tuple[str, ...]
    """The aliases of the joins the statement made (the created statement must make the
    same, so that the same rows are counted)."""

    def created(self) -> list[Any]:
        """Rows shaped like the poll's created statement's: ``queue`` and ``n``."""
        counts: dict[Any, int] = {}
        for r in self.rows:
            counts[r.queue] = counts.get(r.queue, 0) + int(r.n)
        return [SimpleNamespace(queue=queue, n=n) for queue, n in counts.items()]


def read_workload(
    conn: sa.Connection,
    wq: WorkloadQueries,
    window: Window,
    from_store: FromStore,
    queues: Iterable[str],
    cache: CompiledCache | None = None,
    routing: dict[Any, Routing] | None = None,
    arrivals: Sequence[Any] | None = None,
) -> dict[str, QueueWorkload]:
    """Every configured workload figure of each queue (``queues`` plus those found).

    ``routing``: the routing figures when they were read already (the weekly report reads
    them with the period's other resolved-ticket figures, ``collectors.sqlresolved``);
    ``arrivals``: the rows of the arrivals' categories statement when it ran already
    (the weekly report, :class:`Arrivals`).

    On MariaDB/MySQL the ticket lists are looked up per queue (the queues of the stale
    and waiting counts), with ``cache`` keeping the compiled statements across polls."""
    now = window.end
    reader = _Reader(conn, now, from_store)
    raw = reader.agents(wq)
    agents = bound_agents(raw, wq.config.agents)
    stale = reader.stale(wq, now)
    waiting = reader.waiting(wq)
    found_in = {"stale": list(stale or {}), "waiting": list(waiting or {})}
    listed = {kind: reader.listed(wq, kind, found_in[kind], cache) for kind in ("stale", "waiting")}
    if routing is None:
        routing = reader.routing(wq, window)
    categories = [reader.categories(wq, None), reader.categories(wq, window, arrivals)]
    found = {*queues, *agents, *(stale or {}), *(routing or {})}
    out = {}
    for queue in sorted(found):
        loads = agents.get(queue, ()) if wq.f.has("assignee") else None
        per_agent = raw.get(queue, {})
        most, median, share = spread(n for n, _ in per_agent.values())
        oldest_update, counts = (stale or {}).get(queue, (None, None))
        out[queue] = QueueWorkload(
            agents=loads,
            agents_with_work=None if loads is None else len(per_agent),
            load_max=most,
            load_median=median,
            busiest_share=share,
            stale=counts if stale is not None else None,
            oldest_update_age_s=oldest_update,
            stale_tickets=listed["stale"].get(queue, ()),
            waiting=tuple(waiting.get(queue, ())) if waiting is not None else None,
            waiting_tickets=listed["waiting"].get(queue, ()),
            routing=_routing_of(routing, queue, wq),
            categories_open=_top(categories[0], queue, wq),
            categories_created=_top(categories[1], queue, wq),
        )
    if stale is not None:
        zero = {age_label(a): 0 for a in wq.config.stale_after}
        out = {q: _with_stale_zeros(w, zero) for q, w in out.items()}
    return out


class _Reader:
    def __init__(self, conn: sa.Connection, now: datetime, from_store: FromStore) -> None:
        self.conn, self.now, self.from_store = conn, now, from_store

    def rows(self, statement: sa.Executable | None) -> Sequence[sa.Row[Any]] | None:
        return None if statement is None else self.conn.execute(statement).all()

    def age(self, value: Any, field: str) -> float | None:
        at = self.from_store(value, field)
        return None if at is None else (self.now - at).total_seconds()

    def agents(self, wq: WorkloadQueries) -> dict[str, dict[str, tuple[int, float | None]]]:
        """queue -> agent id -> (open tickets, oldest open age in seconds)."""
        loads: dict[str, dict[str, tuple[int, float | None]]] = defaultdict(dict)
        from_store, now = self.from_store, self.now
        # one row per (queue, agent): tens of thousands on a large desk, so unpacked as
        # tuples (queue, agent, n, oldest: the statement's order) and the age inlined
        rows: Sequence[Any] = self.rows(wq.agents()) or ()
        for queue, agent, n, oldest in rows:
            at = from_store(oldest, "created_at")
            loads[queue][str(agent)] = (int(n), None if at is None else (now - at).total_seconds())
        return loads

    def stale(
        self, wq: WorkloadQueries, now: datetime
    ) -> dict[str, tuple[float | None, dict[str, int]]] | None:
        rows = self.rows(wq.stale(now))
        if rows is None:
            return None
        labels = [age_label(a) for a in wq.config.stale_after]
        return {
            r.queue: (
                self.age(r.oldest, "updated_at"),
                {label: int(r._mapping[f"s{i}"] or 0) for i, label in enumerate(labels)},
            )
            for r in rows
        }

    def waiting(self, wq: WorkloadQueries) -> dict[str, list[Waiting]] | None:
        rows = self.rows(wq.waiting())
        if rows is None:
            return None
        source: AgeFrom = "status_history" if wq.has_status_history else "last_update"
        out: dict[str, list[Waiting]] = defaultdict(list)
        for r in sorted(rows, key=lambda r: (r.queue, str(r.status))):
            age = self.age(r.since, "updated_at")
            out[r.queue].append(Waiting(str(r.status), int(r.n), age, source))
        return out

    def listed(
        self, wq: WorkloadQueries, kind: str, queues: list[Any], cache: CompiledCache | None
    ) -> dict[str, tuple[ListedTicket, ...]]:
        out: dict[str, list[ListedTicket]] = defaultdict(list)
        rows: Sequence[Any] | None = None
        nulls = tuple(q is None for q in queues)
        lookups = looked_up(self.conn.dialect.name) and wq.can_look_up(kind)
        if lookups and queues:
            values = {f"v{i}": q for i, q in enumerate(queues) if q is not None}
            key = ("listed", kind, nulls, wq.m.model_dump_json(), wq.config.model_dump_json())

            def build() -> sa.ClauseElement:
                statement = wq.listed_lookup(kind, nulls)
                assert statement is not None
                return statement

            rows = (cache or CompiledCache()).run(self.conn, key, build, values)
        elif not lookups:  # (with lookups and no queue: nothing open to list)
            rows = self.rows(wq.listed(kind))
        for r in rows or ():
            assignee = None if r.assignee is None else str(r.assignee)
            age = self.age(r.since, "updated_at") or 0.0
            ticket = str(r.ticket)
            link = wq.config.link(ticket)
            out[r.queue].append(ListedTicket(ticket, str(r.status), assignee, age, link))
        # oldest first, ties by id (as the statement ranked them)
        return {q: tuple(sorted(t, key=lambda t: (-t.age_s, t.id))) for q, t in out.items()}

    def routing(self, wq: WorkloadQueries, window: Window) -> dict[str, Routing] | None:
        rows = self.rows(wq.routing(window))
        if rows is None:
            return None
        out = {}
        for r in rows:
            m = r._mapping
            counts = {name: _int(m, name) for name in ROUTING_FIGURES}
            if "assigned" in m:  # the sum is NULL when none of them was ever assigned
                counts["assigned"] = int(m["assigned"] or 0)
                waited = float(m["first_assignment_s"] or 0)
                out[r.queue] = Routing(int(r.n), **counts, first_assignment_s=waited)
            else:
                out[r.queue] = Routing(int(r.n), **counts)
        return out

    def categories(
        self, wq: WorkloadQueries, window: Window | None, given: Sequence[Any] | None = None
    ) -> dict[str, dict[str, int]] | None:
        rows = given if given is not None else self.rows(wq.categories(window))
        if rows is None:
            return None
        out: dict[str, dict[str, int]] = defaultdict(dict)
        for r in rows:
            name = "none" if r.category is None else str(r.category)
            out[r.queue][name] = out[r.queue].get(name, 0) + int(r.n)
        return out


def _int(row: Any, key: str) -> int | None:
    if key not in row:
        return None
    return int(row[key] or 0)


def _routing_of(
    routing: dict[str, Routing] | None, queue: str, wq: WorkloadQueries
) -> Routing | None:
    """The queue's routing figures; a queue that resolved nothing has zeros where the
    store records the figure (and None where it does not)."""
    if routing is None:
        return None
    found = routing.get(queue)
    if found is not None:
        return found
    recorded = wq.routing_recorded()
    counts = {name: 0 if name in recorded else None for name in ROUTING_FIGURES}
    if "assigned" in recorded:
        return Routing(0, **counts, assigned=0, first_assignment_s=0.0)
    return Routing(0, **counts)


def _top(
    counts: dict[str, dict[str, int]] | None, queue: str, wq: WorkloadQueries
) -> dict[str, int] | None:
    if counts is None or wq.config.top_categories is None:
        return None
    return top_categories(counts.get(queue, {}), wq.config.top_categories)


def _with_stale_zeros(w: QueueWorkload, zero: dict[str, int]) -> QueueWorkload:
    return replace(w, stale=w.stale if w.stale is not None else dict(zero))
