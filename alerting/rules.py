"""Alert rules and their pure evaluation over stored history.

``reduce: avg`` with ``window: 2h`` is the mean of every sample of the last two
hours (Prometheus' ``avg_over_time``); ``for: 2h`` means the condition held at every
evaluation for two hours (a single dip resets it). Both can be combined.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from alerting.state import Breaching, NoData, Ok, Outcome, Timing
from config.durations import Duration, format_duration

Metric = Literal[
    "open_tickets",
    "oldest_ticket_age_seconds",
    "open_tickets_older_than_7d",
    "open_tickets_older_than_14d",
    "open_tickets_older_than_30d",
    "tickets_created",
    "tickets_resolved",
]
Reduce = Literal["avg", "max", "min", "last"]
Op = Literal[">", ">=", "<", "<=", "==", "!="]

OPS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}
REDUCERS: dict[str, Callable[[Sequence[float]], float]] = {
    "avg": lambda xs: sum(xs) / len(xs),
    "max": max,
    "min": min,
    "last": lambda xs: xs[-1],
}
MATCH_LABELS = ("source", "queue", "status", "priority")
LOOKBACK = timedelta(minutes=15)
"""How old the newest sample may be for ``reduce: last`` without a window."""


class ThresholdRule(BaseModel):
    """Compare a reduced queue metric with a threshold, per queue."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    kind: Literal["threshold"] = "threshold"
    metric: Metric
    match: dict[str, str] = Field(default_factory=dict)
    reduce: Reduce = "last"
    window: Duration = timedelta(0)
    op: Op = ">"
    threshold: float
    for_: Duration = Field(timedelta(0), alias="for")
    keep_firing_for: Duration = timedelta(0)
    severity: Literal["critical", "warning", "info"] = "warning"
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    receivers: tuple[str, ...] | None = Field(
        None, description="receivers to notify; all receivers when omitted"
    )

    @model_validator(mode="after")
    def _coherent(self) -> ThresholdRule:
        unknown = sorted(set(self.match) - set(MATCH_LABELS))
        if unknown:
            raise ValueError(f"match may only use {', '.join(MATCH_LABELS)}; got {unknown}")
        if self.metric != "open_tickets" and ({"status", "priority"} & set(self.match)):
            raise ValueError("status and priority matchers apply only to metric open_tickets")
        if self.reduce != "last" and self.window <= timedelta(0):
            raise ValueError(f"reduce: {self.reduce} needs a window, e.g. window: 2h")
        return self

    @property
    def timing(self) -> Timing:
        return Timing(for_=self.for_, keep_firing_for=self.keep_firing_for)

    def selects(self, source: str, queue: str) -> bool:
        """Whether the rule applies to this queue."""
        wanted = {"source": source, "queue": queue}
        return all(self.match[k] == v for k, v in wanted.items() if k in self.match)

    def labels_for(self, source: str, queue: str) -> dict[str, str]:
        """The final label set of the instance for one queue."""
        return {
            "alertname": self.name,
            "source": source,
            "queue": queue,
            "severity": self.severity,
            **self.labels,
        }

    def describe(self) -> str:
        """The rule's expression in words, e.g. ``avg(open_tickets[2h]) > 500``."""
        window = f"[{format_duration(self.window)}]" if self.window else ""
        return f"{self.reduce}({self.metric}{window}) {self.op} {number(self.threshold)}"

    def evaluate(self, samples: Sequence[tuple[datetime, float]], now: datetime) -> Outcome:
        """Reduce the samples inside the rule's window at ``now`` and compare."""
        start = now - (self.window if self.window > timedelta(0) else LOOKBACK)
        values = [v for ts, v in samples if start < ts <= now]
        if not values:
            return NoData(f"no samples of {self.metric} since {start.isoformat()}")
        if self.reduce == "last" and self.window <= timedelta(0):
            values = values[-1:]
        value = REDUCERS[self.reduce](values)
        text = f"{self.describe().rsplit(' ', 2)[0]} = {number(value)}"
        if OPS[self.op](value, self.threshold):
            return Breaching(value, f"{text} {self.op} {number(self.threshold)}")
        return Ok(value, f"{text}, not {self.op} {number(self.threshold)}")

    def sample_value(self, row: Mapping[str, Any]) -> float | None:
        """The rule's metric in one stored snapshot row (None when the row lacks it)."""
        metric = self.metric
        if metric == "open_tickets":
            return float(_open_count(row, self.match.get("status"), self.match.get("priority")))
        if metric == "oldest_ticket_age_seconds":
            age = row.get("oldest_age_s")
            return float(age) if age is not None else (0.0 if row["open_total"] == 0 else None)
        if metric.startswith("open_tickets_older_than_"):
            buckets = row.get("older_than")
            key = metric.rsplit("_", 1)[1]
            return float(buckets[key]) if buckets and key in buckets else None
        column = "created" if metric == "tickets_created" else "resolved"
        value = row.get(column)
        return float(value) if value is not None else None


def _open_count(row: Mapping[str, Any], status: str | None, priority: str | None) -> int:
    if status is None and priority is None:
        return int(row["open_total"])
    return sum(
        int(n)
        for s, p, n in row["open_breakdown"]
        if (status is None or s == status) and (priority is None or p == priority)
    )


Rule = ThresholdRule
"""Every rule kind (a discriminated union once the alerting engine adds kinds)."""


def number(value: float) -> str:
    """A value for people: ``512.5``, ``1209600`` (``:g``, but never in exponent notation)."""
    text = f"{value:g}"
    if "e" in text and abs(value) >= 1:
        text = f"{value:.6f}".rstrip("0").rstrip(".")
    return text


def render(template: str, values: Mapping[str, Any]) -> str:
    """Fill ``{name}`` placeholders; unknown names are left as written."""

    class _Keep(dict[str, Any]):
        def __missing__(self, key: str) -> str:
            return "{" + key + "}"

    try:
        return template.format_map(_Keep(values))
    except (ValueError, IndexError, AttributeError):
        return template
