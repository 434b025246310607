"""What the backtest charts show (forecasts/evaluation/charts.py), on a synthetic replay."""

from __future__ import annotations

import numpy as np

from forecasts.evaluation.charts import chart_data
from forecasts.evaluation.replay import Replay
from forecasts.evaluation.report import HORIZON, TEST_START, fixed_limit
from forecasts.types import Forecast, HourlySeries
from tests.forecasts.synthetic import T0

HOURS = 800
RAMP = 650


def breaching_series() -> HourlySeries:
    """A daily wave, 20 lower after the limit's three weeks; from hour 650 a 60 h ramp."""
    t = np.arange(HOURS)
    open_ = 100 + 10 * np.sin(2 * np.pi * t / 24) - 20 * (t >= TEST_START)
    open_[RAMP : RAMP + 60] += 5 * np.arange(60)
    return HourlySeries.from_arrays(T0 + t.astype("timedelta64[h]"), open_)


def naive_replay(series: HourlySeries) -> Replay:
    """A replay whose shown forecast is the last value, with a band of +-5."""
    shown = []
    for t in range(len(series)):
        point = np.full(24, series.open[t])
        shown.append(
            Forecast(
                "q",
                series.timestamps[t],
                24,
                "naive",
                point,
                point - 5,
                point + 5,
                0.8,
                None,
                None,
                None,
                "ok",
            )
        )
    return Replay("q", {}, shown, {}, {}, {})


class TestChartData:
    def test_shows_the_test_period_forecast_band_alerts_and_onsets(self) -> None:
        """Hour t shows the forecast made at t - 6, inside its band; the breach has an onset."""
        series = breaching_series()
        alerting = series.open > fixed_limit(series) - 3
        data = chart_data(series, naive_replay(series), alerting)
        assert len(data.timestamps) == HOURS - TEST_START
        assert data.timestamps[0] == series.timestamps[TEST_START]
        np.testing.assert_array_equal(
            data.point, series.open[TEST_START - HORIZON : HOURS - HORIZON]
        )
        np.testing.assert_allclose(data.upper - data.point, np.full(HOURS - TEST_START, 5.0))
        assert data.limit == fixed_limit(series)
        first_above = int(np.argmax(series.open[RAMP:] > data.limit)) + RAMP
        assert data.onsets == [first_above - TEST_START]
        np.testing.assert_array_equal(data.alerting, alerting[TEST_START:])
