"""Every rule kind, hysteresis, overrides, regex selection, policies and CollectorDown."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from alerting.engine import evaluate
from alerting.rules import CollectorDownRule, EvalContext, ForecastView, Rule
from alerting.rules.forecast import own_gate_floor
from alerting.state import AlertState, Breaching, EvalError, NoData, Ok, Transition

T0 = datetime(2016, 3, 21, 12, 0, tzinfo=UTC)
KEY = ("helpdesk", "Billing")
RULE: TypeAdapter[Any] = TypeAdapter(Rule)


def rule(**fields: Any) -> Any:
    return RULE.validate_python({"name": "R", **fields})


def row(minutes: float, **values: Any) -> dict[str, Any]:
    """A stored snapshot row ``minutes`` after T0 (15-minute polls)."""
    ts = T0 + timedelta(minutes=minutes)
    base: dict[str, Any] = {
        "source": KEY[0],
        "queue": KEY[1],
        "ts": ts,
        "window_start": ts - timedelta(minutes=15),
        "open_total": 0,
        "open_breakdown": [],
        "created": 0,
        "resolved": 0,
    }
    return {**base, **values}


def outcome(
    r: Any,
    rows: list[dict[str, Any]],
    now: datetime,
    *,
    firing: bool = False,
    ctx: EvalContext | None = None,
) -> Any:
    return r.outcome(rows, now, ctx or EvalContext(), KEY, firing=firing, last_value=None)


class TestKindSelection:
    def test_kind_defaults_to_threshold(self) -> None:
        """A rule without kind is a threshold rule."""
        assert rule(metric="open_tickets", threshold=1).kind == "threshold"

    def test_unknown_kind_is_an_error(self) -> None:
        """An unknown kind is rejected."""
        with pytest.raises(ValidationError):
            rule(kind="magic", threshold=1)


class TestThresholdSum:
    def test_sum_adds_the_window(self) -> None:
        """reduce: sum adds every sample of the window (tickets created over 1h)."""
        r = rule(metric="tickets_created", reduce="sum", window="1h", threshold=50)
        rows = [row(m, created=n) for m, n in ((15, 10), (30, 20), (45, 15), (60, 10))]
        result = outcome(r, rows, T0 + timedelta(minutes=60))
        assert isinstance(result, Breaching) and result.value == 55


class TestFlow:
    def test_net_inflow_per_hour(self) -> None:
        """Net inflow is (created - resolved) per hour over the window."""
        r = rule(kind="flow", measure="net_inflow_per_hour", window="2h", threshold=20)
        rows = [row(m, created=30, resolved=10) for m in range(15, 121, 15)]
        result = outcome(r, rows, T0 + timedelta(hours=2))
        assert isinstance(result, Breaching) and result.value == pytest.approx(80)

    def test_ratio_without_resolutions_has_no_data(self) -> None:
        """created/resolved with nothing resolved is no data, not infinity."""
        r = rule(kind="flow", measure="created_to_resolved_ratio", threshold=1.5)
        rows = [row(m, created=5, resolved=0) for m in range(15, 61, 15)]
        assert isinstance(outcome(r, rows, T0 + timedelta(hours=1)), NoData)


class TestAging:
    def test_threshold_written_as_duration(self) -> None:
        """threshold: 3d is 259200 seconds and compares with the oldest age."""
        r = rule(kind="aging", measure="oldest_age", threshold="3d")
        assert r.threshold == 259200
        result = outcome(r, [row(0, open_total=3, oldest_age_s=300000.0)], T0)
        assert isinstance(result, Breaching)

    def test_missing_quantiles_are_no_data(self) -> None:
        """A store without age quantiles gives no data, never zero."""
        r = rule(kind="aging", measure="age_p90", threshold="1d")
        assert isinstance(outcome(r, [row(0, open_total=3)], T0), NoData)


class TestSla:
    def test_average_resolution_exceeds_target_by_20_percent(self) -> None:
        """exceeds_by: 20% of target 8h sets the threshold at 9.6h, weighted by resolutions."""
        r = rule(
            kind="sla", measure="avg_resolution_time", target="8h", exceeds_by="20%", window="1d"
        )
        assert r.threshold == pytest.approx(9.6 * 3600)
        rows = [
            row(60, resolved=1, avg_resolution_s=20 * 3600.0),
            row(120, resolved=3, avg_resolution_s=8 * 3600.0),
        ]
        result = outcome(r, rows, T0 + timedelta(hours=2))
        assert isinstance(result, Breaching)
        assert result.value == pytest.approx(11 * 3600)

    def test_breached_ratio(self) -> None:
        """breached_ratio divides breached open tickets by open tickets."""
        r = rule(kind="sla", measure="breached_ratio", sla="resolution", threshold=0.25)
        rows = [row(0, open_total=10, sla_breached_open={"resolution": 3})]
        result = outcome(r, rows, T0)
        assert isinstance(result, Breaching) and result.value == pytest.approx(0.3)

    def test_store_without_sla_has_no_data(self) -> None:
        """Without SLA figures the rule has no data."""
        r = rule(kind="sla", measure="breached_open", threshold=0)
        assert isinstance(outcome(r, [row(0, open_total=10)], T0), NoData)


class TestAbsent:
    def test_fires_when_the_queue_is_stale(self) -> None:
        """A queue last seen 20 minutes ago breaches stale_after: 15m."""
        r = rule(kind="absent", stale_after="15m")
        ctx = EvalContext(last_seen={KEY: T0 - timedelta(minutes=20)})
        result = outcome(r, [], T0, ctx=ctx)
        assert isinstance(result, Breaching) and result.value == 1200

    def test_fresh_queue_is_ok(self) -> None:
        """A queue seen 5 minutes ago is fine."""
        r = rule(kind="absent", stale_after="15m")
        ctx = EvalContext(last_seen={KEY: T0 - timedelta(minutes=5)})
        assert isinstance(outcome(r, [], T0, ctx=ctx), Ok)


class TestForecast:
    def view(self, upper: list[float], status: str = "ok") -> EvalContext:
        forecast = ForecastView(
            made_at=T0, point=[u - 50 for u in upper], upper=upper, model="ets", status=status
        )
        return EvalContext(forecasts={KEY: forecast})

    def test_upper_band_crossing_within_horizon_fires(self) -> None:
        """The band's edge reaching the limit within the horizon breaches."""
        r = rule(kind="forecast", horizon="6h", threshold=500)
        ctx = self.view([450, 470, 490, 505, 520, 530, 600])
        result = outcome(r, [], T0, ctx=ctx)
        assert isinstance(result, Breaching) and result.value == 530

    def test_crossing_after_the_horizon_does_not(self) -> None:
        """A crossing beyond the horizon is ignored."""
        r = rule(kind="forecast", horizon="3h", threshold=500)
        assert isinstance(outcome(r, [], T0, ctx=self.view([450, 470, 490, 505])), Ok)

    def test_insufficient_history_is_no_data(self) -> None:
        """Too little history is reported, never guessed."""
        r = rule(kind="forecast", threshold=500)
        result = outcome(r, [], T0, ctx=self.view([900], status="insufficient_history"))
        assert isinstance(result, NoData) and "insufficient_history" in result.reason


GATED: dict[str, Any] = {
    "kind": "forecast",
    "threshold": 100,
    "horizon": "6h",
    "min_probability": 0.4,
    "recover_probability": 0.2,
    "gate_probability": 0.1,
    "gate_level": 0.9,
    "gate_rise": "3h",
}
"""A forecast rule with a second stage, as the gate tests vary it."""


def gated_view(
    probability: float, observed: Sequence[float], rises: Sequence[float] = ()
) -> EvalContext:
    """A naive forecast of the ``100@6`` question with ``observed`` hours and ``rises``."""
    forecast = ForecastView(
        made_at=T0,
        point=[0.0] * 6,
        upper=[0.0] * 6,
        model="naive",
        breach_probability={"100@6": probability},
        breach_model="warning",
        observed=observed,
        rises=rises,
    )
    return EvalContext(forecasts={KEY: forecast})


class TestTwoStageForecast:
    """``gate_probability``: a lower probability while the open count is near the limit and
    rising (the gate reads the observed hours the forecast carries)."""

    def view(self, probability: float, observed: list[float]) -> EvalContext:
        return gated_view(probability, observed)

    def two_stage(self, **fields: Any) -> Any:
        return rule(**{**GATED, **fields})

    @pytest.mark.parametrize(
        ("observed", "expected"),
        [
            ([80, 85, 88, 89, 91], Breaching),  # 91 >= 90 and above 85 three hours ago
            ([80, 95, 92, 90, 89], Ok),  # near the limit but not above 3 h ago
            ([80, 85, 88, 89, 89.5], Ok),  # rising but under 0.9 x the limit
            ([88, 89, 91], Ok),  # rising, but the hour 3 h ago is not carried
            ([80, float("nan"), 88, 89, 91], Ok),  # the hour 3 h ago is unknown
        ],
    )
    def test_the_low_probability_fires_only_through_the_gate(
        self, observed: list[float], expected: type
    ) -> None:
        """At 0.15 (under 0.4, over 0.1) the rule fires only while the gate is open."""
        result = outcome(self.two_stage(), [], T0, ctx=self.view(0.15, observed))
        assert isinstance(result, expected)
        assert ("gate open" in result.reason) == (expected is Breaching)

    def test_the_first_stage_fires_whatever_the_gate(self) -> None:
        """At 0.4 the rule fires with the gate closed, as the one-stage rule does."""
        closed = self.view(0.4, [90, 80, 70, 60])
        assert isinstance(outcome(self.two_stage(), [], T0, ctx=closed), Breaching)

    def test_recovery_is_scaled_while_the_gate_is_open(self) -> None:
        """Firing, the gate open: it resolves below 0.2 x 0.1 / 0.4 = 0.05, not 0.2."""
        opened = self.view(0.06, [80, 85, 88, 89, 91])
        closed = self.view(0.06, [80, 95, 92, 90, 89])
        assert isinstance(outcome(self.two_stage(), [], T0, ctx=opened, firing=True), Breaching)
        assert isinstance(outcome(self.two_stage(), [], T0, ctx=closed, firing=True), Ok)

    def test_without_a_gate_the_observed_hours_change_nothing(self) -> None:
        """The one-stage rule ignores the gate: 0.15 is below 0.4 whatever the level."""
        r = rule(kind="forecast", threshold=100, min_probability=0.4)
        assert isinstance(outcome(r, [], T0, ctx=self.view(0.15, [80, 85, 88, 89, 91])), Ok)

    @pytest.mark.parametrize(
        "fields",
        [
            {"gate_probability": 0.5},  # not below min_probability
            {"gate_rise": "7h"},  # more hours than a forecast carries
            {"gate_rise": "90m"},  # not whole hours
        ],
    )
    def test_an_impossible_gate_is_a_config_error(self, fields: dict[str, Any]) -> None:
        """A gate that could never work is refused at load time."""
        with pytest.raises(ValidationError):
            self.two_stage(**fields)

    def test_a_gate_needs_a_probability_rule(self) -> None:
        """gate_probability without min_probability is refused."""
        with pytest.raises(ValidationError, match="gate_probability"):
            rule(kind="forecast", threshold=100, gate_probability=0.1)


class TestOwnHistoryGate:
    """``gate_quantile``: the gate's level is the threshold less the queue's own typical
    6-hour rise (the rises the forecast carries, at RISE_QUANTILES 0.5, 0.75, 0.9, 0.95)."""

    RISES = [2.0, 5.0, 12.0, 30.0]

    def view(self, probability: float, observed: list[float], rises: list[float]) -> EvalContext:
        return gated_view(probability, observed, rises)

    def own(self, quantile: float = 0.9, **fields: Any) -> Any:
        own = {"gate_level": 0.99, "gate_rise": "1h", "gate_quantile": quantile}  # level unused
        return rule(**{**GATED, **own, **fields})

    @pytest.mark.parametrize(
        ("quantile", "observed", "rises", "expected"),
        [
            (0.9, [80, 88], RISES, Breaching),  # 88 >= 100 - 12, rising
            (0.9, [80, 87.5], RISES, Ok),  # rising, but more than 12 under the limit
            (0.95, [60, 70], RISES, Breaching),  # 70 >= 100 - 30
            (0.5, [90, 98], RISES, Breaching),  # 98 >= 100 - 2
            (0.5, [90, 97], RISES, Ok),  # 97 < 100 - 2
            (0.5, [90, 97.5], [2.5, 5.0, 12.0, 30.0], Breaching),  # at the level: open
            (0.5, [80, 88], RISES, Ok),  # a smaller typical rise: 88 < 98
            (0.9, [90, 88], RISES, Ok),  # near the limit, but falling
            (0.9, [80, 88], [], Ok),  # no rises known yet: the gate stays closed
            (0.9, [80, 88], [0.0, 0.0, float("nan"), 0.0], Ok),  # an unknown rise
        ],
    )
    def test_the_gate_is_within_the_queue_own_rise_of_the_limit(
        self, quantile: float, observed: list[float], rises: list[float], expected: type
    ) -> None:
        """At 0.15 (under 0.4, over 0.1) it fires only within the queue's own rise."""
        result = outcome(self.own(quantile), [], T0, ctx=self.view(0.15, observed, rises))
        assert isinstance(result, expected)
        assert ("gate open" in result.reason) == (expected is Breaching)

    def test_a_fixed_share_gate_ignores_the_rises(self) -> None:
        """Without gate_quantile the level is gate_level x the threshold, as before: 88 is
        under 0.9 x 100 whatever the queue's rises."""
        fixed = self.own(gate_quantile=None, gate_level=0.9)
        assert isinstance(outcome(fixed, [], T0, ctx=self.view(0.15, [80, 88], self.RISES)), Ok)
        assert isinstance(
            outcome(fixed, [], T0, ctx=self.view(0.15, [80, 91], self.RISES)), Breaching
        )

    def test_own_gate_floor(self) -> None:
        assert own_gate_floor(100.0, self.RISES, 0.75) == 95.0
        assert own_gate_floor(100.0, (), 0.75) == float("inf")

    @pytest.mark.parametrize(
        "fields",
        [
            {"gate_quantile": 0.8},  # not a quantile the forecast carries
            {"gate_probability": None, "recover_probability": None},  # no second stage
        ],
    )
    def test_an_impossible_own_gate_is_a_config_error(self, fields: dict[str, Any]) -> None:
        with pytest.raises(ValidationError, match="gate_quantile"):
            self.own(**fields)


class TestCommonBehaviour:
    def test_recovery_threshold_holds_while_firing(self) -> None:
        """While firing, the value must fall to recover_threshold to stop breaching."""
        r = rule(metric="open_tickets", threshold=500, recover_threshold=450)
        rows = [row(0, open_total=470)]
        assert isinstance(outcome(r, rows, T0, firing=False), Ok)
        assert isinstance(outcome(r, rows, T0, firing=True), Breaching)

    def test_override_changes_threshold_for_one_queue(self) -> None:
        """A per-queue override replaces the threshold of the queues it matches."""
        r = rule(
            metric="open_tickets",
            threshold=500,
            overrides=[{"match": {"queue": "Billing"}, "threshold": 1000}],
        )
        assert isinstance(outcome(r, [row(0, open_total=700)], T0), Ok)

    def test_regex_selection_is_anchored(self) -> None:
        """match_re selects queues by a fully anchored regex."""
        r = rule(metric="open_tickets", threshold=1, match_re={"queue": "Bill.*"})
        assert r.selects("helpdesk", "Billing")
        assert not r.selects("helpdesk", "Rebilling")

    def test_invalid_regex_is_a_config_error(self) -> None:
        """A broken regex is reported at load time."""
        with pytest.raises(ValidationError, match="invalid regex"):
            rule(metric="open_tickets", threshold=1, match_re={"queue": "("})

    @pytest.mark.parametrize(
        ("policy", "expected"), [("keep_last", NoData), ("ok", Ok), ("alerting", Breaching)]
    )
    def test_no_data_policy(self, policy: str, expected: type) -> None:
        """no_data keeps the state by default, or forces ok / alerting."""
        r = rule(metric="open_tickets", threshold=1, no_data=policy)
        assert isinstance(outcome(r, [], T0), expected)

    def test_source_down_keeps_state_by_default(self) -> None:
        """on_error defaults to keep_last: a failed poll is an error, not a value."""
        r = rule(metric="open_tickets", threshold=1)
        ctx = EvalContext(down={"helpdesk": "unavailable"})
        assert isinstance(outcome(r, [row(0, open_total=9)], T0, ctx=ctx), EvalError)


class TestCollectorDown:
    def test_fires_per_down_source_and_resolves(self) -> None:
        """CollectorDown fires for a source whose poll failed and resolves once it succeeds."""
        builtin = CollectorDownRule()
        ctx = EvalContext(sources=("helpdesk", "zendesk"))
        fired = evaluate(
            [builtin], {}, {}, {"helpdesk": "unavailable"}, ["oncall"], T0, context=ctx
        )
        assert [(i.labels["source"], t) for i, t in fired.transitions] == [
            ("helpdesk", Transition.FIRING)
        ]
        instances = {i.fingerprint: i for i in fired.changed}
        later = evaluate(
            [builtin], {}, instances, {}, ["oncall"], T0 + timedelta(minutes=1), context=ctx
        )
        assert [t for _, t in later.transitions] == [Transition.RESOLVED]
        assert later.changed[0].state is AlertState.RESOLVED
