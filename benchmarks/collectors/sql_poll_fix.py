"""A proposed change to the SQL collector, measured by ``sql_poll`` (not production code).

**Age quantiles by index lookups.** ``PollQueries.quantiles`` ranks every open ticket
with window functions (``ROW_NUMBER``/``COUNT OVER (PARTITION BY queue)``) on MySQL and
MariaDB: the server materialises and sorts all open tickets in a temporary table
(about 470,000 handler reads for 47,000 open tickets). The backlog statement already
returns the open count per queue, so the nearest rank of each quantile is known in Python
(``ceil(n * p)``); each quantile is then one ``ORDER BY created_at DESC LIMIT 1 OFFSET
rank - 1`` lookup that walks the ``(status, queue, created_at)`` index, no sort, no
temporary table. All lookups go in one ``UNION ALL`` statement. The statements of a poll
run in one transaction, so on InnoDB (REPEATABLE READ) the counts and the lookups see the
same snapshot; under READ COMMITTED a lookup past the end returns no row and the quantile
is omitted for that poll.

``OffsetQuantileCollector`` is ``SqlCollector`` with exactly that change; the diff for
``collectors/sql.py`` and ``collectors/sqlqueries.py`` is in ``docs/benchmarks/sql-poll.md``.
"""

from __future__ import annotations

from collections import defaultdict
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa

from collectors.base import AGE_BUCKETS, Snapshot, Window
from collectors.sql import SqlCollector
from collectors.sqlassembly import Assembly, Label, PollRows, _label, queue_label
from collectors.sqlqueries import QUANTILES, PollQueries
from collectors.sqlsession import translate_db_error


class QuantileLookups:
    """Nearest-rank quantiles by index lookups: per queue with ``n`` open tickets, the
    ``created_at`` at rank ``ceil(n*p)``, newest first, for every quantile, in one
    ``UNION ALL``.

    The statement has one part per queue and quantile (201 for 67 queues). Building and
    cache-keying that Core tree costs about 30 ms of Python per poll (measured), more than
    the lookups save, so it is built and compiled once per number of queues (and NULL
    queue positions), and each poll only binds the queue values and offsets.
    """

    def __init__(self, q: PollQueries) -> None:
        self.q = q
        self._compiled: dict[tuple[bool, ...], Any] = {}

    def rows(self, conn: sa.Connection, counts: dict[Any, int]) -> list[Any]:
        items = list(counts.items())
        if not items:
            return []
        shape = tuple(value is None for value, _ in items)
        compiled = self._compiled.get(shape)
        if compiled is None:
            compiled = self._compiled[shape] = self._statement(shape).compile(dialect=conn.dialect)
        values: dict[str, Any] = {}
        for i, (value, n) in enumerate(items):
            if value is not None:
                values[f"v{i}"] = value
            for _, p in QUANTILES:
                values[f"o{i}_{p}"] = (n * p + 99) // 100 - 1
        params: Any = compiled.construct_params(values)
        if compiled.positiontup:
            params = tuple(params[name] for name in compiled.positiontup)
        return list(conn.exec_driver_sql(str(compiled), params).all())

    def _statement(self, shape: tuple[bool, ...]) -> sa.CompoundSelect[Any]:
        q, f = self.q, self.q.f
        queue, created = f.require("queue"), f.require("created_at")
        parts = [
            sa.select(
                queue.label("queue"), sa.literal_column(str(p)).label("p"), created.label("created")
            )
            .select_from(q.source())
            .where(
                *q.scope(),
                q.open_predicate(),
                queue.is_(None) if is_null else queue == sa.bindparam(f"v{i}"),
            )
            .order_by(created.desc())
            .limit(1)
            .offset(sa.bindparam(f"o{i}_{p}", type_=sa.Integer()))
            for i, is_null in enumerate(shape)
            for _, p in QUANTILES
        ]
        return sa.union_all(*parts)


LOOKUP_DIALECTS = ("mysql", "mariadb")
"""Where the lookups pay: on PostgreSQL ``percentile_disc`` over an index-only scan is
about 3 times faster than 201 lookups (measured), so PostgreSQL keeps it."""


class OffsetQuantileCollector(SqlCollector):
    """``SqlCollector`` with the age quantiles taken by index lookups on MySQL/MariaDB."""

    def __init__(self, config: Any, engine: sa.Engine | None = None) -> None:
        super().__init__(config, engine)
        self._lookups = QuantileLookups(self._queries)

    def collect(self, window: Window) -> Snapshot:
        engine = self._connect()
        if engine.dialect.name not in LOOKUP_DIALECTS:
            return super().collect(window)
        q = self._queries
        with translate_db_error(self.name), engine.connect() as conn:
            backlog = conn.execute(q.backlog(window.end)).all()
            created = conn.execute(q.created(window)).all()
            resolved = (
                conn.execute(q.resolved(window)).all() if self.config.mapping.resolved_at else None
            )
            counts: dict[Any, int] = defaultdict(int)
            for row in backlog:
                counts[row.queue] += int(row.n)
            picks = self._lookups.rows(conn, counts)
            breaches_query = q.sla_breaches(window)
            breaches = conn.execute(breaches_query).all() if breaches_query is not None else None
            reopened_query = q.reopened(window)
            reopened = conn.execute(reopened_query).all() if reopened_query is not None else None
        by_queue: dict[Any, dict[str, Any]] = defaultdict(dict)
        for value, p, created_at in picks:
            by_queue[value][f"q{p}"] = created_at
        quantiles = [
            SimpleNamespace(queue=value, **{f"q{p}": v.get(f"q{p}") for _, p in QUANTILES})
            for value, v in by_queue.items()
        ]
        rows = PollRows(backlog, created, resolved, quantiles, breaches, reopened)
        # the per-queue figures only: the lookups give no source-wide quantiles
        return Snapshot(
            source=self.name,
            window=window,
            queues=tuple(Assembly(q.f, window.end, self.from_store).queues(rows)),
        )


class FastAssembly(Assembly):
    """``Assembly`` reading each backlog row once as a tuple (column positions looked up
    once per poll) instead of ~10 ``Row.__getattr__`` calls per row: a proposed change to
    ``collectors/sql.py`` (same output, measured by ``sql_poll``)."""

    def _open(self, backlog: Any, label: Label) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = defaultdict(self._empty)
        if not backlog:
            return out
        ix = {k: i for i, k in enumerate(backlog[0]._fields)}
        iq, ist, ipr, inn, iold = (ix[k] for k in ("queue", "status", "priority", "n", "oldest"))
        buckets = [(name, ix[f"gt_{name}"]) for name, _ in AGE_BUCKETS]
        extras = [("unassigned", ix["unassigned"])] if self.has_assignee else []
        extras += [(k, ix[k]) for _, s in self.sla for k in (f"{s}_breached", f"{s}_at_risk")]
        from_store = self.from_store
        for row in backlog:
            t = tuple(row)
            f = out[label(row) if label is not queue_label else _label(t[iq])]
            key = (_label(t[ist]), _label(t[ipr]))
            by = f["by"]
            by[key] = by.get(key, 0) + int(t[inn])
            first = from_store(t[iold])
            if first is not None and (f["oldest"] is None or first < f["oldest"]):
                f["oldest"] = first
            older = f["older"]
            for name, i in buckets:
                older[name] += int(t[i] or 0)
            for k, i in extras:
                f[k] += int(t[i] or 0)
        return out
