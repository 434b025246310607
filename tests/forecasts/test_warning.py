"""The early-warning model, breach chances from it, and the rolling-limit protocol."""

from __future__ import annotations

import numpy as np

from forecasts.breach import breach_probability
from forecasts.evaluation.events import episodes
from forecasts.evaluation.replay import COMBINATIONS
from forecasts.evaluation.report import fixed_limit, rolling_limit
from forecasts.evaluation.rules import crossing_probability
from forecasts.forecaster import ForecastSettings, breach_chance, refresh, reselect
from forecasts.models import MODELS, WarningModel
from forecasts.models.combo import FittedCombo
from forecasts.types import HourlySeries
from tests.forecasts.synthetic import T0, daily_backlog, trend


class TestWarningModel:
    def test_is_the_mean_of_its_members(self) -> None:
        series = daily_backlog(400, seed=3)
        fitted = WarningModel().fit(series)
        members = [m.fit(series).forecast(12) for m in WarningModel().members]
        np.testing.assert_allclose(fitted.forecast(12), np.mean(members, axis=0))
        assert [m.name for m in WarningModel().members] == ["naive", "flow", "ets_daily", "linear"]

    def test_replay_combines_the_same_members(self) -> None:
        """The benchmark's replayed 'warning' is the same combination the daemon fits."""
        replayed = [name.removesuffix("_6h") for name in COMBINATIONS["warning"]]
        assert replayed == [m.name for m in WarningModel().members]

    def test_reacts_to_a_climb_that_naive_ignores(self) -> None:
        """On a steady climb, the trend member pulls the forecast above the last value."""
        series = trend(400, slope=2.0)
        point = MODELS["warning"].fit(series).forecast(6)
        assert point[-1] > series.open[-1] + 2.0


class TestBreachChance:
    def test_uses_the_warning_model_and_its_own_calibration(self) -> None:
        series = daily_backlog(700, seed=1)
        state = reselect(series, ForecastSettings())
        assert state.warning is not None and state.warning.model == "warning"
        limit = float(series.open[-1]) + 5
        chance, model = breach_chance(state, limit, 6)
        expected = breach_probability(
            state.warning.fitted.forecast(6), state.warning.calibration, limit
        )
        assert model == "warning" and chance == expected

    def test_selected_model_when_no_warning_model(self) -> None:
        series = daily_backlog(700, seed=1)
        state = reselect(series, ForecastSettings(warning_model=None))
        assert state.warning is None
        _, model = breach_chance(state, float(series.open[-1]) + 5, 6)
        assert model == state.selection.model

    def test_refresh_advances_the_warning_model(self) -> None:
        series = daily_backlog(724, seed=2)
        state = reselect(series.head(700), ForecastSettings())
        later = refresh(state, series)
        assert later.warning is not None
        fitted = later.warning.fitted
        assert isinstance(fitted, FittedCombo)
        assert fitted.fitted[0].forecast(1)[0] == series.open[-1]  # the naive member
        assert later.last_hour == series.timestamps[-1]

    def test_short_history_has_no_warning_model(self) -> None:
        series = daily_backlog(60)
        state = reselect(series, ForecastSettings())
        assert state.status == "insufficient_history" and state.warning is None
        chance, model = breach_chance(state, float(series.open[-1]) + 1000, 6)
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

    def test_probability_is_against_the_limit_in_force_at_each_hour(self) -> None:
        point = np.full((40, 2), 15.0)
        errors = np.zeros((40, 2))
        limit = np.where(np.arange(40) < 32, 10.0, 20.0)
        prob = crossing_probability(point, errors, limit, 2, window=100)
        assert prob[30] == 1.0 and prob[35] == 0.0
