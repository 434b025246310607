"""Selection, bands, breach figures and the forecaster on synthetic series."""

from __future__ import annotations

import numpy as np
import pytest

from forecasts.backtest import BacktestConfig, backtest_model, mase_scale
from forecasts.bands import conformal_quantiles, coverage, from_residuals, random_walk
from forecasts.breach import ForecastRuleDecision, RuleOutcome, breach_eta, breach_probability
from forecasts.fitwarnings import counted_warnings
from forecasts.forecaster import (
    ForecastSettings,
    forecast_queue,
    make_forecast,
    refresh,
    reselect,
)
from forecasts.models import FlowModel, NaiveModel
from forecasts.select import min_history, select_model
from tests.forecasts.synthetic import daily_backlog
from tests.forecasts.synthetic import random_walk as rw_series

FAST = BacktestConfig(origins=20, train_hours=168)


class TestBacktest:
    def test_naive_errors_are_changes(self) -> None:
        """Naive's step-1 error equals the next hour's change."""
        series = rw_series(300)
        result = backtest_model(NaiveModel(), series, FAST)
        positions = FAST.origin_positions(300, 25)
        expected = series.open[positions] - series.open[np.array(positions) - 1]
        np.testing.assert_allclose(result.errors[:, 0], expected)

    def test_scale_is_seasonal_naive_mae(self) -> None:
        """The MASE scale is the mean absolute 24-hour change."""
        values = np.arange(48, dtype=np.float64)
        assert mase_scale(values) == 24.0


class TestSelect:
    def test_short_history_is_insufficient(self) -> None:
        """Below the minimum history selection returns naive, insufficient_history."""
        selection = select_model(daily_backlog(min_history(FAST) - 1), [FlowModel()], FAST)
        assert (selection.model, selection.status) == ("naive", "insufficient_history")

    def test_flow_wins_on_flow_series(self) -> None:
        """On a flow-driven series flow beats naive at the alert horizon."""
        selection = select_model(daily_backlog(24 * 16, seed=7), [FlowModel()], FAST)
        assert selection.model == "flow"
        assert selection.mase["flow"] < selection.mase["naive"]

    def test_naive_kept_on_random_walk(self) -> None:
        """On a random walk naive's MASE is within 10% of the best."""
        selection = select_model(rw_series(24 * 16, seed=8), [FlowModel()], FAST)
        assert selection.mase["naive"] <= 1.1 * min(selection.mase.values())


class TestBands:
    def test_conformal_quantiles(self) -> None:
        """With 19 residuals an 80% band uses the 0.947 (n+1 corrected) quantile."""
        lower, upper = conformal_quantiles(19, 0.8)
        assert upper == pytest.approx(18 / 19)
        assert lower == pytest.approx(1 / 19)

    def test_coverage_near_nominal(self) -> None:
        """Bands from 2,000 Gaussian residuals cover about 80% of fresh ones."""
        rng = np.random.default_rng(0)
        cal = from_residuals(rng.normal(0, 3, (2000, 6)))
        cover = coverage(rng.normal(0, 3, (4000, 6)), cal, 0.8)
        assert np.all(np.abs(cover - 0.8) < 0.03)

    def test_random_walk_widens(self) -> None:
        """The short-history fallback band widens with the horizon."""
        cal = random_walk(np.array([10.0, 12.0, 11.0, 15.0]), 6)
        lower, upper = cal.band(np.zeros(6), 0.8)
        assert np.all(np.diff(upper - lower) > 0)

    def test_extends_past_calibrated_steps(self) -> None:
        """Asking for more steps than calibrated grows the band like sqrt(h)."""
        cal = from_residuals(np.random.default_rng(1).normal(0, 1, (200, 4)))
        lower, upper = cal.band(np.zeros(16), 0.8)
        assert (upper - lower)[15] == pytest.approx(2 * (upper - lower)[3], rel=1e-6)


class TestBreach:
    def test_eta_first_crossing(self) -> None:
        """The ETA is the first step whose upper edge exceeds the limit."""
        assert breach_eta(np.array([1.0, 5.0, 11.0, 12.0]), 10.0) == 3
        assert breach_eta(np.array([1.0, 2.0]), 10.0) is None

    def test_probability_counts_paths(self) -> None:
        """Half the paths cross: probability one half."""
        cal = from_residuals(np.array([[0.0, 5.0], [0.0, -5.0]]))
        assert breach_probability(np.array([10.0, 10.0]), cal, 12.0) == 0.5

    def test_hysteresis(self) -> None:
        """The rule fires at the alert threshold and recovers only below recovery."""
        rule = ForecastRuleDecision(alert_threshold=0.6, recovery_threshold=0.3)
        assert rule.decide(False, 0.5) is RuleOutcome.QUIET
        assert rule.decide(False, 0.6) is RuleOutcome.FIRE
        assert rule.decide(True, 0.4) is RuleOutcome.HOLD
        assert rule.decide(True, 0.2) is RuleOutcome.RECOVER

    def test_rejects_inverted_thresholds(self) -> None:
        """A recovery threshold above the alert threshold is refused."""
        with pytest.raises(ValueError):
            ForecastRuleDecision(alert_threshold=0.3, recovery_threshold=0.5)


class TestForecaster:
    SETTINGS = ForecastSettings(candidates=("naive", "flow"), backtest=FAST)

    def test_forecast_is_finite(self) -> None:
        """A selected forecast has finite point and ordered bands."""
        forecast = forecast_queue("q", daily_backlog(24 * 16), self.SETTINGS, limit=1e9)
        assert forecast.status == "ok"
        assert np.all(np.isfinite(forecast.point))
        assert np.all(forecast.lower <= forecast.upper)
        assert forecast.breach_probability == 0.0 and forecast.breach_eta_hours is None

    def test_refresh_advances(self) -> None:
        """Refreshing with new hours moves made_at and keeps the model."""
        series = daily_backlog(24 * 16 + 3)
        state = reselect(series.head(24 * 16), self.SETTINGS)
        later = refresh(state, series)
        assert later.last_hour == series.timestamps[-1]
        assert later.selection.model == state.selection.model

    def test_no_warning_leaks(self) -> None:
        """Nothing is counted outside the forecasts code (ETS included)."""
        settings = ForecastSettings(candidates=("naive", "ets"), backtest=FAST)
        with counted_warnings() as outside:
            forecast_queue("q", daily_backlog(24 * 10, seed=9), settings)
        assert outside.total == 0


class TestWarningCount:
    def test_ets_backtest_counts_convergence(self) -> None:
        """Backtesting ETS on a real-like series reports its fit warnings in the tally."""
        from forecasts.fitwarnings import WarningTally, fit_warnings
        from forecasts.models import EtsDailyModel

        fitted = EtsDailyModel().fit(daily_backlog(24 * 10, seed=12))
        assert isinstance(fit_warnings(fitted), WarningTally)
        assert fit_warnings(object()).total == 0


class TestFallback:
    def test_non_finite_forecast_falls_back_to_last_value(self) -> None:
        """A state whose model forecasts NaN yields naive at the last value, fallback."""
        from dataclasses import replace

        from forecasts.models.naive import FittedNaive

        settings = ForecastSettings(candidates=("naive",), backtest=FAST)
        series = daily_backlog(24 * 16)
        state = replace(reselect(series, settings), fitted=FittedNaive(float("nan")))
        forecast = make_forecast("q", state, settings, limit=1e9)
        assert (forecast.model, forecast.status) == ("naive", "fallback")
        assert np.all(forecast.point == series.open[-1])
        assert np.all(np.isfinite(forecast.upper))
