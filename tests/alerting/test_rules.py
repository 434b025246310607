"""Threshold rules: reducing a window of samples, comparing, and reading stored rows."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from alerting.rules import LOOKBACK, ThresholdRule, number, render
from alerting.state import Breaching, NoData, Ok
from tests.fakes import T0

STEP = timedelta(minutes=15)
_TERM = re.compile(
    r"^(?P<value>_|-?\d+(?:\.\d+)?)(?:(?P<delta>[+-]\d+(?:\.\d+)?))?(?:x(?P<n>\d+))?$"
)


def values(spec: str) -> list[float | None]:
    """Expand a promtool-like series: ``"100 120 150x3 _ 90+10x3"``.

    ``v`` is one sample, ``vxN`` is N samples of v, ``a+bxN`` is N samples a, a+b, ...
    (``a-bxN`` counts down) and ``_`` (or ``_xN``) is a poll with no sample.
    """
    out: list[float | None] = []
    for term in spec.split():
        match = _TERM.match(term)
        if match is None:
            raise ValueError(f"bad series term {term!r}")
        n = int(match["n"] or 1)
        if match["value"] == "_":
            out += [None] * n
            continue
        start, delta = float(match["value"]), float(match["delta"] or 0)
        out += [start + i * delta for i in range(n)]
    return out


def series(
    spec: str, *, end: datetime = T0, step: timedelta = STEP
) -> list[tuple[datetime, float]]:
    """Samples of ``spec`` every ``step``, the last one at ``end`` (gaps left out)."""
    expanded = values(spec)
    start = end - step * (len(expanded) - 1)
    return [(start + i * step, v) for i, v in enumerate(expanded) if v is not None]


def rule(**fields: Any) -> ThresholdRule:
    """A threshold rule on open_tickets > 500 unless ``fields`` say otherwise."""
    base: dict[str, Any] = {"name": "BacklogHigh", "metric": "open_tickets", "threshold": 500}
    return ThresholdRule.model_validate({**base, **fields})


def row(ts: datetime, breakdown: Sequence[tuple[str, str, int]], **extra: Any) -> dict[str, Any]:
    """A stored snapshot row, shaped like monitor.store.history's."""
    return {
        "source": "helpdesk",
        "queue": "L1",
        "ts": ts,
        "open_total": sum(n for _, _, n in breakdown),
        "open_breakdown": [list(item) for item in breakdown],
        "created": extra.pop("created", 10),
        "resolved": extra.pop("resolved", 8),
        "oldest_age_s": extra.pop("oldest_age_s", 3600.0),
        "older_than": extra.pop("older_than", {"7d": 3, "14d": 1, "30d": 0}),
        **extra,
    }


class TestSeriesHelper:
    def test_expands_terms(self) -> None:
        """The helper's notation expands repeats, ramps and gaps."""
        assert values("100 120 150x3 _ 90+10x3 5-1x2") == [
            100,
            120,
            150,
            150,
            150,
            None,
            90,
            100,
            110,
            5,
            4,
        ]

    def test_last_sample_at_end(self) -> None:
        """Samples are spaced by step and the last one is at end."""
        samples = series("1 2 3", end=T0)
        assert [ts for ts, _ in samples] == [T0 - 2 * STEP, T0 - STEP, T0]


class TestReduce:
    def test_avg_is_unweighted_mean_of_window(self) -> None:
        """avg over 2h is the plain mean of the samples in (now-2h, now]."""
        samples = series("1000 400 450 500 550 600 650 700 750")  # 9 samples, 2h apart end to end
        outcome = rule(reduce="avg", window="2h").evaluate(samples, T0)
        assert isinstance(outcome, Breaching)
        assert outcome.value == 575.0  # the 1000 is at exactly now-2h: excluded

    def test_avg_ignores_spacing(self) -> None:
        """avg weighs every sample equally, however unevenly they are spaced."""
        samples = [
            (T0 - timedelta(minutes=110), 100.0),
            (T0 - timedelta(minutes=2), 200.0),
            (T0, 600.0),
        ]
        outcome = rule(reduce="avg", window="2h").evaluate(samples, T0)
        assert isinstance(outcome, Ok)
        assert outcome.value == 300.0

    @pytest.mark.parametrize(
        ("reduce", "expected"), [("avg", 502.5), ("max", 650.0), ("min", 380.0), ("last", 480.0)]
    )
    def test_reducers_over_window(self, reduce: str, expected: float) -> None:
        """avg, max, min and last reduce the samples of the window."""
        samples = series("9999 500 650 380 480", step=timedelta(minutes=30))
        outcome = rule(reduce=reduce, window="2h").evaluate(samples, T0)
        assert outcome.value == expected  # type: ignore[union-attr]

    def test_window_bounds(self) -> None:
        """The window is open at now-window, closed at now, and ignores later samples."""
        samples = [(T0 - timedelta(hours=1), 10.0), (T0, 20.0), (T0 + timedelta(seconds=1), 99.0)]
        outcome = rule(reduce="max", window="1h").evaluate(samples, T0)
        assert outcome.value == 20.0  # type: ignore[union-attr]

    def test_last_without_window_uses_lookback(self) -> None:
        """reduce: last without a window takes the newest sample of the last 15 minutes."""
        assert timedelta(minutes=15) == LOOKBACK
        samples = series("700 800 450", step=timedelta(minutes=5))
        assert rule().evaluate(samples, T0).value == 450.0  # type: ignore[union-attr]

    def test_last_without_window_too_old_is_no_data(self) -> None:
        """A newest sample older than the lookback is no data, not a stale value."""
        samples = series("700", end=T0 - LOOKBACK)
        assert isinstance(rule().evaluate(samples, T0), NoData)

    @pytest.mark.parametrize("samples", [[], series("600 700", end=T0 - timedelta(hours=3))])
    def test_no_samples_in_window_is_no_data(self, samples: list[tuple[datetime, float]]) -> None:
        """A window without samples gives NoData, never Ok with a made-up 0."""
        outcome = rule(reduce="avg", window="2h").evaluate(samples, T0)
        assert isinstance(outcome, NoData)
        assert "no samples of open_tickets" in outcome.reason

    def test_gaps_are_skipped(self) -> None:
        """Polls without a sample do not count in the average."""
        samples = series("_ 400 _ _ 600 _")
        assert rule(reduce="avg", window="2h").evaluate(samples, T0).value == 500.0  # type: ignore[union-attr]


class TestOps:
    @pytest.mark.parametrize(
        ("op", "value", "breaching"),
        [
            (">", 501, True), (">", 500, False),
            (">=", 500, True), (">=", 499, False),
            ("<", 499, True), ("<", 500, False),
            ("<=", 500, True), ("<=", 501, False),
            ("==", 500, True), ("==", 500.5, False),
            ("!=", 499, True), ("!=", 500, False),
        ],
    )  # fmt: skip
    def test_every_op(self, op: str, value: float, breaching: bool) -> None:
        """Each comparison operator breaches exactly when value op threshold holds."""
        outcome = rule(op=op).evaluate([(T0, float(value))], T0)
        assert isinstance(outcome, Breaching if breaching else Ok)
        assert outcome.value == value

    def test_reason_states_the_comparison(self) -> None:
        """The outcome's reason shows the reduced expression, its value and the threshold."""
        r = rule(reduce="avg", window="2h")
        assert r.evaluate(series("510 520"), T0).reason == "avg(open_tickets[2h]) = 515 > 500"
        assert r.evaluate(series("410 420"), T0).reason == "avg(open_tickets[2h]) = 415, not > 500"


class TestRuleConfig:
    @pytest.mark.parametrize("reduce", ["avg", "max", "min"])
    def test_reduce_without_window_is_an_error(self, reduce: str) -> None:
        """avg, max and min need a window; the error says so."""
        with pytest.raises(ValidationError, match=f"reduce: {reduce} needs a window"):
            rule(reduce=reduce)

    def test_for_alias(self) -> None:
        """``for`` in the configuration sets for_, and timing carries it."""
        r = rule(**{"for": "2h", "keep_firing_for": "15m"})
        assert (r.timing.for_, r.timing.keep_firing_for) == (
            timedelta(hours=2),
            timedelta(minutes=15),
        )

    def test_unknown_matcher_label(self) -> None:
        """match accepts only source, queue, status and priority."""
        with pytest.raises(ValidationError, match=r"match may only use .*\['team'\]"):
            rule(match={"team": "ops"})

    def test_status_matcher_needs_open_tickets(self) -> None:
        """status and priority matchers are rejected on other metrics."""
        with pytest.raises(ValidationError, match="apply only to metric open_tickets"):
            rule(metric="oldest_ticket_age_seconds", match={"status": "pending"})

    @pytest.mark.parametrize("name", ["9lives", "backlog-high", "with space", ""])
    def test_bad_names(self, name: str) -> None:
        """Rule names are identifiers (they become the alertname label)."""
        with pytest.raises(ValidationError):
            rule(name=name)

    @pytest.mark.parametrize("op", ["=", "=~", "gt"])
    def test_bad_op(self, op: str) -> None:
        """Only the six comparison operators are accepted."""
        with pytest.raises(ValidationError):
            rule(op=op)

    def test_large_numbers_in_full(self) -> None:
        """Ages in seconds are written in full, never in exponent notation."""
        r = rule(metric="oldest_ticket_age_seconds", threshold=1209600)
        assert r.describe() == "last(oldest_ticket_age_seconds) > 1209600"
        assert r.evaluate([(T0, 1234567.0)], T0).reason == (
            "last(oldest_ticket_age_seconds) = 1234567 > 1209600"
        )

    def test_describe(self) -> None:
        """describe writes the rule as an expression, with the window when there is one."""
        assert rule(reduce="avg", window="2h").describe() == "avg(open_tickets[2h]) > 500"
        assert rule(op="<=", threshold=12.5).describe() == "last(open_tickets) <= 12.5"


class TestSelection:
    def test_selects_by_source_and_queue(self) -> None:
        """selects honours source and queue matchers and ignores status."""
        r = rule(match={"source": "helpdesk", "queue": "L1", "status": "pending"})
        assert r.selects("helpdesk", "L1")
        assert not r.selects("helpdesk", "L2")
        assert not r.selects("other", "L1")
        assert rule().selects("anything", "any")

    def test_source_total_only_by_name(self) -> None:
        """The source's total (__total__) is selected by match queue __total__ only, never
        by a rule over every queue or a queue regex."""
        assert rule(match={"queue": "__total__"}).selects("helpdesk", "__total__")
        assert not rule(match={"queue": "__total__"}).selects("helpdesk", "L1")
        assert not rule().selects("helpdesk", "__total__")
        assert not rule(match_re={"queue": ".*"}).selects("helpdesk", "__total__")
        assert not rule(match={"source": "helpdesk"}).selects("helpdesk", "__total__")

    def test_labels_for(self) -> None:
        """The instance labels are alertname, source, queue, severity and the rule's labels."""
        r = rule(severity="critical", labels={"team": "service-desk"})
        assert r.labels_for("helpdesk", "L1") == {
            "alertname": "BacklogHigh",
            "source": "helpdesk",
            "queue": "L1",
            "severity": "critical",
            "team": "service-desk",
        }


BREAKDOWN = [("new", "P1", 40), ("pending", "P1", 200), ("pending", "P2", 350), ("open", "P2", 90)]


class TestSampleValue:
    def test_status_matcher_sums_breakdown(self) -> None:
        """match status: pending sums every priority's pending count."""
        assert rule(match={"status": "pending"}).sample_value(row(T0, BREAKDOWN)) == 550.0

    def test_priority_matcher(self) -> None:
        """match priority sums every status of that priority."""
        assert rule(match={"priority": "P2"}).sample_value(row(T0, BREAKDOWN)) == 440.0

    def test_status_and_priority(self) -> None:
        """status and priority together select one cell of the breakdown."""
        r = rule(match={"status": "pending", "priority": "P2"})
        assert r.sample_value(row(T0, BREAKDOWN)) == 350.0

    def test_no_matcher_is_open_total(self) -> None:
        """Without status or priority the metric is the queue's open total."""
        assert rule().sample_value(row(T0, BREAKDOWN)) == 680.0

    def test_status_absent_is_zero(self) -> None:
        """A status with no open tickets counts 0 (the store answered)."""
        assert rule(match={"status": "on-hold"}).sample_value(row(T0, BREAKDOWN)) == 0.0

    def test_oldest_age(self) -> None:
        """Oldest age comes from the row: 0 for an empty queue, None when unknown."""
        r = rule(metric="oldest_ticket_age_seconds")
        assert r.sample_value(row(T0, BREAKDOWN, oldest_age_s=86400.0)) == 86400.0
        assert r.sample_value(row(T0, [], oldest_age_s=None)) == 0.0
        assert r.sample_value(row(T0, BREAKDOWN, oldest_age_s=None)) is None

    @pytest.mark.parametrize(("age", "expected"), [("7d", 3.0), ("14d", 1.0), ("30d", 0.0)])
    def test_older_than(self, age: str, expected: float) -> None:
        """open_tickets_older_than_<age> reads the row's age bucket."""
        r = rule(metric=f"open_tickets_older_than_{age}")
        assert r.sample_value(row(T0, BREAKDOWN)) == expected
        assert r.sample_value(row(T0, BREAKDOWN, older_than=None)) is None

    @pytest.mark.parametrize(
        ("metric", "column"), [("tickets_created", "created"), ("tickets_resolved", "resolved")]
    )
    def test_throughput(self, metric: str, column: str) -> None:
        """tickets_created/resolved read their column; unknown (None) stays None, never 0."""
        r = rule(metric=metric)
        assert r.sample_value(row(T0, BREAKDOWN, **{column: 17})) == 17.0
        assert r.sample_value(row(T0, BREAKDOWN, **{column: None})) is None


class TestNumber:
    @pytest.mark.parametrize(
        ("value", "text"),
        [(500, "500"), (512.5, "512.5"), (2081.4375, "2081.44"), (1209600, "1209600"),
         (2592000.5, "2592000.5"), (0.25, "0.25"), (-3, "-3")],
    )  # fmt: skip
    def test_for_people(self, value: float, text: str) -> None:
        """Numbers are short like ``:g`` but large ones are written out in full."""
        assert number(value) == text


class TestRender:
    def test_fills_known_names(self) -> None:
        """Known placeholders are filled in."""
        assert (
            render(
                "{queue}: {value} > {threshold}",
                {"queue": "L1", "value": "512", "threshold": "500"},
            )
            == "L1: 512 > 500"
        )

    def test_keeps_unknown_names(self) -> None:
        """Unknown placeholders are left as written."""
        assert render("{queue} {runbook}", {"queue": "L1"}) == "L1 {runbook}"

    @pytest.mark.parametrize("template", ["{", "{0}", "{queue.attr}", "}"])
    def test_malformed_template_is_kept(self, template: str) -> None:
        """A template format() cannot handle is returned unchanged instead of raising."""
        assert render(template, {"queue": "L1"}) == template
