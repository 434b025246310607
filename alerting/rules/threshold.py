"""``kind: threshold``: reduce a queue metric over a window and compare it with a threshold."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import model_validator

from alerting.rules.common import (
    LOOKBACK,
    EvalContext,
    Measured,
    Row,
    RuleBase,
    in_window,
    window_values,
)
from alerting.state import NoData, Outcome
from config.durations import Duration, format_duration

Metric = Literal[
    "open_tickets",
    "oldest_ticket_age_seconds",
    "open_tickets_older_than_7d",
    "open_tickets_older_than_14d",
    "open_tickets_older_than_30d",
    "ticket_age_p50_seconds",
    "ticket_age_p90_seconds",
    "ticket_age_p99_seconds",
    "unassigned_tickets",
    "tickets_created",
    "tickets_resolved",
    "tickets_reopened",
    "sla_breached_open_first_response",
    "sla_breached_open_resolution",
    "sla_at_risk_first_response",
    "sla_at_risk_resolution",
]
Reduce = Literal["avg", "max", "min", "last", "sum"]

REDUCERS: dict[str, Callable[[Sequence[float]], float]] = {
    "avg": lambda xs: sum(xs) / len(xs),
    "max": max,
    "min": min,
    "last": lambda xs: xs[-1],
    "sum": sum,
}


class ThresholdRule(RuleBase):
    """Compare a reduced queue metric with a threshold, per queue."""

    kind: Literal["threshold"] = "threshold"
    metric: Metric
    reduce: Reduce = "last"
    window: Duration = timedelta(0)

    @model_validator(mode="after")
    def _coherent(self) -> ThresholdRule:
        if self.metric != "open_tickets" and ({"status", "priority"} & set(self.match)):
            raise ValueError("status and priority matchers apply only to metric open_tickets")
        if self.reduce not in ("last",) and self.window <= timedelta(0):
            raise ValueError(f"reduce: {self.reduce} needs a window, e.g. window: 2h")
        return self

    def expression(self) -> str:
        window = f"[{format_duration(self.window)}]" if self.window else ""
        filters = ",".join(
            f'{k}="{self.match[k]}"' for k in ("status", "priority") if k in self.match
        )
        metric = f"{self.metric}{{{filters}}}" if filters else self.metric
        return f"{self.reduce}({metric}{window})"

    def compute(
        self, rows: Sequence[Row], now: datetime, ctx: EvalContext, key: tuple[str, str]
    ) -> Measured | NoData:
        # What window_values keeps, found by bisection: only the window's rows are read.
        read = self.reader()
        values: list[float] = []
        if self.window > timedelta(0):
            inside = in_window(rows, now - self.window, now)
            values = [v for row in inside if (v := read(row)) is not None]
        else:  # the newest sample within LOOKBACK
            for row in reversed(in_window(rows, now - LOOKBACK, now)):
                if (v := read(row)) is not None:
                    values = [v]
                    break
        if not values:
            return NoData(f"no samples of {self.metric} in the window")
        return Measured(REDUCERS[self.reduce](values), self.expression())

    def evaluate(self, samples: Sequence[tuple[datetime, float]], now: datetime) -> Outcome:
        """Reduce ``(ts, value)`` samples at ``now`` and compare (not firing; no overrides)."""
        values = window_values(samples, now, self.window)
        if not values:
            return NoData(f"no samples of {self.metric} since {(now - self.window).isoformat()}")
        return self.decide(
            Measured(REDUCERS[self.reduce](values), self.expression()), {}, firing=False
        )

    def sample_value(self, row: Row) -> float | None:
        """The rule's metric in one stored snapshot row (None when the row lacks it)."""
        return metric_value(self.metric, row, self.match.get("status"), self.match.get("priority"))

    def reader(self) -> Callable[[Row], float | None]:
        """:meth:`sample_value` as a function, chosen once per call rather than per row.

        The common metrics read their column directly (same value as
        :func:`metric_value`); the others go through :meth:`sample_value`.
        """
        if self.metric == "open_tickets" and not ({"status", "priority"} & set(self.match)):
            return _open_total
        column = _COLUMNS.get(self.metric)
        if column is not None:
            return lambda row: _column(row, column)
        return self.sample_value


def metric_value(
    metric: str, row: Row, status: str | None = None, priority: str | None = None
) -> float | None:
    """A queue metric in one stored snapshot row (None when the store could not give it)."""
    if metric == "open_tickets":
        return float(_open_count(row, status, priority))
    if metric == "oldest_ticket_age_seconds":
        age = row.get("oldest_age_s")
        return float(age) if age is not None else (0.0 if row["open_total"] == 0 else None)
    if metric.startswith("open_tickets_older_than_"):
        return _member(row.get("older_than"), metric.rsplit("_", 1)[1])
    if metric.startswith("ticket_age_p"):
        key = {"p50": "0.5", "p90": "0.9", "p99": "0.99"}[metric.split("_")[2]]
        return _member(row.get("age_quantiles"), key)
    if metric.startswith(("sla_breached_open_", "sla_at_risk_")):
        column, kind = (
            ("sla_breached_open", metric[18:])
            if "breached" in metric
            else ("sla_at_risk", metric[12:])
        )
        return _member(row.get(column), kind)
    return _column(row, _COLUMNS[metric])


_COLUMNS = {
    "unassigned_tickets": "unassigned",
    "tickets_created": "created",
    "tickets_resolved": "resolved",
    "tickets_reopened": "reopened",
}
"""Metrics stored as a plain column of the snapshot row."""


def _column(row: Row, column: str) -> float | None:
    value = row.get(column)
    return float(value) if value is not None else None


def _open_total(row: Row) -> float:
    return float(int(row["open_total"]))  # _open_count without status or priority


def _member(mapping: Any, key: str) -> float | None:
    return float(mapping[key]) if mapping and key in mapping else None


def _open_count(row: Row, status: str | None, priority: str | None) -> int:
    if status is None and priority is None:
        return int(row["open_total"])
    return sum(
        int(n)
        for s, p, n in row["open_breakdown"]
        if (status is None or s == status) and (priority is None or p == priority)
    )
