"""The poll's open-ticket age quantiles by bounded index lookups (MariaDB/MySQL).

MariaDB and MySQL have no ordered-set aggregate; ranking every open ticket with window
functions (``ROW_NUMBER()``/``COUNT() OVER (PARTITION BY queue)``) writes them all to a
temporary table and sorts it, once per queue partition and again for the source's total:
52 s of the weekly report at 10M tickets (``docs/benchmarks/workload.md``). The poll's
backlog rows already give the open count ``n`` of each queue, so the nearest rank
``ceil(n * p)`` of each quantile is known here, and each per-queue quantile is one
``ORDER BY created DESC LIMIT 1 OFFSET rank - 1`` of that queue's open tickets: a range
of an index that leads with the queue (or the status and queue), bounded by the queue's
own open tickets, no temporary table. The source's total is one ranking of the open
tickets without partition, keeping only the three known ranks (no ``COUNT() OVER``).
All of it is one ``UNION ALL``; the value at a rank does not depend on how ties are
ordered, so the figures are those of the window functions (tested against pandas,
``tests/collectors/test_sql.py``). Proposed in ``docs/benchmarks/sql-poll.md``.

The statement has three parts per queue; building and compiling it costs tens of
milliseconds at 500 queues, so it is compiled once per shape (which queues are NULL,
with or without the total) and only re-bound, when its only bound values are the ranks
and queues (a live poll: a past instant's poll binds instants and is built afresh).

Not for a past instant whose status or queue is read from the store's history
(``PollQueries.past``): every lookup would evaluate each ticket's history subqueries
again, three times per queue; the window functions evaluate them once (Znuny's three
days of real incidents on MariaDB: 8.5 s of lookups, 0.5 s ranked, ``test_backfill.py``).
:class:`CompiledCache` also keeps the workload section's per-queue ticket lists
(``collectors.sqlworkload.WorkloadQueries.listed_lookup``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from collectors.base import TOTAL_QUEUE
from collectors.sqlqueries import QUANTILES, PollQueries

LOOKUP_DIALECTS = frozenset({"mysql", "mariadb"})
"""Where the poll's age quantiles are looked up (elsewhere: ``PollQueries.quantiles``)."""

CACHED_SHAPES = 8
"""Compiled statements kept per collector (a shape changes when queues come and go)."""


def looked_up(dialect: str) -> bool:
    """Whether the poll's age quantiles on ``dialect`` come from :class:`AgeLookups`."""
    return dialect in LOOKUP_DIALECTS


@dataclass(frozen=True)
class AgeRow:
    """A row shaped like those of ``PollQueries.quantiles``: the creation instants at
    the 50th, 90th and 99th percentile of age, newest first."""

    queue: Any
    q50: Any
    q90: Any
    q99: Any
    is_total: int


def _row(queue: Any, found: dict[tuple[int, int], Any], part: int, n: int, flag: int) -> AgeRow:
    q50, q90, q99 = (found.get((part, _offset(n, p))) for _, p in QUANTILES)
    return AgeRow(queue, q50, q90, q99, flag)


def _offset(n: int, p: int) -> int:
    """The 0-based position of nearest rank ``ceil(n * p / 100)``."""
    return (n * p + 99) // 100 - 1


class CompiledCache:
    """Compiled lookup statements of one collector, by shape (the last few kept): a
    statement of hundreds of parts is built and compiled once, then only re-bound."""

    def __init__(self) -> None:
        self._compiled: dict[tuple[Any, ...], Any] = {}

    def run(
        self,
        conn: sa.Connection,
        key: tuple[Any, ...] | None,
        build: Callable[[], sa.ClauseElement],
        values: dict[str, Any],
    ) -> Sequence[Any]:
        """Run ``build()``'s statement with ``values`` bound (``key`` None: not cached,
        for statements that bind more than ``values``)."""
        full = None if key is None else (conn.dialect.name, *key)
        compiled: Any = self._compiled.get(full) if full is not None else None
        if compiled is None:
            compiled = build().compile(dialect=conn.dialect)
            if full is not None:
                if len(self._compiled) >= CACHED_SHAPES:
                    self._compiled.clear()
                self._compiled[full] = compiled
        params: Any = compiled.construct_params(values)
        if compiled.positiontup:
            params = tuple(params[name] for name in compiled.positiontup)
        return conn.exec_driver_sql(str(compiled), params).all()


class AgeLookups(CompiledCache):
    """Looks up the open-age quantiles of one collector's polls."""

    def rows(
        self, conn: sa.Connection, q: PollQueries, backlog: Sequence[Any], with_total: bool
    ) -> list[AgeRow]:
        """Quantile rows per queue (and, with ``with_total`` or for a total statement,
        the source's, flagged ``is_total``) for the open counts of ``backlog``."""
        counts: dict[Any, int] = defaultdict(int)
        for row in backlog:
            counts[row.queue] += int(row.n)
        _, by_queue = q.queue()
        items = [(value, n) for value, n in counts.items() if n > 0] if by_queue else []
        n_total = sum(counts.values())
        total = n_total > 0 and (with_total or not by_queue)
        if not items and not total:
            return []
        shape = (tuple(value is None for value, _ in items), total)
        values: dict[str, Any] = {}
        for i, (value, n) in enumerate(items):
            if value is not None:
                values[f"v{i}"] = value
            for _, p in QUANTILES:
                values[f"o{i}_{p}"] = _offset(n, p)
        for _, p in QUANTILES:
            values[f"t{p}"] = _offset(n_total, p) + 1
        found = self._run(conn, q, shape, values)
        out = [_row(value, found, i, n, 0) for i, (value, n) in enumerate(items)]
        if total:
            out.append(_row(TOTAL_QUEUE, found, -1, n_total, 1))
        return out

    def _run(
        self,
        conn: sa.Connection,
        q: PollQueries,
        shape: tuple[tuple[bool, ...], bool],
        values: dict[str, Any],
    ) -> dict[tuple[int, int], Any]:
        """(part, 0-based position) -> creation instant."""
        key = ("ages", q.total, q.f.skip, shape) if q.as_of is None else None
        rows = self.run(conn, key, lambda: _statement(q, *shape), values)
        return {(int(r[0]), int(r[1])): r[2] for r in rows}


def _statement(q: PollQueries, nulls: tuple[bool, ...], total: bool) -> sa.CompoundSelect[Any]:
    """Columns: part (queue index, -1 for the total), 0-based position, creation instant."""
    f = q.f
    created = f.require("created_at")
    where = [*q.scope(), q.open_predicate()]
    parts: list[sa.Select[Any]] = []
    _, by_queue = q.queue()
    for i, is_null in enumerate(nulls):
        queue = by_queue[0]
        which = queue.is_(None) if is_null else queue == sa.bindparam(f"v{i}")
        for _, p in QUANTILES:
            offset = sa.bindparam(f"o{i}_{p}", type_=sa.Integer())
            parts.append(
                sa.select(
                    sa.literal_column(str(i), sa.Integer()).label("part"),
                    offset.label("position"),
                    created.label("created"),
                )
                .select_from(q.source())
                .where(*where, which)
                .order_by(created.desc())
                .limit(1)
                .offset(offset)
            )
    if total:
        ranked = (
            sa.select(
                created.label("created"),
                sa.func.row_number().over(order_by=created.desc()).label("rn"),
            )
            .select_from(q.source())
            .where(*where)
            .subquery("ranked")
        )
        ranks = [sa.bindparam(f"t{p}", type_=sa.Integer()) for _, p in QUANTILES]
        parts.append(
            sa.select(
                sa.literal_column("-1", sa.Integer()).label("part"),
                (ranked.c.rn - 1).label("position"),
                ranked.c.created,
            ).where(ranked.c.rn.in_(ranks))
        )
    return sa.union_all(*parts)
