"""The weekly report's nearest-rank quantiles from a ``GROUP BY`` of value counts, picked
in Python (MariaDB/MySQL).

MariaDB and MySQL have no ordered-set aggregate (PostgreSQL's ``percentile_disc``), and
ranking every row with window functions materializes and sorts the ranked rows in
temporary tables: at 10M tickets that was most of the weekly report's time
(``docs/benchmarks/workload.md``). Instead, the database groups the period's tickets by
(queue, duration) and counts them, one sort and no window; Python walks each queue's
values in order, summing the counts, and takes the value at rank ``ceil(n * p)``: the
same value the ``ROW_NUMBER()`` ranking picks (equal values are tied whatever their
order), on any dialect. When no ticket is in two queues the source's total is the merge
of the queues' counts, so the period's tickets are read once for both.

What travels is one row per distinct (queue, duration): at most the number of tickets
in the period, far fewer when durations repeat; :func:`pick` consumes them as they come
(the report streams them), keeping only the counts. That is fine for a weekly report, not
for a poll: the poll's open-age quantiles keep their window functions
(``collectors.sqlqueries.PollQueries.quantiles``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.expression import ColumnElement

from collectors.base import TOTAL_QUEUE
from collectors.sqlqueries import sorted_groups

COUNTED_DIALECTS = frozenset({"mysql", "mariadb"})
"""Where the report's quantiles are picked from value counts (elsewhere: ordered-set
aggregates on PostgreSQL, window functions on SQLite)."""


def counted(dialect: str) -> bool:
    """Whether quantile statements on ``dialect`` group value counts (:func:`value_counts`)."""
    return dialect in COUNTED_DIALECTS


def value_counts(
    base: sa.Select[Any], queue: ColumnElement[Any], by_queue: list[Any], value: ColumnElement[Any]
) -> sa.Select[Any]:
    """``base`` (its FROM and WHERE) grouped by queue and ``value``: columns ``queue``,
    ``v`` (the value, NULL included) and ``n`` (how many rows have it).

    ``SQL_BIG_RESULT`` on MariaDB/MySQL: the groups are many, so sort rather than walk
    an index that leads with the queue (:func:`collectors.sqlqueries.sorted_groups`)."""
    v = value.label("v")  # grouped by its name: its bound parameters are not repeated
    counts = base.add_columns(queue, v, sa.func.count().label("n"))
    return sorted_groups(counts.group_by(*by_queue, v))


@dataclass(frozen=True)
class Picked:
    """One queue's quantiles, with the attribute names the callers' rows have:
    ``queue``, ``n``, ``is_total`` and one attribute per picked name."""

    queue: Any
    n: int
    is_total: int
    values: dict[str, Any] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        values = self.__dict__.get("values", {})
        if name in values:
            return values[name]
        raise AttributeError(name)


def pick(
    rows: Iterable[Any],
    percents: Sequence[tuple[str, int]],
    descending: bool = False,
    with_total: bool = False,
) -> list[Picked]:
    """Per queue (and, with ``with_total``, for every row together as the row flagged
    ``is_total`` with queue :data:`TOTAL_QUEUE`): the value at nearest rank
    ``ceil(n * p / 100)`` for each ``(name, p)`` of ``percents``, in ascending order of
    the value (``descending``: largest first). NULL ranks as the smallest value, as it
    sorts on MariaDB, MySQL and SQLite."""
    per_queue: dict[Any, dict[Any, int]] = defaultdict(lambda: defaultdict(int))
    total: dict[Any, int] = defaultdict(int)
    for r in rows:
        per_queue[r.queue][r.v] += int(r.n)
        if with_total:
            total[r.v] += int(r.n)
    out = [
        Picked(queue, *_ranked(counts, percents, descending, 0))
        for queue, counts in per_queue.items()
    ]
    if with_total and total:
        out.append(Picked(TOTAL_QUEUE, *_ranked(total, percents, descending, 1)))
    return out


def _ranked(
    counts: dict[Any, int], percents: Sequence[tuple[str, int]], descending: bool, flag: int
) -> tuple[int, int, dict[str, Any]]:
    n = sum(counts.values())
    nulls = counts.pop(None, 0)
    order = sorted(counts, reverse=descending)
    # NULL is the smallest value: first ascending, last descending
    ranked: list[tuple[Any, int]] = [(v, counts[v]) for v in order]
    if nulls:
        ranked = [*ranked, (None, nulls)] if descending else [(None, nulls), *ranked]
    wanted = {name: (n * p + 99) // 100 for name, p in percents}
    values: dict[str, Any] = {}
    seen = 0
    for value, count in ranked:
        seen += count
        for name, rank in wanted.items():
            if name not in values and rank <= seen:
                values[name] = value
        if len(values) == len(wanted):
            break
    return n, flag, values
