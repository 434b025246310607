"""Replaying history through the rules (pure): when would each alert have fired and resolved?

The real engine runs at every ``step`` from ``start`` to ``end`` on stored snapshot rows
(or rows made from a CSV of hourly figures), carrying the state between steps as the
daemon does. Sources are never down in a replay: a gap is simply missing rows.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from alerting.engine import evaluate
from alerting.rules import LOOKBACK, EvalContext, RuleBase, number
from alerting.rules.common import snapshot_row
from alerting.state import AlertInstance, Transition
from config.durations import format_duration

Key = tuple[str, str]
Row = dict[str, Any]
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Episode:
    """One firing of one alert instance."""

    rule: str
    source: str
    queue: str
    fired_at: datetime
    resolved_at: datetime | None
    fire_value: float | None

    def duration(self, end: datetime) -> timedelta:
        """How long it fired (until ``end`` when it never resolved)."""
        return (self.resolved_at or end) - self.fired_at


@dataclass(frozen=True)
class RuleSummary:
    """Fires and total time firing of one rule."""

    rule: str
    fires: int
    firing: timedelta


@dataclass
class BacktestResult:
    """Every episode, oldest first, and the replayed range."""

    start: datetime
    end: datetime
    step: timedelta
    episodes: list[Episode] = field(default_factory=list)
    steps: int = 0

    def summary(self, rules: Sequence[RuleBase] = ()) -> list[RuleSummary]:
        """Per rule (every rule given, in order, then any other), fires and time firing."""
        names = [r.name for r in rules] + sorted(
            {e.rule for e in self.episodes} - {r.name for r in rules}
        )
        return [
            RuleSummary(
                name,
                sum(1 for e in self.episodes if e.rule == name),
                sum(
                    (e.duration(self.end) for e in self.episodes if e.rule == name),
                    timedelta(0),
                ),
            )
            for name in names
        ]


def replay(
    rules: Sequence[RuleBase],
    series: Mapping[Key, Sequence[Row]],
    start: datetime,
    end: datetime,
    step: timedelta,
    progress: Progress | None = None,
) -> BacktestResult:
    """Evaluate ``rules`` at ``start, start+step, ... <= end`` on ``series`` (oldest first)."""
    if step <= timedelta(0):
        raise ValueError("the step must be positive")
    result = BacktestResult(start, end, step)
    total = int((end - start) / step) + 1 if end >= start else 0
    horizon = max([getattr(r, "window", timedelta(0)) for r in rules] + [LOOKBACK]) + step
    stamps = {k: [r["ts"] for r in rows] for k, rows in series.items()}
    instances: dict[str, AlertInstance] = {}
    open_: dict[str, Episode] = {}
    for i in range(total):
        now = start + i * step
        visible: dict[Key, list[Row]] = {}
        for key, rows in series.items():
            hi = bisect_right(stamps[key], now)
            if hi:
                lo = min(bisect_left(stamps[key], now - horizon), hi - 1)
                visible[key] = list(rows[lo:hi])
        ctx = EvalContext(last_seen={k: rows[-1]["ts"] for k, rows in visible.items()})
        tick = evaluate(rules, visible, instances, {}, [], now, "", ctx)
        for inst in tick.changed:
            instances[inst.fingerprint] = inst
        for inst, transition in tick.transitions:
            _record(result, open_, inst, transition, now)
        if progress is not None:
            progress(i + 1, total)
        result.steps += 1
    result.episodes += open_.values()
    result.episodes.sort(key=lambda e: (e.fired_at, e.rule, e.source, e.queue))
    return result


def _record(
    result: BacktestResult,
    open_: dict[str, Episode],
    inst: AlertInstance,
    transition: Transition,
    now: datetime,
) -> None:
    if transition is Transition.FIRING:
        open_[inst.fingerprint] = Episode(
            inst.rule,
            inst.labels.get("source", ""),
            inst.labels.get("queue", ""),
            inst.fired_at or now,
            None,
            inst.fire_value,
        )
    elif transition is Transition.RESOLVED and inst.fingerprint in open_:
        episode = open_.pop(inst.fingerprint)
        result.episodes.append(
            Episode(
                episode.rule,
                episode.source,
                episode.queue,
                episode.fired_at,
                inst.resolved_at or now,
                episode.fire_value,
            )
        )


def rows_from_csv(
    records: Iterable[Mapping[str, str]], source: str = "csv", queue: str = "all"
) -> dict[Key, list[Row]]:
    """Snapshot rows from CSV records ``timestamp, [queue,] [status,] open, created, resolved``.

    Each record is the state at ``timestamp`` and the tickets created/resolved in the
    period since the previous timestamp of the queue. Naive timestamps are UTC. Without a
    status column the open count has status ``""``, so status matchers select nothing.

    Raises:
        ValueError: a missing column or a value that is not a number or a timestamp.
    """
    grouped: dict[tuple[str, datetime], list[Mapping[str, str]]] = defaultdict(list)
    for n, record in enumerate(records, start=2):
        try:
            ts = datetime.fromisoformat(record["timestamp"].strip())
            ts = ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)
            grouped[((record.get("queue") or queue).strip(), ts)].append(record)
        except (KeyError, AttributeError, ValueError) as exc:
            raise ValueError(f"line {n}: bad or missing timestamp ({exc})") from None
    out: dict[Key, list[Row]] = defaultdict(list)
    for (name, ts), members in sorted(grouped.items(), key=lambda item: (item[0][1], item[0][0])):
        key = (source, name)
        previous = out[key][-1]["ts"] if out[key] else None
        try:
            out[key].append(_csv_row(key, ts, previous, members))
        except (KeyError, ValueError) as exc:
            raise ValueError(f"{ts.isoformat()} {name}: {exc}") from None
    return dict(out)


def _csv_row(
    key: Key, ts: datetime, previous: datetime | None, members: Sequence[Mapping[str, str]]
) -> Row:
    breakdown = sorted(
        [m.get("status", "") or "", m.get("priority", "") or "", int(float(m["open"]))]
        for m in members
    )

    def total(column: str) -> int | None:
        values = [m.get(column) for m in members]
        if all(v is None or v == "" for v in values):
            return None
        return sum(int(float(v)) for v in values if v)

    return snapshot_row(
        key,
        ts,
        previous or ts - timedelta(hours=1),
        open_total=sum(n for _, _, n in breakdown),
        open_breakdown=breakdown,
        created=total("created"),
        resolved=total("resolved"),
    )


def format_table(result: BacktestResult, rules: Sequence[RuleBase] = ()) -> str:
    """The episodes as a table, then the summary per rule."""
    head = ("rule", "queue", "fired_at", "resolved_at", "duration", "fire value")
    lines: list[tuple[str, ...]] = [head]
    for e in result.episodes:
        lines.append(
            (
                e.rule,
                e.queue if not e.source or e.source == "csv" else f"{e.source}/{e.queue}",
                _when(e.fired_at),
                _when(e.resolved_at) if e.resolved_at else "(still firing)",
                format_duration(e.duration(result.end)),
                number(e.fire_value) if e.fire_value is not None else "n/a",
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    text = [
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
        for line in lines
    ]
    if not result.episodes:
        text.append("(no alert would have fired)")
    text.append("")
    text.append(
        f"Replayed {result.steps} evaluations every {format_duration(result.step)} "
        f"from {_when(result.start)} to {_when(result.end)}."
    )
    for s in result.summary(rules):
        text.append(f"  {s.rule}: {s.fires} fire(s), {format_duration(s.firing)} firing")
    return "\n".join(text)


def _when(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M")
