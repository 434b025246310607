"""One evaluation tick (pure): rules and stored series in, new states and notifications out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from alerting.notifications import Notification, build
from alerting.rules import AbsentRule, CollectorDownRule, EvalContext, ForecastRule, RuleBase
from alerting.rules.common import is_ordered
from alerting.state import (
    NOTIFIED,
    AlertInstance,
    AlertState,
    Breaching,
    Transition,
    fingerprint,
    step,
)

SeriesKey = tuple[str, str]
"""``(source, queue)``."""


@dataclass
class TickResult:
    """What one tick changed: instances to persist and notifications to enqueue."""

    changed: list[AlertInstance] = field(default_factory=list)
    transitions: list[tuple[AlertInstance, Transition]] = field(default_factory=list)
    notifications: list[Notification] = field(default_factory=list)
    evaluated: int = 0


def evaluate(
    rules: Sequence[RuleBase],
    series: Mapping[SeriesKey, Sequence[Mapping[str, Any]]],
    instances: Mapping[str, AlertInstance],
    down: Mapping[str, str],
    receivers: Sequence[str],
    now: datetime,
    external_url: str = "",
    context: EvalContext | None = None,
) -> TickResult:
    """Evaluate every rule on every matching queue at ``now``.

    Args:
        rules: the configured rules.
        series: stored snapshot rows per ``(source, queue)``, oldest first (the rules
            find their window by bisection; a series that is not in order is sorted by
            ``ts`` here, stably, once per tick).
        instances: the persisted instances by fingerprint.
        down: sources whose latest poll failed, with the reason; their queues get an
            :class:`EvalError` outcome, which never changes an alert's state.
        receivers: every configured receiver (rules without ``receivers`` notify all).
        now: the evaluation instant.
        external_url: where this daemon can be reached, for ``generatorURL``.
        context: forecasts, last-seen times and configured sources, for the kinds that
            need them (forecast, absent, CollectorDown).
    """
    ctx = replace(context or EvalContext(), down=down)
    if not all(is_ordered(rows) for rows in series.values()):
        series = {k: v if is_ordered(v) else sorted(v, key=_ts) for k, v in series.items()}
    result = TickResult()
    for rule in rules:
        timing = replace(rule.timing, max_gap=ctx.max_gap)
        for source, queue in _keys(rule, series, instances, ctx):
            labels = rule.labels_for(source, queue)
            fp = _fingerprint(labels)
            found = instances.get(fp)
            outcome = rule.outcome(
                series.get((source, queue), ()),
                now,
                ctx,
                (source, queue),
                firing=found is not None and found.state is AlertState.FIRING,
                last_value=None if found is None else found.last_value,
            )
            result.evaluated += 1
            if found is None and not isinstance(outcome, Breaching):
                # A fresh instance that does not breach stays inactive, with no
                # transition: step() would return it unchanged but for its reason, and
                # an inactive instance without a transition is not persisted.
                continue
            before = found or AlertInstance(fingerprint=fp, rule=rule.name, labels=dict(labels))
            after, transition = step(before, outcome, now, timing)
            if transition is not None or after.state is not AlertState.INACTIVE:
                result.changed.append(after)
            if transition is None:
                continue
            result.transitions.append((after, transition))
            if transition in NOTIFIED:
                targets = rule.receivers if rule.receivers is not None else receivers
                result.notifications += [
                    build(rule, after, transition, r, external_url) for r in targets
                ]
    return result


_FINGERPRINTS: dict[tuple[tuple[str, str], ...], str] = {}
_FINGERPRINTS_MAX = 500_000


def _fingerprint(labels: Mapping[str, str]) -> str:
    """:func:`alerting.state.fingerprint`, remembered per label set (the same rules meet
    the same queues every tick; hashing them again was a tenth of a tick)."""
    key = tuple(sorted(labels.items()))
    found = _FINGERPRINTS.get(key)
    if found is None:
        if len(_FINGERPRINTS) >= _FINGERPRINTS_MAX:
            _FINGERPRINTS.clear()
        found = _FINGERPRINTS[key] = fingerprint(labels)
    return found


def _ts(row: Mapping[str, Any]) -> datetime:
    return row["ts"]  # type: ignore[no-any-return]


def _keys(
    rule: RuleBase,
    series: Mapping[SeriesKey, Sequence[Mapping[str, Any]]],
    instances: Mapping[str, AlertInstance],
    ctx: EvalContext,
) -> list[SeriesKey]:
    """Queues with data, plus queues of this rule's live instances that lost their data."""
    if isinstance(rule, CollectorDownRule):
        keys = {(s, "") for s in ctx.sources}
    elif isinstance(rule, AbsentRule):
        keys = {k for k in ctx.last_seen if rule.selects(*k)}
    elif isinstance(rule, ForecastRule):
        keys = {k for k in (*series, *ctx.forecasts) if rule.selects(*k)}
    else:
        keys = {k for k in series if rule.selects(*k)}
    for inst in instances.values():
        if inst.rule == rule.name and inst.state is not AlertState.INACTIVE:
            key = (inst.labels.get("source", ""), inst.labels.get("queue", ""))
            if isinstance(rule, CollectorDownRule) or rule.selects(*key):
                keys.add(key)
    return sorted(keys)
