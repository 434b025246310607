"""Selection on the real ServiceNow hourly total backlog (2016-03-14 .. 2016-05-31)."""

from __future__ import annotations

import numpy as np
import pytest

from forecasts.breach import breach_eta
from forecasts.engine import EngineSettings, EngineState, catch_up, phase_of
from forecasts.outputs import breach_chance, forecast
from forecasts.types import HourlySeries
from tests.data import SERVICENOW_HOURLY
from tests.forecasts.real import servicenow_total

HOURLY = SERVICENOW_HOURLY


@pytest.fixture(scope="module")
def total() -> HourlySeries:
    """The total backlog in the usable window."""
    return servicenow_total()


def engine_at(total: HourlySeries, hours: int) -> EngineState:
    """The engine stepped through the first ``hours`` of the real series."""
    return catch_up(None, total.head(hours), EngineSettings(), phase_of("all"))


class TestRealTotal:
    def test_short_history_is_reported_with_a_finite_band(self, total: HourlySeries) -> None:
        """Two days in: insufficient_history, naive, a finite band around the last value."""
        shown = forecast(engine_at(total, 48), EngineSettings(), "all")
        assert (shown.model, shown.status) == ("naive", "insufficient_history")
        assert np.all(shown.point == total.open[47])
        assert np.all(shown.lower < shown.point) and np.all(shown.point < shown.upper)

    def test_selected_forecast_is_sane(self, total: HourlySeries) -> None:
        """Two weeks in, a model is chosen on its MASE, its band near the level."""
        state = engine_at(total, 24 * 14)
        shown = forecast(state, EngineSettings(), "all")
        assert shown.status == "ok"
        assert shown.backtest_mase is not None and shown.backtest_mase < 1.0
        assert np.all(np.abs(shown.point - total.open[24 * 14 - 1]) < 200)
        assert breach_chance(state, EngineSettings(), 2500.0, 6)[0] == 0.0

    def test_surge_breach_is_foreseen(self, total: HourlySeries) -> None:
        """Near the March peak a limit just above the level is likely crossed within 6 h."""
        end = int(np.argmax(total.open[:400]))
        limit = float(total.open[end - 1]) + 5
        state = engine_at(total, end)
        chance, model = breach_chance(state, EngineSettings(), limit, 6)
        assert model == "warning" and chance > 0.2
        assert breach_eta(forecast(state, EngineSettings(), "all").upper[:6], limit) is not None
