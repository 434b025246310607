"""Accuracy tables from replayed forecast matrices: MASE, MAE and 80% coverage.

Origins every 5 h from the first origin, as in forecasting.md. The bands are
conformal: per step, the quantiles of the model's own errors at origins in the
previous 14 days whose outcomes were known at the origin. ``selected`` is the model
chosen each day at 23:00 by MASE at the alert horizon over the previous 14 days
(switching from naive only for a gain of at least ``SWITCH_MARGIN``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from forecasts.bands import conformal_quantiles
from forecasts.rolling import errors_from, rolling_scale
from forecasts.select import SWITCH_MARGIN
from forecasts.types import FloatArray

STEPS = (1, 6, 24)
WINDOW = 336
MIN_PATHS = 48


def past_paths(errors: FloatArray, t: int, steps: int, window: int = WINDOW) -> FloatArray:
    """Error paths (steps 1..steps) of origins whose outcomes were known at ``t``."""
    rows = errors[max(0, t - window) : t - steps + 1, :steps]
    return rows[~np.isnan(rows).any(axis=1)]


def band_offsets(paths: FloatArray, level: float) -> tuple[FloatArray, FloatArray]:
    """Conformal lower and upper offsets per step."""
    lo, hi = conformal_quantiles(len(paths), level)
    return np.quantile(paths, lo, axis=0), np.quantile(paths, hi, axis=0)


def choose(
    errors: dict[str, FloatArray], scale: FloatArray, t: int, candidates: Sequence[str], h: int
) -> str:
    """The candidate with the lowest MASE at step ``h`` over the 14 days before ``t``."""
    lo = max(0, t - WINDOW)
    scores: dict[str, float] = {}
    for name in candidates:
        err = errors[name][lo : t - h + 1, h - 1]
        sc = scale[lo : t - h + 1]
        ok = ~np.isnan(err)
        if ok.sum() >= MIN_PATHS:
            scores[name] = float(np.mean(np.abs(err[ok]) / sc[ok]))
    if "naive" not in scores:
        return "naive"
    best = min(scores, key=lambda name: scores[name])
    return best if scores[best] < (1 - SWITCH_MARGIN) * scores["naive"] else "naive"


def selected_series(
    errors: dict[str, FloatArray], scale: FloatArray, candidates: Sequence[str], h: int
) -> list[str]:
    """The model in force at each origin (reselected daily at 23:00)."""
    n = len(scale)
    chosen, current = [], "naive"
    for t in range(n):
        if t % 24 == 23:
            current = choose(errors, scale, t, candidates, h)
        chosen.append(current)
    return chosen


def queue_rows(
    actual: FloatArray,
    matrices: dict[str, FloatArray],
    first_origin: int,
    candidates: Sequence[str],
    level: float = 0.8,
) -> dict[str, dict[str, list[float]]]:
    """Per model (plus ``selected``): lists of scaled/absolute errors and hits per step."""
    scale = rolling_scale(actual)
    errors = {name: errors_from(m, actual) for name, m in matrices.items()}
    chosen = selected_series(errors, scale, candidates, 6)
    origins = range(first_origin, len(actual) - 24, 5)
    out: dict[str, dict[str, list[float]]] = {}
    for name in [*errors, "selected"]:
        rows: dict[str, list[float]] = {k: [] for k in _keys()}
        for t in origins:
            model = chosen[t] if name == "selected" else name
            _score_origin(rows, errors[model], scale[t], t, level)
        out[name] = rows
    return out


def _keys() -> list[str]:
    return [f"{kind}{h}" for h in STEPS for kind in ("ase", "ae", "hit")]


def _score_origin(
    rows: dict[str, list[float]], errors: FloatArray, scale: float, t: int, level: float
) -> None:
    err = errors[t]
    if np.isnan(err).any():
        return
    paths = past_paths(errors, t, 24)
    lo, hi = band_offsets(paths, level) if len(paths) >= MIN_PATHS else (None, None)
    for h in STEPS:
        rows[f"ase{h}"].append(abs(err[h - 1]) / scale)
        rows[f"ae{h}"].append(abs(err[h - 1]))
        if lo is not None and hi is not None:
            rows[f"hit{h}"].append(float(lo[h - 1] <= err[h - 1] <= hi[h - 1]))


def summarise(rows: dict[str, list[float]]) -> dict[str, float]:
    """MASE, MAE and coverage per step from pooled rows."""
    out: dict[str, float] = {}
    for h in STEPS:
        out[f"mase_{h}h"] = float(np.mean(rows[f"ase{h}"])) if rows[f"ase{h}"] else float("nan")
        out[f"mae_{h}h"] = float(np.mean(rows[f"ae{h}"])) if rows[f"ae{h}"] else float("nan")
        hits = rows[f"hit{h}"]
        out[f"coverage80_{h}h"] = float(np.mean(hits)) if hits else float("nan")
    return out
