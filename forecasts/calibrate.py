"""Per-queue calibration of a breach probability on the queue's own past forecasts.

The engine's breach probability (:func:`forecasts.breach.breach_probability`) is the
share of a model's recent error paths that, added to its forecast, cross the limit.
On a slow queue that sits just under its limit for days that share can stay at 0.3
without the limit ever being crossed; on a fast one 0.3 may mean a breach most times.
Calibration maps the probability through what it turned out to mean on this queue:

1. **Past chances** (:func:`past_chances`): for every origin the ring holds whose
   outcome is known (the same origins the error paths come from), the probability its
   own forecast would have been given by the *other* origins' error paths (its own
   path left out: that would be its outcome), and whether the open count did cross
   the limit within the steps. Only hours up to the state's last hour are read.
2. **Reliability map** (:func:`reliability`): the past chances in ten bins of equal
   width; each bin's hit rate is shrunk towards the bin's own mean probability with
   ``prior`` pseudo-observations (a queue with few past forecasts in a bin keeps the
   uncalibrated value there: the pooled map is the identity), the bins are made
   non-decreasing by pooling adjacent violators (isotonic regression), and the
   current probability is read off the line through the bins' (mean probability,
   rate) points.

Everything is a function of the ring, which the state saves: the daemon, a restarted
daemon and the backtest compute the same value at the same hour.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import numpy as np
import numpy.typing as npt

from forecasts.ring import Ring
from forecasts.types import FloatArray

BINS = 10
"""Equal-width bins of the probability in the reliability map."""

BoolArray = npt.NDArray[np.bool_]


def past_chances(
    errors: FloatArray, actuals: FloatArray, limit: float
) -> tuple[FloatArray, BoolArray]:
    """Per known origin, its leave-one-out breach probability and whether it breached.

    Args:
        errors: error paths (origins x steps), actual minus forecast.
        actuals: the actual open counts over the same origins and steps.
        limit: the limit.

    Returns:
        The share of the other origins' error paths that, added to this origin's
        forecast, cross ``limit`` at some step; and whether the actual crossed it.
    """
    n = len(errors)
    hit = np.asarray(np.any(actuals > limit, axis=1))
    raw = np.zeros(n)
    if n < 2:
        return raw, hit
    forecasts = actuals - errors
    # An origin whose forecast plus the largest error at each step stays under the
    # limit has no crossing path: only the others need the full comparison.
    near = np.flatnonzero(np.any(forecasts + errors.max(axis=0) > limit, axis=1))
    if len(near):
        crossed = np.any(forecasts[near, None, :] + errors[None, :, :] > limit, axis=2)
        crossed[np.arange(len(near)), near] = False  # leave the origin's own path out
        raw[near] = crossed.sum(axis=1) / (n - 1)
    return raw, hit


def isotonic(values: FloatArray, weights: FloatArray) -> FloatArray:
    """The non-decreasing sequence closest to ``values`` in weighted least squares."""
    blocks: list[list[float]] = []  # [weighted mean, weight, count]
    for v, w in zip(values.tolist(), weights.tolist(), strict=True):
        blocks.append([v, w, 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            v2, w2, c2 = blocks.pop()
            v1, w1, c1 = blocks[-1]
            blocks[-1] = [(v1 * w1 + v2 * w2) / (w1 + w2), w1 + w2, c1 + c2]
    return np.repeat([b[0] for b in blocks], [int(b[2]) for b in blocks]).astype(np.float64)


def reliability(raw_now: float, raw: FloatArray, hit: BoolArray, prior: float) -> float:
    """``raw_now`` read through the map fitted on past ``(raw, hit)`` pairs.

    Args:
        raw_now: the current uncalibrated probability.
        raw: past uncalibrated probabilities.
        hit: whether each past forecast's limit was crossed.
        prior: pseudo-observations per bin at the bin's mean probability (> 0).
    """
    index = np.minimum((raw * BINS).astype(np.int64), BINS - 1)
    count = np.bincount(index, minlength=BINS).astype(np.float64)
    hits = np.bincount(index, weights=hit.astype(np.float64), minlength=BINS)
    total = np.bincount(index, weights=raw, minlength=BINS)
    centre = (np.arange(BINS) + 0.5) / BINS
    mean = np.where(count > 0, total / np.maximum(count, 1.0), centre)
    rate = (hits + prior * mean) / (count + prior)
    mapped = isotonic(rate, count + prior)
    return float(np.clip(np.interp(raw_now, mean, mapped), 0.0, 1.0))


def calibrated(
    ring: Ring,
    members: Sequence[str],
    steps: int,
    window: int,
    limit: float,
    raw_now: float,
    prior: float,
) -> float:
    """The queue's calibrated breach probability (the past chances memoised per hour)."""
    key = ("past_chances", tuple(members), steps, window, limit)
    past = ring.memo.get(key)
    if past is None:
        errors, actuals = ring.outcomes(members, steps, window)
        past = ring.memo[key] = past_chances(errors, actuals, limit)
    raw, hit = cast(tuple[FloatArray, BoolArray], past)
    return reliability(raw_now, raw, hit, prior)
