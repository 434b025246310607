"""A bounded ring of past forecasts and actuals: online errors without a history copy.

The engine writes every base model's forecast (``horizon`` steps) and the actual open
count once per hour into slot ``hour % size``. An origin's error at step h is known
once the hour ``origin + h`` has been written; :meth:`Ring.errors` returns the error
paths of the most recent origins whose outcome is known, which is all that selection
(error at the alert horizon) and conformal calibration (paths) need. Forecasts are
kept as float32: a queue's ring of five models over 192 origins x 24 steps is 92 KiB.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import cast

import numpy as np

from forecasts.types import FloatArray


@dataclass
class Ring:
    """Past forecasts per base model and the actuals, by hour slot.

    Attributes:
        names: the base models, in the order of ``forecasts``' first axis.
        forecasts: shape (models, size, horizon), float32, NaN where none was made.
        actual: shape (size,), the open count of each slot's hour (NaN before the first).
        last: hours since the epoch of the last hour written (None before the first).
    """

    names: tuple[str, ...]
    forecasts: np.ndarray
    actual: FloatArray
    last: int | None = None
    _errors: FloatArray | None = field(default=None, repr=False, compare=False)
    memo: dict[object, object] = field(default_factory=dict, repr=False, compare=False)
    """Values derived from the ring's current contents (cleared by :meth:`push`)."""

    @classmethod
    def empty(cls, names: Sequence[str], size: int, horizon: int) -> Ring:
        """A ring of ``size`` hours for ``names``' forecasts of ``horizon`` steps."""
        forecasts = np.full((len(names), size, horizon), np.nan, dtype=np.float32)
        return cls(tuple(names), forecasts, np.full(size, np.nan))

    @property
    def size(self) -> int:
        """Hours held."""
        return int(self.actual.shape[0])

    def push(self, hour: int, actual: float, current: Mapping[str, FloatArray]) -> None:
        """Write ``hour``'s actual open count and each model's forecast made at it.

        Hours skipped since the last write (a gap in the history) are cleared, so no
        slot is ever read for an hour it does not hold.
        """
        size = self.size
        if self.last is not None and hour - self.last > 1:
            gap = np.arange(self.last + 1, min(hour, self.last + 1 + size)) % size
            self.actual[gap] = np.nan
            self.forecasts[:, gap] = np.nan
        slot = hour % size
        self.actual[slot] = actual
        for i, name in enumerate(self.names):
            self.forecasts[i, slot] = current[name]
        self.last = hour
        self._errors = None
        self.memo.clear()

    def forget(self) -> None:
        """Drop the values derived from the contents (recomputed when next asked for).

        The error cache alone is float64 (models x size x horizon): 180 KiB a queue, so
        a daemon that kept every queue's between its hourly runs held 176 MiB at 1,000
        queues for nothing (the next :meth:`push` clears it before it is read again).
        """
        self._errors = None
        self.memo.clear()

    def _all_errors(self) -> FloatArray:
        """Errors of every model at every origin held, oldest origin first (NaN: unknown).

        Computed once per hour: a combination's error is the mean of its members'
        errors (the actual is the same), so selection and calibration only slice this.
        """
        if self._errors is None:
            assert self.last is not None
            size, steps = self.size, self.forecasts.shape[2]
            origins = np.arange(self.last - size + 1, self.last + 1)
            targets = origins[:, None] + np.arange(1, steps + 1)[None, :]
            actual = np.where(targets <= self.last, self.actual[targets % size], np.nan)
            self._errors = actual[None, :, :] - self.forecasts[:, origins % size, :]
        return self._errors

    def errors(self, members: Sequence[str], steps: int, window: int) -> FloatArray:
        """Error paths (actual - forecast) over ``steps`` of the last ``window`` known origins.

        The forecast is the mean of ``members``' forecasts (a combination's). Rows with
        a missing forecast or actual are dropped; the most recent origin comes last.
        """
        return self.outcomes(members, steps, window)[0]

    def outcomes(
        self, members: Sequence[str], steps: int, window: int
    ) -> tuple[FloatArray, FloatArray]:
        """:meth:`errors` and, row for row, the actual open counts over the same steps.

        Computed once per hour and question (memoised until the next :meth:`push`;
        selection, the band and every breach question of an hour share them), so the
        arrays returned are read-only.
        """
        if self.last is None:
            return np.zeros((0, steps)), np.zeros((0, steps))
        key = ("outcomes", tuple(members), steps, window)
        known = self.memo.get(key)
        if known is None:
            known = self.memo[key] = self._outcomes(members, steps, window)
        return cast(tuple[FloatArray, FloatArray], known)

    def _outcomes(
        self, members: Sequence[str], steps: int, window: int
    ) -> tuple[FloatArray, FloatArray]:
        assert self.last is not None
        every = self._all_errors()
        stop = self.size - steps  # origins up to last - steps have all steps known
        start = max(0, stop - window)
        picked = [every[self.names.index(m), start:stop, :steps] for m in members]
        paths = picked[0] if len(picked) == 1 else sum(picked[1:], picked[0]) / len(picked)
        rows = np.isfinite(paths).all(axis=1)
        origins = np.arange(self.last - self.size + 1, self.last + 1)[start:stop][rows]
        targets = origins[:, None] + np.arange(1, steps + 1)[None, :]
        actual = self.actual[targets % self.size]
        out = (np.asarray(paths[rows], dtype=np.float64), np.asarray(actual, dtype=np.float64))
        for array in out:
            array.flags.writeable = False
        return out

    def recent_actuals(self, n: int) -> FloatArray:
        """The last ``n`` actual open counts known (fewer when the ring is younger)."""
        if self.last is None:
            return np.zeros(0)
        hours = np.arange(self.last - min(n, self.size) + 1, self.last + 1)
        values = self.actual[hours % self.size]
        return np.asarray(values[np.isfinite(values)], dtype=np.float64)

    def crossed(self, first: int, last: int, limit: float) -> bool | None:
        """Whether the actual exceeded ``limit`` at some hour from ``first`` to ``last``.

        None when the ring does not hold every one of those hours (too old, or a gap).
        """
        if self.last is None or last > self.last or first <= self.last - self.size:
            return None
        values = self.actual[np.arange(first, last + 1) % self.size]
        if not np.isfinite(values).all():
            return None
        return bool(np.any(values > limit))

    def last_actuals(self, n: int) -> tuple[float, ...]:
        """The actual open counts of the last ``n`` hours, oldest first (NaN for an hour
        the ring does not hold; fewer than ``n`` when the ring is younger)."""
        if self.last is None:
            return ()
        hours = np.arange(self.last - min(n, self.size) + 1, self.last + 1)
        return tuple(float(v) for v in self.actual[hours % self.size])

    def largest_rise(self, span: int, hours: int) -> float:
        """The largest rise of the actual over ``span`` hours ending in the last ``hours``.

        Hours the ring does not hold (before its first, or in a gap) are skipped; 0.0
        when no such pair is known (a young ring). Memoised until the next :meth:`push`.
        """
        if self.last is None:
            return 0.0
        key = ("largest_rise", span, hours)
        known = self.memo.get(key)
        if known is None:
            known = self.memo[key] = self._largest_rise(span, hours)
        return cast(float, known)

    def rise_quantiles(
        self, span: int, hours: int, quantiles: Sequence[float]
    ) -> tuple[float, ...]:
        """The queue's own typical rises: ``quantiles`` of the rises of the actual over
        ``span`` hours ending in the last ``hours`` (:func:`rise_quantiles`; empty when no
        such pair is known). Memoised until the next :meth:`push`."""
        if self.last is None:
            return ()
        key = ("rise_quantiles", span, hours, tuple(quantiles))
        known = self.memo.get(key)
        if known is None:
            count = min(hours + span, self.size)
            values = self.actual[np.arange(self.last - count + 1, self.last + 1) % self.size]
            known = self.memo[key] = rise_quantiles(values, span, quantiles)
        return cast(tuple[float, ...], known)

    def _largest_rise(self, span: int, hours: int) -> float:
        assert self.last is not None
        count = min(hours + span, self.size)
        values = self.actual[np.arange(self.last - count + 1, self.last + 1) % self.size]
        rises = values[span:] - values[:-span]
        known = rises[np.isfinite(rises)]
        return float(known.max()) if len(known) else 0.0


def rise_quantiles(values: FloatArray, span: int, quantiles: Sequence[float]) -> tuple[float, ...]:
    """``quantiles`` of ``values[t] - values[t - span]`` over the pairs both known, each
    at least 0 (a falling queue's typical rise is none); empty without such a pair."""
    rises = values[span:] - values[:-span]
    known = rises[np.isfinite(rises)]
    if not len(known):
        return ()
    return tuple(max(0.0, float(v)) for v in np.quantile(known, quantiles))
