"""Turning the rows of one SQL poll into :class:`QueueStats` (pure).

The statements of :mod:`collectors.sqlqueries` return one row per queue (and status and
priority for the backlog). Rows are accumulated by a *label*: the queue for the per-queue
figures, :data:`TOTAL_QUEUE` for the source's total when the queues do not overlap (every
ticket is in exactly one queue, so summing counts, durations and their counts over the
queues counts each ticket once; minimum ages combine by ``min``). Quantiles do not
combine: the quantile statement returns the source-wide ones itself.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from collectors.base import AGE_BUCKETS, TOTAL_QUEUE, QueueStats
from collectors.sqlqueries import QUANTILES, Fields

FromStore = Callable[[Any], datetime | None]
Label = Callable[[Any], str]

SLA_KINDS = (("first_response", "fr"), ("resolution", "res"))
RESOLVED_SUMS = ("n", "res_sum", "res_n", "fr_sum", "fr_n")


@dataclass(frozen=True)
class PollRows:
    """The rows of one poll's statements (None: the statement was not run)."""

    backlog: Sequence[Any]
    created: Sequence[Any]
    resolved: Sequence[Any] | None
    quantiles: Sequence[Any]
    breaches: Sequence[Any] | None
    reopened: Sequence[Any] | None


def queue_label(row: Any) -> str:
    """A row's queue as a metric label (None becomes an empty string)."""
    return _label(row.queue)


def total_label(_row: Any) -> str:
    return TOTAL_QUEUE


class Assembly:
    """Builds the figures of one poll from its rows, for the fields the statements read.

    Args:
        fields: the fields of the statements (``has`` tells which figures were read).
        now: the poll's as-of instant (ages are measured from it).
        from_store: turns a stored instant into an aware UTC datetime.
    """

    def __init__(self, fields: Fields, now: datetime, from_store: FromStore) -> None:
        self.now = now
        self.from_store = from_store
        self.has_assignee = fields.has("assignee")
        self.sla = [(k, s) for k, s in SLA_KINDS if fields.has(f"{k}_due_at")]

    def queues(self, rows: PollRows) -> list[QueueStats]:
        """Per-queue figures: every queue with open tickets or traffic in the window."""
        ages = {queue_label(r): self.ages(r) for r in rows.quantiles if not _is_total(r)}
        return self.build(rows, queue_label, ages)

    def total(self, rows: PollRows) -> QueueStats:
        """The source's figures, each ticket once: from the total statements' rows, or from
        the per-queue rows when queues do not overlap (folded into one)."""
        ages = self.total_ages(rows.quantiles)
        built = self.build(rows, total_label, {TOTAL_QUEUE: ages} if ages else {}, [TOTAL_QUEUE])
        return built[0]

    def build(
        self,
        rows: PollRows,
        label: Label,
        ages: dict[str, dict[str, float]],
        only: list[str] | None = None,
    ) -> list[QueueStats]:
        """Accumulate ``rows`` by ``label``; one :class:`QueueStats` per label (or ``only``)."""
        open_ = self._open(rows.backlog, label)
        created = _sums(rows.created, ("n",), label)
        done = _sums(rows.resolved, RESOLVED_SUMS, label) if rows.resolved is not None else None
        shorts = tuple(f"{s}_breached_window" for _, s in self.sla)
        missed = _sums(rows.breaches, shorts, label) if rows.breaches is not None else None
        reopened = _sums(rows.reopened, ("n",), label) if rows.reopened is not None else None
        names = only or sorted(set(open_) | set(created) | set(done or {}))
        return [
            self._queue(q, open_.get(q) or self._empty(), created, done, ages, missed, reopened)
            for q in names
        ]

    def _queue(
        self,
        q: str,
        f: dict[str, Any],
        created: dict[str, dict[str, float]],
        done: dict[str, dict[str, float]] | None,
        ages: dict[str, dict[str, float]],
        missed: dict[str, dict[str, float]] | None,
        reopened: dict[str, dict[str, float]] | None,
    ) -> QueueStats:
        sums = (done or {}).get(q, {})
        return QueueStats(
            queue=q,
            open_by_status_priority=f["by"],
            created=int(created.get(q, {}).get("n", 0)),
            resolved=int(sums.get("n", 0)) if done is not None else None,
            oldest_age_s=self._age(f["oldest"]),
            older_than=f["older"],
            age_quantiles=ages.get(q) if f["by"] else None,
            sla_breached_open={k: f[f"{s}_breached"] for k, s in self.sla} if self.sla else None,
            sla_at_risk={k: f[f"{s}_at_risk"] for k, s in self.sla} if self.sla else None,
            unassigned=f["unassigned"] if self.has_assignee else None,
            sla_breached_window={
                k: int(missed.get(q, {}).get(f"{s}_breached_window", 0)) for k, s in self.sla
            }
            if missed is not None
            else None,
            avg_first_response_s=_mean(sums, "fr"),
            avg_resolution_s=_mean(sums, "res"),
            reopened=int(reopened.get(q, {}).get("n", 0)) if reopened is not None else None,
        )

    def _empty(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "by": {},
            "oldest": None,
            "older": {k: 0 for k, _ in AGE_BUCKETS},
            "unassigned": 0,
        }
        for _, short in self.sla:
            out[f"{short}_breached"] = out[f"{short}_at_risk"] = 0
        return out

    def _open(self, backlog: Sequence[Any], label: Label) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = defaultdict(self._empty)
        for row in backlog:
            f = out[label(row)]
            key = (_label(row.status), _label(row.priority))
            f["by"][key] = f["by"].get(key, 0) + int(row.n)
            first = self.from_store(row.oldest)
            if first is not None and (f["oldest"] is None or first < f["oldest"]):
                f["oldest"] = first
            for name, _ in AGE_BUCKETS:
                f["older"][name] += int(getattr(row, f"gt_{name}") or 0)
            if self.has_assignee:
                f["unassigned"] += int(row.unassigned or 0)
            for _, short in self.sla:
                f[f"{short}_breached"] += int(getattr(row, f"{short}_breached") or 0)
                f[f"{short}_at_risk"] += int(getattr(row, f"{short}_at_risk") or 0)
        return out

    def _age(self, created: datetime | None) -> float | None:
        return None if created is None else max(0.0, (self.now - created).total_seconds())

    def ages(self, row: Any) -> dict[str, float]:
        """The quantile ages of one quantile row (columns ``q50``, ``q90``, ``q99``)."""
        out = {}
        for label, p in QUANTILES:
            age = self._age(self.from_store(getattr(row, f"q{p}")))
            if age is not None:
                out[label] = age
        return out

    def total_ages(self, rows: Sequence[Any]) -> dict[str, float]:
        """Source-wide quantile ages: the row flagged ``is_total``, or the only row of a
        total statement (none when nothing is open)."""
        for row in rows:
            if _is_total(row) or not hasattr(row, "is_total"):
                return self.ages(row)
        return {}


def _is_total(row: Any) -> bool:
    return bool(getattr(row, "is_total", 0))


def _sums(
    rows: Sequence[Any], columns: tuple[str, ...], label: Label
) -> dict[str, dict[str, float]]:
    """Per label, the sum of each of ``columns`` present on the rows (NULL counts 0)."""
    out: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for row in rows:
        sums = out[label(row)]
        for column in columns:
            sums[column] += float(getattr(row, column, None) or 0)
    return out


def _mean(sums: dict[str, float], prefix: str) -> float | None:
    count = sums.get(f"{prefix}_n", 0)
    return sums[f"{prefix}_sum"] / count if count else None


def _label(value: Any) -> str:
    """Render a dimension value as a metric label (None becomes an empty string)."""
    return "" if value is None else str(value)
