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

**A longer memory** (:class:`Memory`, ``forecasts.calibration_memory``): instead of
the ring's ≤ 168 origins, each breach question asked of a queue keeps decayed
reliability counts in the queue's state (per bin: forecasts issued, breaches that
followed, the sum of the probabilities issued), updated by the engine every hour
(:func:`remember`) with the probability as it was issued and, ``steps`` hours later,
whether the limit was crossed; every count is multiplied by ``0.5 ** (1 / half_life)``
each hour. The shrinkage target is not the identity but the **pooled map**: the same
counts summed over every queue's question of the same kind (:data:`Counts`, added up
by the caller), itself shrunk to the identity (:func:`memory_chance`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
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


Counts = npt.NDArray[np.float64]
"""Reliability counts, shape (3, BINS): decayed forecasts issued, breaches that followed,
and the sum of the probabilities issued, per bin."""


def empty_counts() -> Counts:
    """Counts with nothing remembered."""
    return np.zeros((3, BINS))


@dataclass
class Memory:
    """One breach question's decayed reliability counts on one queue (saved in its state).

    Attributes:
        group: the question's kind, shared across queues (``model@steps`` and the track
            name, if any): the pooled map sums the counts of every queue's memory of a group.
        model: the model asked (None: the engine's warning model).
        steps: the hours ahead asked (before any widening).
        limit: the limit it was last asked with (a rolling limit updates it).
        half_life: hours over which its counts lose half their weight.
        counts: see :data:`Counts`.
        pending: forecasts issued whose outcome is not known yet: (hour, probability,
            hours ahead, limit).
    """

    group: str
    model: str | None
    steps: int
    limit: float
    half_life: float
    counts: Counts = field(default_factory=empty_counts)
    pending: list[tuple[int, float, int, float]] = field(default_factory=list)


def memory_key(model: str | None, steps: int, limit: float, track: str | None) -> tuple[str, str]:
    """A question's memory key on a queue and its group (the pool it adds to).

    Without ``track`` the key names the limit (a fixed-limit rule); a ``track`` (a
    rolling limit's name) keeps one memory however the limit moves.
    """
    group = f"{model or 'default'}@{steps}h" + (f":{track}" if track else "")
    return (group if track else f"{group}>{limit:g}"), group


def bin_of(chance: float) -> int:
    """The reliability bin of a probability."""
    return min(int(chance * BINS), BINS - 1)


def remember(memory: Memory, hour: int, crossed: Callable[[int, int, float], bool | None]) -> None:
    """Advance ``memory`` to ``hour``: decay its counts one hour (by
    ``0.5 ** (1 / half_life)``), then count every
    pending forecast whose outcome is known by ``hour``.

    Args:
        memory: updated in place.
        hour: the hour just absorbed.
        crossed: ``crossed(first, last, limit)``: whether the open count exceeded the
            limit at some hour from ``first`` to ``last`` (None: not known, e.g. a gap;
            the forecast is then dropped).
    """
    memory.counts *= 0.5 ** (1.0 / memory.half_life)
    waiting = []
    for issued in memory.pending:
        at, chance, steps, limit = issued
        if at + steps > hour:
            waiting.append(issued)
            continue
        hit = crossed(at + 1, at + steps, limit)
        if hit is None:
            continue
        b = bin_of(chance)
        memory.counts[0, b] += 1.0
        memory.counts[1, b] += float(hit)
        memory.counts[2, b] += chance
    memory.pending = waiting


def pooled(counts: Iterable[Counts]) -> Counts:
    """The counts summed (in the order given: callers sort by queue for exact sums)."""
    total = empty_counts()
    for c in counts:
        total = total + c
    return total


def _map(
    counts: Counts, target: Callable[[FloatArray], FloatArray], prior: float
) -> tuple[FloatArray, FloatArray]:
    """Each bin's (mean probability, rate shrunk towards ``target(mean)``), isotonic."""
    issued, hits, total = counts
    centre = (np.arange(BINS) + 0.5) / BINS
    mean = np.where(issued > 0, total / np.where(issued > 0, issued, 1.0), centre)
    rate = (hits + prior * target(mean)) / (issued + prior)
    return mean, isotonic(rate, issued + prior)


def memory_chance(raw_now: float, own: Counts, pool: Counts | None, prior: float) -> float:
    """``raw_now`` read through the queue's own decayed map, shrunk towards the pooled one.

    The pooled map (``pool``: the counts summed over queues) is itself shrunk towards
    the identity with ``prior`` pseudo-observations per bin; each of the queue's own
    bins is shrunk towards the pooled map read at the bin's mean probability. Without
    a pool (or an empty one) the target is the identity.
    """
    target: Callable[[FloatArray], FloatArray] = lambda mean: mean  # noqa: E731
    if pool is not None and pool[0].sum() > 0:
        pool_mean, pool_rate = _map(pool, target, prior)
        target = lambda mean: np.interp(mean, pool_mean, pool_rate)  # noqa: E731
    mean, mapped = _map(own, target, prior)
    return float(np.clip(np.interp(raw_now, mean, mapped), 0.0, 1.0))
