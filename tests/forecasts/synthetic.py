"""Seeded synthetic hourly series for model-mechanics tests."""

from __future__ import annotations

import numpy as np

from forecasts.types import HourlySeries

T0 = np.datetime64("2024-01-01T00", "h")  # a Monday


def daily_backlog(
    hours: int, seed: int = 0, level: float = 500.0, noise: float = 2.0
) -> HourlySeries:
    """A backlog with a daily arrival/resolution pattern and small noise."""
    rng = np.random.default_rng(seed)
    hod = np.arange(hours) % 24
    created = np.clip(
        10 + 8 * np.sin(2 * np.pi * (hod - 6) / 24) + rng.normal(0, noise, hours), 0, None
    )
    resolved = np.clip(
        10 + 8 * np.sin(2 * np.pi * (hod - 8) / 24) + rng.normal(0, noise, hours), 0, None
    )
    open_ = level + np.cumsum(created - resolved)
    stamps = T0 + np.arange(hours).astype("timedelta64[h]")
    return HourlySeries.from_arrays(stamps, open_, created, resolved)


def trend(hours: int, slope: float = 3.0, start: float = 100.0) -> HourlySeries:
    """A noiseless straight line."""
    stamps = T0 + np.arange(hours).astype("timedelta64[h]")
    return HourlySeries.from_arrays(stamps, start + slope * np.arange(hours))


def random_walk(hours: int, seed: int = 0, level: float = 300.0) -> HourlySeries:
    """A Gaussian random walk (naive is optimal)."""
    rng = np.random.default_rng(seed)
    stamps = T0 + np.arange(hours).astype("timedelta64[h]")
    return HourlySeries.from_arrays(stamps, level + np.cumsum(rng.normal(0, 5, hours)))
