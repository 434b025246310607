"""Model mechanics on seeded synthetic series."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecasts.fitwarnings import counted_warnings
from forecasts.models import MODELS, EtsDailyModel, EtsModel, FlowModel, LinearModel, NaiveModel
from forecasts.models.base import InsufficientHistory, Updatable, advance
from forecasts.models.ets import FittedEts
from forecasts.models.flow import FittedFlow
from forecasts.models.linear import ols_line
from forecasts.models.seasonal_naive import SeasonalNaiveModel
from tests.forecasts.synthetic import daily_backlog, trend


class TestNaive:
    def test_repeats_last_value(self) -> None:
        """The forecast is the last open count at every step."""
        series = daily_backlog(48)
        assert np.all(NaiveModel().fit(series).forecast(5) == series.open[-1])

    def test_update_keeps_newest(self) -> None:
        """Updating moves the forecast to the newest value."""
        series = daily_backlog(50)
        fitted = NaiveModel().fit(series.head(48))
        assert isinstance(fitted, Updatable)
        assert fitted.update(series.window(48, 50)).forecast(1)[0] == series.open[-1]


class TestSeasonalNaive:
    def test_repeats_last_day(self) -> None:
        """Step k forecasts the value 24 hours before it."""
        series = daily_backlog(72)
        point = SeasonalNaiveModel().fit(series).forecast(30)
        np.testing.assert_array_equal(point[:24], series.open[-24:])
        assert point[24] == series.open[-24]

    def test_too_short_raises(self) -> None:
        """Less than a season of history raises InsufficientHistory."""
        with pytest.raises(InsufficientHistory):
            SeasonalNaiveModel().fit(daily_backlog(10))


class TestLinear:
    def test_extrapolates_line(self) -> None:
        """A straight line is continued exactly."""
        point = LinearModel(window=6).fit(trend(20, slope=3.0)).forecast(4)
        np.testing.assert_allclose(point, 100 + 3.0 * np.arange(20, 24), atol=1e-9)

    def test_flat_window_has_a_slope_of_exactly_zero(self) -> None:
        """As in Prometheus, equal samples give slope 0 (np.polyfit gave about 1e-15)."""
        intercept, slope = ols_line(np.full(6, 37.0))
        assert (intercept, slope) == (37.0, 0.0)

    def test_matches_prometheus_least_squares(self) -> None:
        """Intercept at the evaluation time and slope per hour of the OLS line."""
        intercept, slope = ols_line(np.array([1.0, 2.0, 4.0]))  # x = -2, -1, 0
        assert slope == pytest.approx(1.5) and intercept == pytest.approx(7 / 3 + 1.5)

    def test_update_matches_refit(self) -> None:
        """Sliding the window by update equals fitting on the longer series."""
        series = daily_backlog(60)
        model = LinearModel(window=6)
        updated = advance(model, model.fit(series.head(55)), series, 5)
        np.testing.assert_allclose(updated.forecast(6), model.fit(series).forecast(6))


class TestFlow:
    def test_forecasts_flows(self) -> None:
        """Arrival and resolution forecasts follow the daily pattern within noise."""
        series = daily_backlog(24 * 14, seed=1)
        fitted = FlowModel().fit(series)
        assert isinstance(fitted, FittedFlow)
        arrivals, resolutions = fitted.forecast_flows(24)
        expected = 10 + 8 * np.sin(2 * np.pi * (np.arange(24) - 6) / 24)
        np.testing.assert_allclose(arrivals, np.clip(expected, 0, None), atol=2.0)
        assert resolutions.shape == (24,)

    def test_beats_naive_on_flow_driven_series(self) -> None:
        """On a backlog driven by a daily net flow, 6 h ahead errs less than naive."""
        series = daily_backlog(24 * 15, seed=2)
        train, actual = series.head(24 * 14), series.open[24 * 14 : 24 * 14 + 6]
        flow = FlowModel().fit(train).forecast(6)
        naive = NaiveModel().fit(train).forecast(6)
        assert np.abs(flow - actual).mean() < np.abs(naive - actual).mean()


class TestEts:
    def test_forecast_matches_statsmodels(self) -> None:
        """The state-space forecast equals statsmodels' own forecast (same estimation)."""
        from statsmodels.tsa.holtwinters import ExponentialSmoothing

        series = daily_backlog(24 * 10, seed=3)
        fitted = EtsModel(weekly=False).fit(series)
        assert isinstance(fitted, FittedEts)
        with counted_warnings():
            res = ExponentialSmoothing(
                pd.Series(series.open),
                trend="add",
                damped_trend=True,
                seasonal="add",
                seasonal_periods=24,
                initialization_method="heuristic",
            ).fit(use_brute=False)
        np.testing.assert_allclose(fitted.forecast(24), res.forecast(24).to_numpy(), rtol=1e-6)

    def test_update_matches_known_parameter_run(self) -> None:
        """Updating 24 hours equals statsmodels' recursion with the same parameters."""
        series = daily_backlog(24 * 11, seed=4)
        fitted = EtsModel(weekly=False).fit(series.head(24 * 10))
        assert isinstance(fitted, FittedEts)
        updated = fitted.update(series.window(240, 264))
        direct = fitted
        for i in range(240, 264):
            direct = direct.update(series.window(i, i + 1))  # type: ignore[assignment]
        np.testing.assert_allclose(updated.forecast(6), direct.forecast(6), rtol=1e-9)

    def test_weekly_season_after_three_weeks(self) -> None:
        """Three weeks of history switch the season length to 168 hours."""
        fitted = EtsModel().fit(daily_backlog(24 * 21, seed=5))
        assert isinstance(fitted, FittedEts)
        assert len(fitted.season) == 168

    def test_warnings_are_counted_not_raised(self) -> None:
        """Fitting under -W error raises nothing; warnings land in the tally."""
        fitted = EtsModel(weekly=False).fit(daily_backlog(24 * 3, seed=6, noise=0.0))
        assert isinstance(fitted, FittedEts)
        assert fitted.warnings.total >= 0


class TestRegistry:
    def test_names_match(self) -> None:
        """Every registered model is registered under its own name."""
        assert all(model.name == name for name, model in MODELS.items())


class TestCombo:
    def test_is_mean_of_members(self) -> None:
        """The combination forecasts the mean of naive, flow and daily ETS."""
        from forecasts.models import ComboModel

        series = daily_backlog(24 * 8, seed=10)
        combo = ComboModel().fit(series).forecast(12)
        members = [NaiveModel(), FlowModel(), EtsDailyModel()]
        with counted_warnings():
            expected = np.mean([m.fit(series).forecast(12) for m in members], axis=0)
        np.testing.assert_allclose(combo, expected, rtol=1e-9)

    def test_update_advances_members(self) -> None:
        """Updating the combination moves its naive member to the newest value."""
        from forecasts.models import ComboModel
        from forecasts.models.combo import FittedCombo

        series = daily_backlog(24 * 8 + 2, seed=11)
        fitted = ComboModel().fit(series.head(24 * 8))
        assert isinstance(fitted, FittedCombo)
        updated = fitted.update(series.window(24 * 8, 24 * 8 + 2))
        assert isinstance(updated, FittedCombo)
        assert updated.fitted[0].forecast(1)[0] == series.open[-1]
