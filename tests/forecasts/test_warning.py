"""The early-warning model, breach chances from it, and the rolling-limit protocol."""

from __future__ import annotations

import numpy as np

from forecasts.breach import breach_probability
from forecasts.engine import COMBOS, EngineSettings, catch_up, current_forecast, phase_of
from forecasts.evaluation.events import episodes
from forecasts.evaluation.report import fixed_limit, rolling_limit
from forecasts.models import MODELS, WarningModel
from forecasts.outputs import breach_chance, calibration
from forecasts.types import HourlySeries
from tests.forecasts.synthetic import T0, daily_backlog, trend


class TestWarningModel:
    def test_is_the_mean_of_its_members(self) -> None:
        series = daily_backlog(400, seed=3)
        fitted = WarningModel().fit(series)
        members = [m.fit(series).forecast(12) for m in WarningModel().members]
        np.testing.assert_allclose(fitted.forecast(12), np.mean(members, axis=0))
        assert [m.name for m in WarningModel().members] == ["naive", "flow", "ets_daily", "linear"]

    def test_engine_combines_the_same_members(self) -> None:
        """The engine's 'warning' is the mean of the same members as the model class."""
        assert list(COMBOS["warning"]) == [m.name for m in WarningModel().members]

    def test_reacts_to_a_climb_that_naive_ignores(self) -> None:
        """On a steady climb, the trend member pulls the forecast above the last value."""
        series = trend(400, slope=2.0)
        point = MODELS["warning"].fit(series).forecast(6)
        assert point[-1] > series.open[-1] + 2.0


class TestBreachChance:
    def test_uses_the_warning_model_and_its_own_calibration(self) -> None:
        """The probability is the warning model's forecast plus its own error paths."""
        series = daily_backlog(700, seed=1)
        state = catch_up(None, series, EngineSettings(), phase_of("q"))
        limit = float(series.open[-1]) + 5
        chance, model = breach_chance(state, EngineSettings(), limit, 6)
        point = current_forecast(state, "warning")[:6]
        expected = breach_probability(
            point, calibration(state, "warning", 6, EngineSettings()), limit
        )
        assert model == "warning" and chance == expected

    def test_selected_model_when_no_warning_model(self) -> None:
        """warning_model None (the config's 'selected'): the selected model's paths."""
        settings = EngineSettings(warning_model=None)
        series = daily_backlog(700, seed=1)
        state = catch_up(None, series, settings, phase_of("q"))
        _, model = breach_chance(state, settings, float(series.open[-1]) + 5, 6)
        assert model == state.selected

    def test_short_history_uses_a_random_walk_around_the_last_value(self) -> None:
        """Before any model is calibrated, naive with a random-walk spread answers."""
        series = daily_backlog(60)
        state = catch_up(None, series, EngineSettings(), phase_of("q"))
        chance, model = breach_chance(state, EngineSettings(), float(series.open[-1]) + 1000, 6)
        assert model == "naive" and 0.0 <= chance < 0.5


def weeks_of(values: list[float], hours_each: int = 168) -> HourlySeries:
    """Hourly series from Monday 00:00, each value held for a week."""
    open_ = np.repeat(np.asarray(values, dtype=np.float64), hours_each)
    stamps = T0 + np.arange(len(open_)).astype("timedelta64[h]")
    return HourlySeries.from_arrays(stamps, open_)


class TestRollingLimit:
    def test_monday_p90_of_the_trailing_three_weeks(self) -> None:
        series = weeks_of([10, 20, 30, 40, 50, 60])
        limit = rolling_limit(series)
        assert fixed_limit(series) == 30.0  # p90 of the first 21 days
        assert np.all(limit[: 3 * 168] == 30.0)  # no three weeks behind yet
        assert np.all(limit[3 * 168 : 4 * 168] == 30.0)  # weeks 10, 20, 30
        assert np.all(limit[4 * 168 : 5 * 168] == 40.0)  # weeks 20, 30, 40
        assert np.all(limit[5 * 168 :] == 50.0)

    def test_episodes_and_probabilities_follow_the_limit_in_force(self) -> None:
        open_ = np.array([5.0, 5, 12, 12, 5, 5, 12, 12])
        limit = np.array([10.0, 10, 10, 10, 20, 20, 20, 20])
        [episode] = episodes(open_, limit)
        assert (episode.onset, episode.end) == (2, 3)
