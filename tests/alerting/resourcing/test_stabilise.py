"""The anti-flap stabiliser: dead band, delay, window max, cooldown, steps, blocking."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from alerting.resourcing.flow import agents_needed
from alerting.resourcing.stabilise import (
    DEFAULTS,
    Change,
    Direction,
    Policy,
    Stabiliser,
    StabiliserState,
)
from alerting.resourcing.status import QueueStatus

T0 = datetime(2025, 6, 2, 0, 0, tzinfo=UTC)
OK, WARN = QueueStatus.OK, QueueStatus.WARN
HUMANS = Stabiliser(DEFAULTS["humans"])
PODS = Stabiliser(DEFAULTS["pods"])


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def run(
    stabiliser: Stabiliser,
    state: StabiliserState,
    raws: list[int],
    start: float = 0,
    status: QueueStatus = OK,
) -> tuple[StabiliserState, list[tuple[float, Change]]]:
    """Feed one raw value per minute from ``start``; collect the changes."""
    changes: list[tuple[float, Change]] = []
    for i, raw in enumerate(raws):
        state, change = stabiliser.step(state, raw, status, at(start + i))
        if change is not None:
            changes.append((start + i, change))
    return state, changes


class TestDefaults:
    def test_pods_follow_the_hpa(self) -> None:
        """Pods: 10% band, 300 s window keeping the max, 60 s cooldown, +max(4, 100%)."""
        pods = DEFAULTS["pods"]
        assert (pods.dead_band, pods.scale_down_window, pods.cooldown) == (
            0.10,
            timedelta(seconds=300),
            timedelta(seconds=60),
        )
        assert (pods.max_step_up, pods.max_step_up_ratio, pods.block_scale_down_from) == (
            4,
            1.0,
            None,
        )

    def test_humans_are_slower(self) -> None:
        """Humans: 15% or ±1, 2 ticks, 60 min window, 30 min cooldown, +5/-3, WARN, 0.8."""
        h = DEFAULTS["humans"]
        assert (h.dead_band, h.dead_band_abs, h.scale_up_delay) == (0.15, 1, 2)
        assert (h.scale_down_window, h.cooldown) == (timedelta(minutes=60), timedelta(minutes=30))
        assert (h.max_step_up, h.max_step_down) == (5, 3)
        assert (h.block_scale_down_from, h.block_age_ratio) == (WARN, 0.8)


class TestStep:
    def test_first_tick_publishes(self) -> None:
        """With no value yet, the first raw value is published as the initial one."""
        state, change = HUMANS.step(StabiliserState(), 15, OK, T0)
        assert change == Change(None, 15, Direction.INITIAL, 15, "first recommendation")
        assert state.value == 15

    def test_dead_band_holds(self) -> None:
        """15 agents, raws of 17 (within 15% = 2.25) never change anything."""
        state, changes = run(HUMANS, StabiliserState(value=15), [17, 13, 17, 13] * 30)
        assert changes == []
        assert "dead band" in state.reason

    def test_absolute_band_for_small_teams(self) -> None:
        """Two agents: a raw of 3 is within ±1 agent and ignored."""
        _, changes = run(HUMANS, StabiliserState(value=2), [3] * 10)
        assert changes == []

    def test_scale_up_waits_for_the_delay(self) -> None:
        """Humans scale up on the third consecutive tick above the band."""
        state, changes = run(HUMANS, StabiliserState(value=15), [19, 19])
        assert changes == []
        assert "delay" in state.reason
        _, changes = run(HUMANS, state, [19], start=2)
        assert [(m, c.value, c.direction) for m, c in changes] == [(2, 19, Direction.UP)]

    def test_scale_up_uses_the_level_held(self) -> None:
        """Raws 22, 19, 21 lift 15 to 19, the lowest of the streak."""
        _, changes = run(HUMANS, StabiliserState(value=15), [22, 19, 21])
        assert [c.value for _, c in changes] == [19]

    def test_a_dip_resets_the_delay(self) -> None:
        """A tick back inside the band restarts the scale-up count."""
        _, changes = run(HUMANS, StabiliserState(value=15), [19, 19, 15, 19, 19])
        assert changes == []

    def test_max_step_up_for_humans(self) -> None:
        """15 agents asked to go to 30 go to 20 (+5)."""
        _, changes = run(HUMANS, StabiliserState(value=15), [30] * 3)
        assert [c.value for _, c in changes] == [20]

    @pytest.mark.parametrize(("current", "raw", "expected"), [(2, 20, 6), (10, 40, 20)])
    def test_max_step_up_for_pods(self, current: int, raw: int, expected: int) -> None:
        """Pods grow by max(4 pods, 100%) per change, like the HPA's selectPolicy Max."""
        _, changes = run(PODS, StabiliserState(value=current), [raw] * 3)
        assert [c.value for _, c in changes] == [expected]

    def test_scale_down_window_keeps_the_max(self) -> None:
        """After a raw of 20, scale-down waits until it leaves the 60 min window."""
        state, changes = run(HUMANS, StabiliserState(value=20), [20] + [10] * 59)
        assert changes == []
        _, changes = run(HUMANS, state, [10], start=60)
        assert [(m, c.value, c.direction) for m, c in changes] == [(60, 17, Direction.DOWN)]

    def test_max_step_down_and_cooldown(self) -> None:
        """Humans step down 3 at a time, 30 min apart, until 10 is within 11's dead band."""
        _, changes = run(HUMANS, StabiliserState(value=20), [10] * 100)
        assert [(m, c.value) for m, c in changes] == [(0, 17), (30, 14), (60, 11)]

    def test_scale_down_blocked_while_warn(self) -> None:
        """While the status is WARN or worse nobody is released; at OK they are."""
        state, changes = run(HUMANS, StabiliserState(value=20), [10] * 30, status=WARN)
        assert changes == []
        assert "blocked while status is WARN" in state.reason
        _, changes = run(HUMANS, state, [10] * 30, start=30, status=QueueStatus.STOP)
        assert changes == []
        _, changes = run(HUMANS, state, [10], start=60, status=OK)
        assert [c.value for _, c in changes] == [17]

    def test_scale_up_allowed_while_warn(self) -> None:
        """A bad status blocks only scale-down."""
        _, changes = run(HUMANS, StabiliserState(value=15), [19] * 3, status=WARN)
        assert [c.value for _, c in changes] == [19]

    def test_scale_down_blocked_near_the_sla(self) -> None:
        """The oldest ticket past 80% of its SLA blocks scale-down."""
        state, change = HUMANS.step(StabiliserState(value=20), 10, OK, T0, oldest_age_ratio=0.9)
        assert change is None
        assert "90% of SLA" in state.reason
        _, change = HUMANS.step(StabiliserState(value=20), 10, OK, T0, oldest_age_ratio=0.5)
        assert change is not None

    def test_pods_are_never_blocked_by_status(self) -> None:
        """Pods scale down even while WARN (the HPA has no such rule)."""
        _, changes = run(PODS, StabiliserState(value=20), [10], status=WARN)
        assert [c.value for _, c in changes] == [10]

    def test_cooldown_blocks_a_second_scale_up(self) -> None:
        """Humans scaled up are not scaled up again within 30 minutes."""
        state, changes = run(HUMANS, StabiliserState(value=15), [19] * 3 + [25] * 20)
        assert [c.value for _, c in changes] == [19]
        assert "cooldown" in state.reason
        _, changes = run(HUMANS, state, [25] * 15, start=23)
        assert [(m, c.value) for m, c in changes] == [(32, 24)]

    def test_scale_up_cuts_a_scale_down_cooldown_short(self) -> None:
        """As with AWS's ScaleInCooldown, a scale-out may follow a scale-in at once."""
        state, changes = run(HUMANS, StabiliserState(value=20), [10])
        assert [c.value for _, c in changes] == [17]
        _, changes = run(HUMANS, state, [25] * 3, start=1)
        assert [(m, c.value) for m, c in changes] == [(3, 22)]

    def test_clamped_to_the_policy_bounds(self) -> None:
        """Raw values are clamped to [minimum, maximum] first."""
        bounded = Stabiliser(replace(DEFAULTS["pods"], minimum=1, maximum=8))
        _, change = bounded.step(StabiliserState(), 50, OK, T0)
        assert change is not None and change.value == 8
        _, change = bounded.step(StabiliserState(), 0, OK, T0)
        assert change is not None and change.value == 1

    def test_no_limits_policy_follows_raw(self) -> None:
        """A policy without band, delay, window or caps follows the raw value."""
        free = Stabiliser(Policy(dead_band=0.0))
        _, changes = run(free, StabiliserState(value=5), [9, 2, 7])
        assert [c.value for _, c in changes] == [9, 2, 7]


class TestHysteresis:
    @staticmethod
    def simulate_day(stabiliser: Stabiliser, seed: int) -> tuple[int, int]:
        """Billing flat for a day with noisy inputs, a tick a minute: (raw, stable) changes."""
        rng = random.Random(seed)
        state, previous = StabiliserState(), None
        raw_changes = changes = 0
        for minute in range(24 * 60):
            backlog, arrivals = rng.gauss(670, 20), max(0.0, rng.gauss(90, 9))
            raw = agents_needed(backlog, 500, arrivals, 8, 6)
            raw_changes += previous is not None and raw != previous
            previous = raw
            state, change = stabiliser.step(state, raw, OK, at(minute))
            changes += change is not None
        return raw_changes, changes

    @pytest.mark.parametrize("seed", [1, 7, 42])
    def test_humans_do_not_oscillate(self, seed: int) -> None:
        """Over a day the raw value changes ~1000 times, the recommendation at most 3."""
        raw_changes, changes = self.simulate_day(HUMANS, seed)
        assert raw_changes > 900
        assert 1 <= changes <= 3

    @pytest.mark.parametrize("seed", [1, 7, 42])
    def test_pods_change_at_most_hourly(self, seed: int) -> None:
        """Pods, with lighter smoothing, still change at most about once an hour."""
        raw_changes, changes = self.simulate_day(PODS, seed)
        assert raw_changes > 900
        assert changes <= 24
