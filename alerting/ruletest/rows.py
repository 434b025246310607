"""Input series (our exported metrics) → the snapshot rows the rules read, per step."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from alerting.rules.common import snapshot_row
from alerting.ruletest.model import InputSeries
from alerting.ruletest.notation import STALE, Value, expand_values, parse_selector

QUEUE_METRICS = (
    "backlog_open_tickets",
    "backlog_oldest_ticket_age_seconds",
    "backlog_open_tickets_older_than",
    "backlog_tickets_created_total",
    "backlog_tickets_resolved_total",
)
UP = "backlog_collector_up"
KNOWN = (*QUEUE_METRICS, UP)

Key = tuple[str, str]


@dataclass
class Built:
    """Rows per ``(source, queue)`` (oldest first) and, per step, the sources that were down."""

    rows: dict[Key, list[dict[str, Any]]] = field(default_factory=dict)
    down: list[dict[str, str]] = field(default_factory=list)
    sources: tuple[str, ...] = ()
    steps: int = 0


@dataclass
class _Series:
    name: str
    labels: dict[str, str]
    values: list[Value]

    def at(self, i: int) -> float | None:
        value = self.values[i] if i < len(self.values) else None
        return None if value is None or value == STALE else float(value)

    def increase(self, i: int) -> float | None:
        """Counter increase into step ``i`` from the previous sample (a drop is a reset)."""
        now = self.at(i)
        if now is None:
            return None
        for j in range(i - 1, -1, -1):
            if self.values[j] == STALE:
                return None
            before = self.at(j)
            if before is not None:
                return now - before if now >= before else now
        return None


def parse_series(items: Sequence[InputSeries]) -> list[_Series]:
    """Parse and check every input series.

    Raises:
        ValueError: bad notation, an unknown metric or a missing source/queue label.
    """
    out = []
    for item in items:
        name, labels = parse_selector(item.series)
        if name not in KNOWN:
            raise ValueError(f"{item.series}: unknown metric {name!r}; known: {', '.join(KNOWN)}")
        if "source" not in labels or (name != UP and "queue" not in labels):
            raise ValueError(f"{item.series}: the source and queue labels are required")
        if name == "backlog_open_tickets_older_than" and "age" not in labels:
            raise ValueError(f"{item.series}: the age label (7d, 14d, 30d) is required")
        out.append(_Series(name, labels, expand_values(item.values)))
    return out


def build_rows(items: Sequence[InputSeries], origin: datetime, interval: timedelta) -> Built:
    """One snapshot row per ``(source, queue)`` per step that has any sample of the queue.

    While the latest ``backlog_collector_up{source}`` sample is 0 the source is down and
    no row is stored for its queues (a failed poll stores nothing). Counters give ``created`` and
    ``resolved`` as the increase since the previous sample (None at the first sample).
    """
    series = parse_series(items)
    steps = max((len(s.values) for s in series), default=0)
    by_key: dict[Key, list[_Series]] = defaultdict(list)
    up: dict[str, list[_Series]] = defaultdict(list)
    for s in series:
        if s.name == UP:
            up[s.labels["source"]].append(s)
        else:
            by_key[(s.labels["source"], s.labels["queue"])].append(s)
    built = Built(sources=tuple(sorted({*up, *(k[0] for k in by_key)})), steps=steps)
    last_up: dict[str, float] = {}
    for i in range(steps):
        for source, members in up.items():
            values = [v for m in members if (v := m.at(i)) is not None]
            if values:
                last_up[source] = min(values)
        down = {s: "backlog_collector_up == 0" for s, v in last_up.items() if v == 0}
        built.down.append(down)
        ts = origin + i * interval
        for key, members in sorted(by_key.items()):
            if key[0] in down:
                continue
            row = _row(key, members, i, ts, interval)
            if row is not None:
                built.rows.setdefault(key, []).append(row)
    return built


def _row(
    key: Key, members: Sequence[_Series], i: int, ts: datetime, interval: timedelta
) -> dict[str, Any] | None:
    present = [m for m in members if m.at(i) is not None]
    if not present:
        return None
    breakdown: list[list[Any]] = []
    older: dict[str, float] = {}
    row = snapshot_row(key, ts, ts - interval)
    for m in present:
        value = m.at(i)
        assert value is not None
        if m.name == "backlog_open_tickets":
            breakdown.append([m.labels.get("status", ""), m.labels.get("priority", ""), value])
        elif m.name == "backlog_oldest_ticket_age_seconds":
            row["oldest_age_s"] = value
        elif m.name == "backlog_open_tickets_older_than":
            older[m.labels["age"]] = value
        else:
            column = "created" if m.name == "backlog_tickets_created_total" else "resolved"
            row[column] = m.increase(i)
    row["open_breakdown"] = sorted(breakdown)
    row["open_total"] = sum(n for _, _, n in breakdown)
    row["older_than"] = older or None
    return row
