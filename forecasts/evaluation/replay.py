"""Forecast matrices per queue and model, computed in a process pool.

Every model runs from the first origin (336 h of history) to the end, with its
parameters re-estimated weekly (ETS) or daily (the rest) and its state updated
hourly, via :func:`forecasts.rolling.rolling_forecasts`.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass

import numpy as np

from forecasts.fitwarnings import WarningTally
from forecasts.models import (
    DriftModel,
    EtsDailyModel,
    EtsModel,
    FlowModel,
    LinearModel,
    NaiveModel,
    SeasonalNaiveModel,
)
from forecasts.models.base import Model
from forecasts.rolling import rolling_forecasts
from forecasts.types import FloatArray, HourlySeries

FIRST_ORIGIN = 335
HORIZON = 24

REPLAY_MODELS: dict[str, tuple[Model, int]] = {
    "naive": (NaiveModel(), 24),
    "seasonal_naive": (SeasonalNaiveModel(), 24),
    "flow": (FlowModel(), 24),
    "drift": (DriftModel(), 24),
    "ets": (EtsModel(), 168),
    "ets_daily": (EtsDailyModel(), 168),
    "linear_6h": (LinearModel(window=6), 24),
    "linear_24h": (LinearModel(window=24), 24),
}
"""Model, and hours between parameter estimations."""

COMBINATIONS: dict[str, tuple[str, ...]] = {
    "combo": ("naive", "flow", "ets_daily"),
    "warning": ("naive", "flow", "ets_daily", "linear_6h"),
}
"""The equal-weight combinations (forecasts.models.combo), by replayed member."""


@dataclass(frozen=True)
class Replay:
    """All forecast matrices of one queue."""

    queue: str
    matrices: dict[str, FloatArray]
    warnings: dict[str, int]


def replay_queue(queue: str, series: HourlySeries) -> Replay:
    """Run every replay model over one queue."""
    matrices: dict[str, FloatArray] = {}
    tally = WarningTally()
    for name, (model, refit) in REPLAY_MODELS.items():
        train = 672 if name in ("ets", "flow") else 336  # ETS weekly needs 3 weeks
        matrices[name] = rolling_forecasts(
            model, series, FIRST_ORIGIN, HORIZON, refit, train_hours=train, tally=tally
        )
    # A combination's forecast is the mean of its members' forecasts; the members are
    # replayed above with the same fits, so the mean is the combination's replay.
    for name, members in COMBINATIONS.items():
        matrices[name] = np.mean([matrices[m] for m in members], axis=0)
    return Replay(queue, matrices, dict(tally.counts))


def replay_all(
    series: dict[str, HourlySeries],
    workers: int = 2,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Replay]:
    """Replays of every queue, ``workers`` processes at a time; ``progress(done, total)``."""
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(replay_queue, q, s): q for q, s in series.items()}
        done: dict[str, Replay] = {}
        for future in as_completed(futures):
            done[futures[future]] = future.result()
            if progress is not None:
                progress(len(done), len(futures))
        return {q: done[q] for q in series}
