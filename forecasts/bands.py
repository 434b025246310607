"""Calibrated prediction bands from a queue's own backtest residuals (split conformal).

The backtest gives, per origin, the error path ``actual - point`` over steps 1..H.
The band at step h is the point plus the empirical quantiles of the step-h errors,
at the finite-sample conformal level, so its coverage on the queue's own backtest
matches the nominal level by construction, whatever the model's own intervals do.
The residual *paths* are kept: they also give the joint probability of crossing a
limit (:mod:`forecasts.breach`). Without a backtest (short history) the bands come
from a random walk whose step spread is the history's hourly changes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from forecasts.types import FloatArray

FALLBACK_PATHS = 41
"""Quantile-grid paths that stand for the random-walk distribution."""


@dataclass(frozen=True)
class Calibration:
    """Residual paths a band is built from.

    Attributes:
        paths: error paths, shape (samples, steps); ``point + paths[i]`` is one outcome.
        scale: multiplier applied to every path (1.0 = plain conformal).
    """

    paths: FloatArray
    scale: float = 1.0

    @property
    def steps(self) -> int:
        """How many steps ahead the paths cover."""
        return int(self.paths.shape[1])

    def scaled_paths(self, h: int) -> FloatArray:
        """Paths for steps 1..h, extended past the last step by sqrt-of-time growth."""
        known = self.paths[:, : min(h, self.steps)]
        if h <= self.steps:
            return known * self.scale
        extra = np.arange(self.steps + 1, h + 1) / self.steps
        tail = self.paths[:, -1:] * np.sqrt(extra)[None, :]
        return np.concatenate([known, tail], axis=1) * self.scale

    def band(self, point: FloatArray, level: float) -> tuple[FloatArray, FloatArray]:
        """Lower and upper edges of the central ``level`` band around ``point``."""
        paths = self.scaled_paths(len(point))
        lo_q, hi_q = conformal_quantiles(len(paths), level)
        lo, hi = np.quantile(paths, [lo_q, hi_q], axis=0)
        return np.asarray(point + lo, dtype=np.float64), np.asarray(point + hi, dtype=np.float64)


def conformal_quantiles(n: int, level: float) -> tuple[float, float]:
    """Lower and upper quantile levels with the split-conformal (n+1) correction."""
    tail = (1.0 - level) / 2.0
    upper = min(1.0, math.ceil((n + 1) * (1.0 - tail)) / n) if n else 1.0
    lower = max(0.0, 1.0 - upper)
    return lower, upper


def from_residuals(residuals: FloatArray, scale: float = 1.0) -> Calibration:
    """A calibration from backtest error paths (origins x steps)."""
    return Calibration(np.asarray(residuals, dtype=np.float64), scale)


def random_walk(open_: FloatArray, steps: int) -> Calibration:
    """A random-walk calibration for histories too short to backtest.

    Args:
        open_: the open counts seen so far (at least one).
        steps: steps ahead to cover.
    """
    diffs = np.diff(open_)
    sigma = float(np.std(diffs)) if len(diffs) > 1 else max(1.0, 0.05 * abs(float(open_[-1])))
    sigma = max(sigma, 1.0)
    probs = (np.arange(FALLBACK_PATHS) + 0.5) / FALLBACK_PATHS
    z = np.array([NormalDist().inv_cdf(p) for p in probs])
    growth = np.sqrt(np.arange(1, steps + 1))
    return Calibration(z[:, None] * sigma * growth[None, :])


def coverage(residuals: FloatArray, calibration: Calibration, level: float) -> FloatArray:
    """Share of residuals inside the band at each step (for reports)."""
    zero = np.zeros(residuals.shape[1])
    lower, upper = calibration.band(zero, level)
    inside = (residuals >= lower) & (residuals <= upper)
    return np.asarray(inside.mean(axis=0), dtype=np.float64)
