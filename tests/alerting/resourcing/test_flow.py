"""Backlog-flow staffing against the reference's worked example (Billing, 08:00)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from alerting.resourcing.flow import (
    AgeProfile,
    BacklogBelow,
    FlowInputs,
    OldestAgeWithin,
    WaitWithin,
    agents_needed,
    agents_needed_raw,
    ceil_tolerant,
    drain_time_hours,
    little_backlog_cap,
    oldest_age_at,
    plan,
    project,
    project_backlog,
    rostered,
    time_lag_hours,
)

NOW = datetime(2025, 6, 2, 8, 0, tzinfo=UTC)
BILLING = FlowInputs(backlog=670, arrival_rate=90, throughput=8, agents=12, shrinkage=0.2)
BY_14 = BacklogBelow(500, NOW + timedelta(hours=6))
HOUR = 3600.0


class TestWorkedExample:
    @pytest.mark.parametrize(
        ("agents", "backlog_at_14", "lag_h", "drain_h"),
        [(12, 634, 7.0, 112), (14, 538, 6.0, 30), (15, 490, 5.6, 22)],
    )
    def test_table_rows(
        self, agents: int, backlog_at_14: float, lag_h: float, drain_h: float
    ) -> None:
        """Each row of the table: backlog at 14:00, time lag and drain time."""
        capacity = agents * 8
        assert project_backlog(670, 90, capacity, 6) == pytest.approx(backlog_at_14)
        assert round(time_lag_hours(670, capacity), 1) == lag_h
        assert round(drain_time_hours(670, 90, capacity)) == drain_h

    def test_needs_fifteen_agents(self) -> None:
        """N = ceil(710/48) = ceil(14.79) = 15."""
        assert agents_needed_raw(670, 500, 90, 8, 6) == pytest.approx(710 / 48)
        assert agents_needed(670, 500, 90, 8, 6) == 15

    def test_rostered_goes_from_15_to_19(self) -> None:
        """With 20% shrinkage, 12 on queue is 15 rostered and 15 is 19 (+4)."""
        assert rostered(12, 0.2) == 15
        assert rostered(15, 0.2) == 19

    def test_plan_meets_the_goal(self) -> None:
        """The plan gives 15 agents, 490 with the change and 634 without."""
        result = plan(BY_14, BILLING, NOW)
        assert (result.needed, result.rostered_now, result.rostered_needed) == (15, 15, 19)
        assert result.needed_raw == pytest.approx(14.79, abs=0.005)
        assert result.without_change == pytest.approx(634)
        assert result.with_change == pytest.approx(490)
        assert result.with_change <= result.target == 500
        assert result.hours == 6

    def test_little_law_check(self) -> None:
        """At 90/h a backlog of 500 means an average wait of about 5.6 h."""
        assert little_backlog_cap(90, timedelta(hours=500 / 90)) == pytest.approx(500)
        assert round(500 / 90, 1) == 5.6


class TestFlowEdges:
    def test_ceiling_ignores_float_noise(self) -> None:
        """A raw 15.000000000001 is 15 agents, 15.01 is 16."""
        assert ceil_tolerant(15 + 1e-12) == 15
        assert ceil_tolerant(15.01) == 16

    def test_exact_integer_needs_no_extra_agent(self) -> None:
        """(0.1 + 0.2)/0.1 is 3.0000000000000004 in floats, and 3 agents."""
        assert (0.1 + 0.2) / 0.1 > 3
        assert agents_needed(0.1 + 0.2, 0, 0, 0.1, 1) == 3

    def test_target_already_met_needs_no_one(self) -> None:
        """A goal met without anyone gives 0, never a negative count."""
        assert agents_needed(10, 500, 0, 8, 6) == 0

    def test_no_capacity_means_infinite_lag(self) -> None:
        """With no agents, time lag and drain time are infinite."""
        assert math.isinf(time_lag_hours(10, 0))
        assert math.isinf(drain_time_hours(10, 5, 5))

    def test_empty_backlog_has_no_lag(self) -> None:
        """An empty queue has zero time lag and zero drain time."""
        assert time_lag_hours(0, 0) == 0
        assert drain_time_hours(0, 5, 0) == 0

    def test_backlog_never_projects_negative(self) -> None:
        """B(T) is clamped at zero."""
        assert project_backlog(10, 0, 100, 1) == 0

    def test_deadline_must_be_in_the_future(self) -> None:
        """An objective whose deadline has passed is rejected."""
        with pytest.raises(ValueError, match="not after now"):
            plan(BacklogBelow(500, NOW), BILLING, NOW)

    @pytest.mark.parametrize(
        "kwargs",
        [{"backlog": -1}, {"throughput": 0}, {"shrinkage": 1.0}, {"agents": -2}],
    )
    def test_invalid_inputs_are_rejected(self, kwargs: dict[str, float]) -> None:
        """Negative counts, zero throughput and shrinkage of 100% raise ValueError."""
        base: dict[str, float] = {"backlog": 1, "arrival_rate": 1, "throughput": 1, "agents": 1}
        with pytest.raises(ValueError):
            FlowInputs(**{**base, **kwargs})  # type: ignore[arg-type]


class TestPaceFloor:
    def test_never_below_the_pace_of_arrivals(self) -> None:
        """A goal met with nobody still keeps ceil(λ/μ) = 5 agents so the backlog stays flat."""
        quiet = FlowInputs(backlog=100, arrival_rate=40, throughput=8, agents=12)
        result = plan(BY_14, quiet, NOW)
        assert (result.needed_raw, result.needed, result.with_change) == (5, 5, 100)


class TestWaitWithin:
    def test_wait_objective_caps_backlog_by_little(self) -> None:
        """W ≤ 5 h at 90/h caps the backlog at 450: 760/48 → 16 agents."""
        objective = WaitWithin(timedelta(hours=5), NOW + timedelta(hours=6))
        result = plan(objective, BILLING, NOW)
        assert result.needed == 16
        assert result.target == 5 * HOUR
        assert result.with_change == pytest.approx(442 / 90 * HOUR)
        assert result.with_change <= result.target < result.without_change

    def test_no_arrivals_means_infinite_wait_only_with_backlog(self) -> None:
        """With λ = 0 a leftover backlog waits forever, an empty one not at all."""
        quiet = FlowInputs(backlog=10, arrival_rate=0, throughput=1, agents=0)
        objective = WaitWithin(timedelta(hours=1), NOW + timedelta(hours=1))
        assert math.isinf(project(objective, quiet, 0, NOW))
        assert project(objective, quiet, 10, NOW) == 0


class TestOldestAgeWithin:
    AGES = AgeProfile.from_ages(h * HOUR for h in range(1, 11))  # 1 h … 10 h old

    def test_clears_tickets_older_than_sla_by_deadline(self) -> None:
        """SLA 8 h by +2 h: the 4 tickets older than 6 h must go, so 2 agents at μ = 1."""
        inputs = FlowInputs(backlog=10, arrival_rate=2, throughput=1, agents=1)
        objective = OldestAgeWithin(timedelta(hours=8), NOW + timedelta(hours=2))
        result = plan(objective, inputs, NOW, self.AGES)
        assert result.needed == 2
        assert result.with_change == 8 * HOUR
        assert result.without_change == 10 * HOUR

    def test_deadline_past_sla_includes_early_arrivals(self) -> None:
        """SLA 1 h by +3 h: the backlog plus 2 h of arrivals must be cleared."""
        ages = AgeProfile.from_ages([HOUR])
        inputs = FlowInputs(backlog=1, arrival_rate=1, throughput=1, agents=0)
        objective = OldestAgeWithin(timedelta(hours=1), NOW + timedelta(hours=3))
        result = plan(objective, inputs, NOW, ages)
        assert result.needed == 1
        assert result.with_change == pytest.approx(HOUR)

    def test_needs_an_age_profile(self) -> None:
        """Without ages the objective cannot be planned."""
        objective = OldestAgeWithin(timedelta(hours=8), NOW + timedelta(hours=2))
        with pytest.raises(ValueError, match="age profile"):
            plan(objective, BILLING, NOW)

    def test_all_cleared_without_arrivals_is_zero(self) -> None:
        """Clearing everything with no arrivals leaves nothing to age."""
        assert oldest_age_at(self.AGES, 0, 100, 1) == 0


class TestAgeProfile:
    def test_older_than_counts_strictly(self) -> None:
        """Tickets aged exactly the limit are not older than it."""
        assert TestOldestAgeWithin.AGES.older_than(6 * HOUR) == 4
        assert TestOldestAgeWithin.AGES.older_than(-1) == 10

    def test_from_quantiles_follows_the_quantile_function(self) -> None:
        """100 tickets with median 2 h and oldest 10 h: about half older than 2 h."""
        profile = AgeProfile.from_quantiles(100, {0.5: 2 * HOUR}, oldest=10 * HOUR)
        assert len(profile.ages) == 100
        assert profile.older_than(2 * HOUR) == 50
        assert profile.ages[0] <= 10 * HOUR
        assert profile.ages[-1] >= 0
