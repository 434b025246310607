"""The tick's shortcuts change nothing: the engine against the plain loop it replaced.

The plain loop (below, as ``alerting.engine.evaluate`` read before the shortcuts) steps
every instance, fresh ones included, and hashes every label set. The engine skips a
fresh instance that does not breach and remembers fingerprints; over 40 ticks of 60
real-shaped queues and the evaluation benchmark's 10 rules (thresholds at real
percentiles, so alerts go pending, fire and resolve), both give the same changed
instances, transitions, notifications and counts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from alerting import engine as alert_engine
from alerting.engine import TickResult, _keys
from alerting.notifications import build
from alerting.rules import EvalContext, RuleBase
from alerting.state import NOTIFIED, AlertInstance, AlertState, fingerprint, step
from benchmarks.alerting import data
from benchmarks.alerting.evaluate import HORIZON_MIN, at, settings_for


def plain_loop(
    rules: Sequence[RuleBase],
    series: Mapping[tuple[str, str], Sequence[Mapping[str, Any]]],
    instances: Mapping[str, AlertInstance],
    receivers: Sequence[str],
    now: datetime,
    ctx: EvalContext,
) -> TickResult:
    result = TickResult()
    for rule in rules:
        for source, queue in _keys(rule, series, instances, ctx):
            labels = rule.labels_for(source, queue)
            before = instances.get(fingerprint(labels)) or AlertInstance.new(rule.name, labels)
            outcome = rule.outcome(
                series.get((source, queue), ()),
                now,
                ctx,
                (source, queue),
                firing=before.state is AlertState.FIRING,
                last_value=before.last_value,
            )
            timing = replace(rule.timing, max_gap=ctx.max_gap)
            after, transition = step(before, outcome, now, timing)
            result.evaluated += 1
            if transition is not None or after.state is not AlertState.INACTIVE:
                result.changed.append(after)
            if transition is None:
                continue
            result.transitions.append((after, transition))
            if transition in NOTIFIED:
                targets = rule.receivers if rule.receivers is not None else receivers
                result.notifications += [build(rule, after, transition, r, "") for r in targets]
    return result


def test_the_engine_gives_what_the_plain_loop_gives_tick_after_tick() -> None:
    ticks = 40
    rows = data.build(60, HORIZON_MIN + ticks + 1)
    rules = settings_for(rows).rules
    mine: dict[str, AlertInstance] = {}
    theirs: dict[str, AlertInstance] = {}
    transitions = 0
    for k in range(ticks):
        now = at(HORIZON_MIN + k)
        series = {(data.SOURCE, q): r[k : k + HORIZON_MIN + 1] for q, r in rows.items()}
        ctx = EvalContext(last_seen=dict.fromkeys(series, now), sources=(data.SOURCE,))
        got = alert_engine.evaluate(rules, series, mine, {}, ["ops"], now, "", ctx)
        want = plain_loop(rules, series, theirs, ["ops"], now, replace(ctx, down={}))
        assert got.changed == want.changed
        assert got.transitions == want.transitions
        assert got.notifications == want.notifications
        assert got.evaluated == want.evaluated
        transitions += len(got.transitions)
        mine.update({i.fingerprint: i for i in got.changed})
        theirs.update({i.fingerprint: i for i in want.changed})
    assert transitions > 0  # alerts went pending, fired or resolved: the paths were taken
