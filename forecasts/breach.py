"""Breach ETA and probability.

The ETA is Datadog's: the first step at which the band's upper edge crosses the
limit. The probability is the share of calibrated outcome paths (point plus a
backtest error path) that cross the limit at any step within the horizon, so it
accounts for errors being correlated across steps. The forecast rule
(``alerting/rules/forecast.py``) fires on the probability, with hysteresis.
"""

from __future__ import annotations

import numpy as np

from forecasts.bands import Calibration
from forecasts.types import FloatArray


def breach_eta(upper: FloatArray, limit: float) -> int | None:
    """First step (1-based) whose upper band edge exceeds ``limit``, or None."""
    above = np.flatnonzero(upper > limit)
    return int(above[0]) + 1 if len(above) else None


def breach_probability(point: FloatArray, calibration: Calibration, limit: float) -> float:
    """Probability that the open count exceeds ``limit`` at some step of ``point``.

    Args:
        point: point forecast for steps 1..h.
        calibration: error paths of the model on the queue's backtest.
        limit: the rule's limit.
    """
    paths = point[None, :] + calibration.scaled_paths(len(point))
    crossed = np.any(paths > limit, axis=1)
    return float(crossed.mean()) if len(crossed) else float(np.any(point > limit))
