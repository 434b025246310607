"""λ from the forecast or measurement, μ measured or configured, EWMA smoothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from alerting.resourcing.rates import arrival_rate, ewma, throughput_per_agent_hour

NOW = datetime(2025, 6, 2, 8, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


class TestArrivalRate:
    def test_forecast_mean_over_the_window(self) -> None:
        """Forecast points inside the window are averaged; those outside are ignored."""
        forecast = [(NOW + i * HOUR, rate) for i, rate in enumerate([80, 100, 90, 500])]
        assert arrival_rate(forecast, 10, NOW, NOW + 3 * HOUR) == pytest.approx(90)

    def test_measured_without_forecast(self) -> None:
        """Without a forecast, or none in the window, the measured rate is used."""
        assert arrival_rate(None, 42, NOW, NOW + HOUR) == 42
        assert arrival_rate([(NOW - HOUR, 99)], 42, NOW, NOW + HOUR) == 42


class TestThroughput:
    def test_measured(self) -> None:
        """48 solves in 6 active agent-hours is 8 per agent-hour."""
        assert throughput_per_agent_hour(48, 6, 5) == 8

    @pytest.mark.parametrize(("resolved", "hours"), [(None, 6), (48, None), (48, 0), (0, 6)])
    def test_configured_fallback(self, resolved: float | None, hours: float | None) -> None:
        """Unknown or empty measurements fall back to the configured value."""
        assert throughput_per_agent_hour(resolved, hours, 5) == 5


class TestEwma:
    def test_half_life(self) -> None:
        """After one half-life the old value keeps half its weight."""
        half = timedelta(minutes=15)
        assert ewma(100, 0, half, half) == pytest.approx(50)
        assert ewma(None, 7, half, half) == 7
