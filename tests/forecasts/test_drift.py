"""The same-hour drift model."""

from __future__ import annotations

import numpy as np

from forecasts.models import DriftModel
from forecasts.types import HourlySeries
from tests.forecasts.synthetic import T0, daily_backlog


def series_of(values: np.ndarray, start: np.datetime64 = T0) -> HourlySeries:
    stamps = start + np.arange(len(values)).astype("timedelta64[h]")
    return HourlySeries.from_arrays(stamps, values)


class TestDrift:
    def test_adds_half_the_mean_same_hour_path_of_past_weekdays(self) -> None:
        """Thursday 08:00 origin: the paths from 08:00 on Mon-Wed, averaged and halved."""
        values = 50 + np.tile(np.r_[np.zeros(9), np.arange(1.0, 16.0)], 4)  # climbs from 09:00
        series = series_of(values[: 3 * 24 + 9])  # up to Thursday 08:00 (T0 is a Monday)
        fitted = DriftModel(days=3).fit(series)
        point = fitted.forecast(3)
        # Each past day, from 08:00: +1, +2, +3 over the next three hours.
        np.testing.assert_allclose(point, values[3 * 24 + 8] + 0.5 * np.array([1.0, 2.0, 3.0]))

    def test_a_weekend_origin_uses_weekend_days_only(self) -> None:
        """Sunday: Saturday's path counts, the weekdays' paths do not."""
        hod = np.tile(np.arange(24.0), 7)
        weekday_climb = np.where(np.arange(7 * 24) < 5 * 24, 10 * hod, 0.0)
        series = series_of(100 + weekday_climb[: 6 * 24 + 1])  # Sunday 00:00
        point = DriftModel(days=6).fit(series).forecast(5)
        np.testing.assert_allclose(point, np.full(5, series.open[-1]))

    def test_update_equals_a_fit_on_the_longer_history(self) -> None:
        series = daily_backlog(500, seed=4)
        model = DriftModel()
        updated = model.fit(series.head(470)).update(series.tail(30))
        np.testing.assert_allclose(updated.forecast(24), model.fit(series).forecast(24))

    def test_steps_beyond_a_day_hold_the_last_drift(self) -> None:
        series = daily_backlog(400, seed=5)
        point = DriftModel(days=1).fit(series).forecast(30)
        assert np.all(np.isfinite(point)) and np.all(point[24:] == point[23])
