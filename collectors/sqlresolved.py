"""The weekly report's reads of the period's resolved tickets, as one statement.

The report needs, of the tickets resolved in the period, the poll's counts and duration
sums (``PollQueries.resolved``), the workload section's routing figures
(``WorkloadQueries.routing``), the resolution-time quantiles
(``ReportQueries.resolution_quantiles``) and the SLA attainment
(``ReportQueries.sla_attainment``): four statements over the same rows, each reading and
grouping (on MariaDB sorting) them again. Where the engine allows, :func:`statement`
gives all of it in one:

- PostgreSQL: per queue the counts, sums and ``percentile_disc`` of the durations, with
  ``ROLLUP`` for the total's quantiles (the sums of the ``ROLLUP`` row are not read: the
  poll adds up the queues' rows, as before);
- MariaDB/MySQL: per (queue, duration) the count and the sums (``SQL_BIG_RESULT``, one
  sort), the quantiles picked from the counts as ``collectors.sqlranks`` does, the
  queues' sums added up in Python (exact: integer seconds).

Only when every ticket is in one queue (no ``fan_out``: the total is the sum of the
queues) and for a live window (not measured as of a past instant); elsewhere, and on
SQLite (window-function quantiles), the report keeps the separate statements.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.expression import ColumnElement

from collectors.base import TOTAL_QUEUE, Window
from collectors.sqlqueries import PollQueries, _count_if, sorted_groups
from collectors.sqlranks import counted, pick
from collectors.sqlreport import REPORT_QUANTILES, REPORT_QUANTILES_NAMED, ReportQueries
from collectors.sqlworkload import MOVED, ROUTING_FIGURES, WorkloadQueries, _number
from collectors.workload import Routing

SUMS = ("n", "res_sum", "res_n", "fr_sum", "fr_n")
"""The poll's resolved-statement columns (``collectors.sqlassembly.RESOLVED_SUMS``)."""


def once(dialect: str) -> bool:
    """Whether the report reads the period's resolved tickets once on ``dialect``."""
    return dialect == "postgresql" or counted(dialect)


@dataclass(frozen=True)
class Resolved:
    """What the one statement gave, in the shapes of the statements it replaces."""

    poll: list[Any]
    """Per queue: rows with ``queue`` and the poll's :data:`SUMS` (``PollRows.resolved``)."""
    routing: dict[str, Routing] | None
    """Per queue, the workload section's routing figures (None: no workload section)."""
    resolution: dict[str, tuple[int, float | None, float | None]]
    """Per queue and :data:`TOTAL_QUEUE`: (tickets with a duration, median, p90)."""
    sla: dict[str, tuple[int, int]] | None
    """Per queue: (resolved with a deadline, resolved by it); None when not known."""


class ResolvedOnce:
    """The one statement of the period's resolved tickets for a poll's queries and,
    optionally, a workload section's (its routing columns), and the split of its rows."""

    def __init__(self, q: PollQueries, wq: WorkloadQueries | None, window: Window) -> None:
        self.q, self.f, self.wq, self.window = q, q.f, wq, window
        self.routed = set() if wq is None else wq.routing_recorded()
        self.sla = ReportQueries(q).sla_attainment(window) is not None

    def statement(self, dialect: str) -> sa.Select[Any]:
        f, q, window = self.f, self.q, self.window
        queue, by_queue = q.queue()
        took = f.duration("resolved_at", "created_at", window.end)
        columns: list[ColumnElement[Any]] = [queue, sa.func.count().label("n")]
        if dialect == "postgresql":  # (MariaDB: from the grouped durations, in Python)
            columns += [sa.func.sum(took).label("res_sum"), sa.func.count(took).label("res_n")]
        fields = ["queue", "created_at", "resolved_at", "reassignments", "reopens"]
        if f.has("first_response_at"):
            responded = f.duration("first_response_at", "created_at", window.end)
            columns += [
                sa.func.sum(responded).label("fr_sum"),
                sa.func.count(responded).label("fr_n"),
            ]
            fields.append("first_response_at")
        columns += self._routing_columns()
        if self.sla:
            due, resolved = f.require("resolution_due_at"), f.require("resolved_at")
            columns += [
                sa.func.count(due).label("sla_n"),
                _count_if(sa.and_(due.is_not(None), resolved <= due)).label("sla_met"),
            ]
            fields.append("resolution_due_at")
        source = q.source(fields).text
        if self.wq is not None and "misrouted" in self.routed:
            source = f"{source} {self.wq._moved_join()}"
        base = (
            sa.select(*columns)
            .select_from(sa.text(source))
            .where(*q.scope(), *q.resolved_predicate(), f.within("resolved_at", window))
        )
        if dialect == "postgresql":
            ordered = f.duration("resolved_at", "created_at", window.end, ordering=True)
            picks = [
                sa.func.percentile_disc(p / 100).within_group(ordered).label(name)
                for p, name in REPORT_QUANTILES
            ]
            flag = sa.func.grouping(*by_queue).label("is_total")
            return base.add_columns(*picks, flag).group_by(sa.func.rollup(*by_queue))
        v = took.label("v")  # grouped by its name: its bound parameters are not repeated
        return sorted_groups(base.add_columns(v).group_by(*by_queue, v))

    def _routing_columns(self) -> list[ColumnElement[Any]]:
        if self.wq is None:
            return []
        m = self.wq.m
        out: list[ColumnElement[Any]] = []
        if "reassignments" in self.routed:
            out.append(sa.func.sum(_number(m, "reassignments")).label("reassignments"))
        if "reopened" in self.routed:
            out.append(_count_if(_number(m, "reopens") > 0).label("reopened"))
        if "misrouted" in self.routed:
            out.append(sa.func.count(sa.literal_column(f"{MOVED}.ticket")).label("misrouted"))
        return out

    def read(self, conn: sa.Connection) -> Resolved:
        """Run the statement and split its rows into the replaced statements' figures."""
        dialect = conn.dialect.name
        statement = self.statement(dialect)
        sums = _Sums()
        if dialect == "postgresql":
            resolution = {}
            for r in conn.execute(statement):
                m = r._mapping
                key = TOTAL_QUEUE if m["is_total"] else sums.add(m)
                resolution[key] = (int(m["res_n"]), _float(m["median"]), _float(m["p90"]))
            return self._split(sums, resolution)
        # one row per (queue, duration): streamed, summed and counted as they come
        streamed = conn.execute(statement.execution_options(stream_results=True))
        picked = pick(_durations(streamed, sums), REPORT_QUANTILES_NAMED, with_total=True)
        resolution = {
            TOTAL_QUEUE if p.is_total else str(p.queue): (int(p.n), _float(p.median), _float(p.p90))
            for p in picked
        }
        return self._split(sums, resolution)

    def _split(
        self, sums: _Sums, resolution: dict[str, tuple[int, float | None, float | None]]
    ) -> Resolved:
        per = sums.per
        labels = sums.labels
        poll = [
            SimpleNamespace(queue=labels[k], **{c: s[c] for c in SUMS if c in s})
            for k, s in per.items()
        ]
        routing = None
        if self.wq is not None:  # keyed by the queue's value, as the routing statement's rows
            routing = {
                labels[k]: Routing(
                    int(s["n"]), *(int(s[c]) if c in s else None for c in ROUTING_FIGURES)
                )
                for k, s in per.items()
            }
        sla = None
        if self.sla:  # per queue, and the total as their sum (no ticket is in two queues)
            sla = {labels[k]: (int(s["sla_n"]), int(s["sla_met"])) for k, s in per.items()}
            sla[TOTAL_QUEUE] = (sum(n for n, _ in sla.values()), sum(m for _, m in sla.values()))
        return Resolved(poll, routing, resolution, sla)


class _Sums:
    """Per queue, the sum of every numeric column of the rows added."""

    SKIP = frozenset({"queue", "v", "median", "p90", "is_total"})

    def __init__(self) -> None:
        self.per: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        self.labels: dict[str, Any] = {}

    def add(self, m: Any) -> str:
        key = str(m["queue"])
        self.labels[key] = m["queue"]
        sums = self.per[key]
        for name, value in m.items():
            if name not in self.SKIP:
                sums[name] += float(value or 0)
        return key


def _durations(rows: Iterable[Any], sums: _Sums) -> Iterator[Any]:
    """The (queue, duration) rows with a duration, for :func:`collectors.sqlranks.pick`;
    every row is also added to ``sums``, with the sum and count of its durations
    (``res_sum``, ``res_n``: the duration times its count; integer seconds, exact)."""
    for r in rows:
        m = dict(r._mapping)
        v, n = m["v"], int(m["n"])
        m["res_sum"] = 0.0 if v is None else float(v) * n
        m["res_n"] = 0 if v is None else n
        sums.add(m)
        if v is not None:
            yield r


def _float(value: Any) -> float | None:
    return None if value is None else float(value)
