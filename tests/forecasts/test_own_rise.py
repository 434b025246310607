"""The queue's own typical rise a forecast carries (Ring.rise_quantiles, Forecast.rises):
what the forecast rule's gate from the queue's own history reads."""

from __future__ import annotations

import numpy as np
import pandas as pd

from alerting.rules import ForecastRule
from forecasts.engine import EngineSettings, catch_up, phase_of
from forecasts.outputs import forecast
from forecasts.ring import Ring
from forecasts.types import RISE_QUANTILES
from monitor.forecasting import carrying
from tests.forecasts.real import servicenow_total

SPAN, HOURS = 6, 168


def pandas_rises(open_: np.ndarray) -> pd.DataFrame:
    """Per hour, the quantiles of the 6-hour rises ending in the last 168 hours, by pandas
    (floored at 0): an independent computation of what the ring gives."""
    rises = pd.Series(open_).diff(SPAN).rolling(HOURS, min_periods=1)
    return pd.DataFrame({q: rises.quantile(q).clip(lower=0.0) for q in RISE_QUANTILES})


class TestRiseQuantiles:
    def test_equal_pandas_on_the_real_servicenow_total_every_hour(self) -> None:
        """Pushed hour by hour, the ring's quantiles are pandas' rolling ones."""
        open_ = servicenow_total().open[:600]
        expected = pandas_rises(open_)
        ring = Ring.empty(("m",), size=HOURS + 24, horizon=1)
        got = []
        for hour, value in enumerate(open_):
            ring.push(hour, float(value), {"m": np.array([0.0])})
            got.append(ring.rise_quantiles(SPAN, HOURS, RISE_QUANTILES) or (np.nan,) * 4)
        np.testing.assert_allclose(np.asarray(got), expected.to_numpy(), rtol=1e-9, atol=1e-9)
        assert np.isnan(got[SPAN - 1]).all() and not np.isnan(got[SPAN]).any()
        assert len(set(map(tuple, np.asarray(got)[HOURS:]))) > 50  # they move with the queue

    def test_hours_not_held_are_skipped_and_a_fall_is_no_rise(self) -> None:
        ring = Ring.empty(("m",), size=20, horizon=1)
        for hour, value in [(0, 10.0), (1, 12.0), (2, 20.0), (5, 1.0), (6, 0.0)]:
            ring.push(hour, value, {"m": np.array([0.0])})
        # pairs 1 h apart both held: 0->1 (+2), 1->2 (+8), 5->6 (-1); hours 3, 4 unknown
        assert ring.rise_quantiles(1, 10, (0.0, 0.5, 1.0)) == (0.0, 2.0, 8.0)
        assert ring.rise_quantiles(2, 10, (0.5,)) == (10.0,)  # only 0 -> 2 is held
        assert ring.rise_quantiles(4, 10, (1.0,)) == (0.0,)  # 1 -> 5, 2 -> 6: falls only
        assert ring.rise_quantiles(7, 10, (0.5,)) == ()  # no pair 7 h apart is held


def test_the_forecast_carries_the_rises_of_the_state_last_window() -> None:
    """The engine's forecast at its last hour carries pandas' quantiles at that hour."""
    series = servicenow_total().head(400)
    settings = EngineSettings()
    state = catch_up(None, series, settings, phase_of("all"))
    carried = forecast(state, settings, "all").rises
    expected = pandas_rises(series.open).iloc[-1].to_numpy()
    np.testing.assert_allclose(carried, expected, rtol=1e-9)
    assert carried[0] < carried[-1]  # the median rise under the 95th percentile


def test_the_rises_are_carried_only_where_a_rule_reads_them() -> None:
    """``carrying``: the daemon's and the backtest's settings carry the rises only when a
    forecast rule has ``gate_quantile``; without, the forecast carries none, the rest of
    it unchanged."""
    series = servicenow_total().head(400)
    settings = EngineSettings()
    plain = ForecastRule.model_validate(
        {"name": "p", "kind": "forecast", "threshold": 500, "min_probability": 0.5}
    )
    gated = ForecastRule.model_validate(
        {
            "name": "g",
            "kind": "forecast",
            "threshold": 500,
            "min_probability": 0.5,
            "gate_probability": 0.1,
            "gate_quantile": 0.9,
            "gate_rise": "3h",
        }
    )
    assert carrying(settings, [gated]).carry_rises
    off = carrying(settings, [plain])
    assert not off.carry_rises and not carrying(settings, []).carry_rises
    assert off.fingerprint() == settings.fingerprint()  # saved states stay valid
    state = catch_up(None, series, settings, phase_of("all"))
    with_rises, without = forecast(state, settings, "all"), forecast(state, off, "all")
    assert with_rises.rises and without.rises == ()
    for name in ("point", "lower", "upper"):
        assert np.array_equal(getattr(without, name), getattr(with_rises, name))
    keep = ("model", "status", "observed", "made_at")
    assert [getattr(without, k) for k in keep] == [getattr(with_rises, k) for k in keep]
