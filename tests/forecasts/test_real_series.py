"""Selection on the real ServiceNow hourly total backlog (2016-03-14 .. 2016-05-31)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecasts.backtest import BacktestConfig
from forecasts.forecaster import ForecastSettings, forecast_queue
from forecasts.select import min_history
from forecasts.types import HourlySeries
from tests.data import SERVICENOW_HOURLY

HOURLY = SERVICENOW_HOURLY
CONFIG = BacktestConfig(origins=24)


@pytest.fixture(scope="module")
def total() -> HourlySeries:
    """The total backlog in the usable window."""
    frame = pd.read_csv(HOURLY, parse_dates=["timestamp"]).set_index("timestamp")
    window = frame.loc["2016-03-14":"2016-05-31"]
    return HourlySeries.from_arrays(
        window.index.to_numpy(dtype="datetime64[h]"),
        window["open"],
        window["created"],
        window["resolved"],
    )


class TestRealTotal:
    SETTINGS = ForecastSettings(candidates=("naive", "flow", "ets"), backtest=CONFIG)

    def test_short_history_falls_back_to_naive(self, total: HourlySeries) -> None:
        """Too short a history gives naive, insufficient_history, finite bands."""
        forecast = forecast_queue("all", total.head(min_history(CONFIG) - 1), self.SETTINGS)
        assert (forecast.model, forecast.status) == ("naive", "insufficient_history")
        assert np.all(forecast.point == total.open[min_history(CONFIG) - 2])
        assert np.all(np.isfinite(forecast.lower)) and np.all(np.isfinite(forecast.upper))
        assert np.all(forecast.lower < forecast.point) and np.all(forecast.point < forecast.upper)

    def test_selected_forecast_is_sane(self, total: HourlySeries) -> None:
        """Two weeks in, a model is chosen, its bands are finite and about the level."""
        forecast = forecast_queue("all", total.head(24 * 14), self.SETTINGS, limit=2500.0)
        assert forecast.status == "ok"
        assert forecast.backtest_mase is not None and forecast.backtest_mase < 1.0
        assert np.all(np.isfinite(forecast.upper)) and np.all(np.isfinite(forecast.lower))
        assert np.all(np.abs(forecast.point - total.open[24 * 14 - 1]) < 200)
        assert forecast.breach_probability == 0.0

    def test_surge_breach_is_foreseen(self, total: HourlySeries) -> None:
        """Near the March peak a limit just above the level has an ETA and probability."""
        end = int(np.argmax(total.open[:400]))
        limit = float(total.open[end - 1]) + 5
        forecast = forecast_queue("all", total.head(end), self.SETTINGS, limit=limit)
        assert forecast.breach_eta_hours is not None
        assert forecast.breach_probability is not None and forecast.breach_probability > 0.2
