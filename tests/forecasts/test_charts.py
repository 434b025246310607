"""What the backtest charts show (forecasts/evaluation/charts.py), on a synthetic replay."""

from __future__ import annotations

import numpy as np

from forecasts.evaluation.charts import chart_data
from forecasts.evaluation.replay import FIRST_ORIGIN, Replay
from forecasts.evaluation.report import HORIZON, TEST_START, fixed_limit
from forecasts.types import HourlySeries
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
    """The "warning" matrix of a naive model: every step forecasts the last value."""
    matrix = np.repeat(series.open[:, None], 24, axis=1)
    matrix[:FIRST_ORIGIN] = np.nan
    return Replay("q", {"warning": matrix}, {})


class TestChartData:
    def test_shows_the_test_period_forecast_band_alerts_and_onsets(self) -> None:
        """Hour t shows the forecast made at t - 6, inside its band; the breach has an onset."""
        series = breaching_series()
        data = chart_data(series, naive_replay(series))
        assert len(data.timestamps) == HOURS - TEST_START
        assert data.timestamps[0] == series.timestamps[TEST_START]
        np.testing.assert_array_equal(
            data.point, series.open[TEST_START - HORIZON : HOURS - HORIZON]
        )
        assert np.isfinite(data.lower).all() and np.isfinite(data.upper).all()
        assert (data.lower <= data.point).all() and (data.point <= data.upper).all()
        assert data.limit == fixed_limit(series)
        first_above = int(np.argmax(series.open[RAMP:] > data.limit)) + RAMP
        assert data.onsets == [first_above - TEST_START]
        assert data.alerting[first_above - TEST_START : first_above - TEST_START + 24].all()
        assert not data.alerting[: RAMP - TEST_START].any()
