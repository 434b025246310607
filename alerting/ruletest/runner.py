"""Run one test group: evaluate the real engine step by step and check the expectations."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from alerting.engine import evaluate
from alerting.notifications import annotations_for
from alerting.rules import EvalContext, RuleBase
from alerting.ruletest.model import AlertTest, ExpAlert, TestGroup
from alerting.ruletest.rows import Built, build_rows
from alerting.state import AlertInstance, AlertState
from config.durations import format_duration

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class AlertView:
    """An alert as compared: labels, annotations (None: not compared) and state."""

    labels: Mapping[str, str]
    annotations: Mapping[str, str] | None
    state: str = "firing"

    def text(self) -> str:
        labels = ", ".join(f'{k}="{v}"' for k, v in sorted(self.labels.items()))
        lines = [f"Labels:{{{labels}}}"]
        if self.annotations is not None:
            notes = ", ".join(f'{k}="{v}"' for k, v in sorted(self.annotations.items()))
            lines.append(f"Annotations:{{{notes}}}")
        if self.state != "firing":
            lines.append(f"State:{self.state}")
        return "\n".join(lines)


@dataclass(frozen=True)
class Failure:
    """One failed ``alert_rule_test`` (or a problem with the group as a whole)."""

    group: str
    eval_time: timedelta
    alertname: str
    expected: tuple[AlertView, ...] = ()
    got: tuple[AlertView, ...] = ()
    message: str = ""


@dataclass
class GroupResult:
    """The failures of one test group (empty: it passed) and how many checks ran."""

    name: str
    failures: list[Failure] = field(default_factory=list)
    checks: int = 0


def run_group(
    group: TestGroup,
    rules: Sequence[RuleBase],
    evaluation_interval: timedelta,
    name: str = "",
) -> GroupResult:
    """Evaluate ``rules`` on the group's series from 0 to the largest ``eval_time``.

    As in promtool, an ``eval_time`` between two evaluations is checked against the
    state after the earlier one.

    Raises:
        ValueError: bad input series (notation, unknown metric, missing labels).
    """
    result = GroupResult(name or group.name)
    origin = EPOCH + timedelta(seconds=group.start_timestamp)
    interval = group.interval or evaluation_interval
    built = build_rows(group.input_series, origin, interval)
    by_name = {r.name: r for r in rules}
    tests = sorted(group.alert_rule_test, key=lambda t: t.eval_time)
    if not tests:
        return result
    horizon = max(
        [getattr(r, "window", timedelta(0)) for r in rules] + [timedelta(minutes=15)]
    ) + timedelta(minutes=1)
    stamps = {k: [r["ts"] for r in rows] for k, rows in built.rows.items()}
    instances: dict[str, AlertInstance] = {}
    step, index = 0, 0
    while index < len(tests):
        offset = step * evaluation_interval
        now = origin + offset
        series = _visible(built, stamps, now, horizon)
        context = EvalContext(
            last_seen={k: rows[-1]["ts"] for k, rows in series.items()},
            sources=built.sources,
        )
        tick = evaluate(
            rules,
            series,
            instances,
            _down(built, origin, interval, now),
            [],
            now,
            group.external_url,
            context,
        )
        for inst in tick.changed:
            instances[inst.fingerprint] = inst
        while index < len(tests) and tests[index].eval_time < offset + evaluation_interval:
            result.failures += _check(result.name, tests[index], by_name, instances)
            result.checks += 1
            index += 1
        step += 1
    return result


def _visible(
    built: Built,
    stamps: Mapping[tuple[str, str], list[datetime]],
    now: datetime,
    horizon: timedelta,
) -> dict[tuple[str, str], list[dict[str, Any]]]:
    out = {}
    for key, rows in built.rows.items():
        end = bisect_right(stamps[key], now)
        if end:
            # the newest row always stays visible (absent and aging read it, whatever its age)
            start = min(bisect_right(stamps[key], now - horizon), end - 1)
            out[key] = rows[start:end]
    return out


def _down(built: Built, origin: datetime, interval: timedelta, now: datetime) -> dict[str, str]:
    if not built.down or now < origin:
        return {}
    i = min(int((now - origin) / interval), len(built.down) - 1)
    return built.down[i]


def _check(
    group: str,
    test: AlertTest,
    rules: Mapping[str, RuleBase],
    instances: Mapping[str, AlertInstance],
) -> list[Failure]:
    rule = rules.get(test.alertname)
    if rule is None:
        message = f"no rule named {test.alertname!r} in the rule files"
        return [Failure(group, test.eval_time, test.alertname, message=message)]
    mine = {_key(i.labels): i for i in instances.values() if i.rule == rule.name}
    firing = [i for i in mine.values() if i.state is AlertState.FIRING]
    wanted = [e for e in test.exp_alerts if e.exp_state in (None, "firing")]
    expected = tuple(
        AlertView(_full(e, rule.name), e.exp_annotations) for e in sorted(wanted, key=_order)
    )
    got = tuple(
        sorted(
            (AlertView(dict(i.labels), annotations_for(rule, i)) for i in firing),
            key=lambda v: _key(v.labels),
        )
    )
    failures = []
    if not _same(expected, got):
        # show annotations when they were compared (or nothing was expected), as promtool
        notes = not expected or any(e.annotations is not None for e in expected)
        shown = tuple(AlertView(g.labels, g.annotations if notes else None) for g in got)
        failures.append(Failure(group, test.eval_time, test.alertname, expected, shown))
    for exp in test.exp_alerts:
        if exp.exp_state in (None, "firing"):
            continue
        labels = _full(exp, rule.name)
        inst = mine.get(_key(labels))
        state = inst.state.value if inst is not None else "inactive"
        if state != exp.exp_state:
            want = AlertView(labels, None, exp.exp_state)
            have = AlertView(labels, None, state)
            failures.append(Failure(group, test.eval_time, test.alertname, (want,), (have,)))
    return failures


def _full(exp: ExpAlert, alertname: str) -> dict[str, str]:
    return {**exp.exp_labels, "alertname": alertname}


def _key(labels: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(labels.items()))


def _order(exp: ExpAlert) -> tuple[tuple[str, str], ...]:
    return _key(exp.exp_labels)


def _same(expected: Sequence[AlertView], got: Sequence[AlertView]) -> bool:
    if len(expected) != len(got):
        return False
    actual = {_key(g.labels): g for g in got}
    for exp in expected:
        match = actual.get(_key(exp.labels))
        if match is None:
            return False
        if exp.annotations is not None and dict(exp.annotations) != dict(match.annotations or {}):
            return False
    return True


def format_failure(failure: Failure) -> str:
    """promtool's layout: the test, the instant, the rule, then expected and got."""
    head = f"    alertname: {failure.alertname}, time: {format_duration(failure.eval_time)},"
    if failure.group:
        head = f"    name: {failure.group},\n{head}"
    if failure.message:
        return f"{head}\n        {failure.message}"
    return f"{head}\n        exp:{_views(failure.expected)},\n        got:{_views(failure.got)}"


def _views(views: Sequence[AlertView]) -> str:
    if not views:
        return "[]"
    parts = []
    for i, view in enumerate(views):
        body = "\n".join(f"              {line}" for line in view.text().splitlines())
        parts.append(f"            {i}:\n{body}")
    return "[\n" + "\n".join(parts) + "\n            ]"
