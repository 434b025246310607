"""Per-queue widening of the breach horizon for queues that jump fast (engine.breach_steps)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from config.settings import ForecastingSettings
from forecasts.breach import breach_probability
from forecasts.engine import (
    EngineSettings,
    EngineState,
    breach_steps,
    catch_up,
    current_forecast,
    phase_of,
)
from forecasts.evaluation.replay import Question, answers_only, replay_queue
from forecasts.outputs import breach_chance, calibration
from forecasts.ring import Ring
from monitor.forecasting import engine_settings
from tests.forecasts.synthetic import daily_backlog

SETTINGS = EngineSettings(burst_jump=0.1, burst_widen=2)


def largest_rise(open_: np.ndarray, span: int = 6, hours: int = 168) -> float:
    """The largest rise over ``span`` hours ending in the last ``hours``, from the series."""
    tail = open_[-(hours + span) :]
    return float(np.max(tail[span:] - tail[:-span]))


@pytest.fixture(scope="module")
def state() -> EngineState:
    return catch_up(None, daily_backlog(700, seed=1), SETTINGS, phase_of("q"))


class TestLargestRise:
    def test_rise_over_span_within_the_last_hours(self) -> None:
        ring = Ring.empty(("m",), size=20, horizon=1)
        values = [0, 1, 2, 10, 3, 3, 3, 4, 5, 6]
        for hour, v in enumerate(values):
            ring.push(hour, float(v), {"m": np.array([0.0])})
        assert ring.largest_rise(span=2, hours=8) == 9.0  # 1 -> 10
        assert ring.largest_rise(span=2, hours=3) == 2.0  # 3 -> 5, 4 -> 6
        assert ring.largest_rise(span=1, hours=1) == 1.0

    def test_skips_hours_not_held_and_a_young_ring_has_none(self) -> None:
        ring = Ring.empty(("m",), size=20, horizon=1)
        assert ring.largest_rise(6, 168) == 0.0
        ring.push(0, 1.0, {"m": np.array([0.0])})
        ring.push(5, 100.0, {"m": np.array([0.0])})  # hours 1..4 missing
        assert ring.largest_rise(span=1, hours=10) == 0.0
        assert ring.largest_rise(span=5, hours=10) == 99.0


class TestBreachSteps:
    def test_widened_only_when_the_queue_jumped_by_the_share_of_the_limit(
        self, state: EngineState
    ) -> None:
        rise = largest_rise(daily_backlog(700, seed=1).open)
        assert rise > 0
        assert breach_steps(state, SETTINGS, rise / 0.1, 6) == 12  # jumped 10 % of it
        assert breach_steps(state, SETTINGS, rise / 0.1 + 1.0, 6) == 6
        off = replace(SETTINGS, burst_jump=None)
        assert breach_steps(state, off, rise, 6) == 6
        assert breach_steps(state, SETTINGS, rise, 20) == SETTINGS.horizon  # capped

    def test_a_fast_jumping_queue_is_asked_over_the_widened_horizon(
        self, state: EngineState
    ) -> None:
        """The probability is the warning model's over 12 steps, and not lower than over 6."""
        limit = float(current_forecast(state, "warning").max()) + 5.0
        fast = replace(SETTINGS, burst_jump=largest_rise(daily_backlog(700, seed=1).open) / limit)
        chance, model = breach_chance(state, fast, limit, 6)
        point = current_forecast(state, "warning")[:12]
        cal = calibration(state, "warning", 12, fast)
        assert model == "warning"
        assert chance == breach_probability(point, cal, limit)
        plain, _ = breach_chance(state, replace(fast, burst_jump=None), limit, 6)
        assert chance > plain


class TestReplayQuestions:
    def test_a_question_is_answered_with_its_own_settings(self) -> None:
        series = daily_backlog(400, seed=2)
        limit = np.full(len(series), float(series.open.max()) + 5.0)
        jump = largest_rise(series.open) / float(limit[0])
        asked = [
            Question("plain", limit, 6, settings=replace(SETTINGS, burst_jump=None)),
            Question("widened", limit, 6, settings=replace(SETTINGS, burst_jump=jump)),
            Question("engine's", limit, 6),
        ]
        rep = replay_queue("q", series, SETTINGS, asked)
        state = catch_up(None, series, SETTINGS, phase_of("q"))
        for q in asked:
            expected, _ = breach_chance(state, q.settings or SETTINGS, float(limit[-1]), 6)
            assert rep.probabilities[q.name][-1] == expected
        assert not np.array_equal(rep.probabilities["plain"], rep.probabilities["widened"])

    def test_settings_that_change_the_state_are_refused(self) -> None:
        assert answers_only(replace(SETTINGS, burst_jump=0.3, warning_model="combo"), SETTINGS)
        other = replace(SETTINGS, window=100)
        assert not answers_only(other, SETTINGS)
        series = daily_backlog(100)
        with pytest.raises(ValueError, match="change the engine's state"):
            replay_queue("q", series, SETTINGS, [Question("x", series.open, 6, settings=other)])


class TestConfig:
    def test_the_daemon_passes_its_setting_to_the_engine(self) -> None:
        """The config's default is the engine's; null turns the widening off."""
        assert engine_settings(ForecastingSettings()).burst_jump == EngineSettings().burst_jump
        assert engine_settings(ForecastingSettings(burst_jump=None)).burst_jump is None
        assert engine_settings(ForecastingSettings(burst_jump=0.3)).burst_jump == 0.3
