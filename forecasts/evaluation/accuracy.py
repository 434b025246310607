"""Accuracy tables from replays: MASE, MAE and the shown band's coverage at 1/6/24 h.

Origins every 5 h (they rotate through the clock hours) from ``first_origin``, as in
forecasting.md. ``selected`` is the model the engine showed at each origin, and its
band the one the daemon stored, so its coverage is the daemon's.
"""

from __future__ import annotations

import numpy as np

from forecasts.engine import mase_scale
from forecasts.evaluation.replay import Replay
from forecasts.types import FloatArray

STEPS = (1, 6, 24)
SCALE_HOURS = 336
"""The MASE scale at an origin: the seasonal-naive MAE over this many trailing hours."""


def errors_from(forecasts: FloatArray, actual: FloatArray) -> FloatArray:
    """Actual minus forecast per origin and step (NaN where unknown)."""
    n, horizon = forecasts.shape
    padded = np.concatenate([actual, np.full(horizon, np.nan)])
    idx = np.arange(n)[:, None] + np.arange(1, horizon + 1)[None, :]
    return np.asarray(padded[idx] - forecasts, dtype=np.float64)


def queue_rows(
    actual: FloatArray, replay: Replay, first_origin: int
) -> dict[str, dict[str, list[float]]]:
    """Per model (plus ``selected``): scaled/absolute errors and band hits per step."""
    shown = np.asarray([f.point for f in replay.forecasts])
    matrices = {**replay.matrices, "selected": shown}
    lower = np.asarray([f.lower for f in replay.forecasts])
    upper = np.asarray([f.upper for f in replay.forecasts])
    origins = range(first_origin, len(actual) - 24, 5)
    out: dict[str, dict[str, list[float]]] = {}
    for name, matrix in matrices.items():
        errors = errors_from(matrix, actual)
        rows: dict[str, list[float]] = {f"{k}{h}": [] for h in STEPS for k in ("ase", "ae", "hit")}
        for t in origins:
            if np.isnan(errors[t]).any():
                continue
            scale = mase_scale(actual[max(0, t + 1 - SCALE_HOURS) : t + 1])
            for h in STEPS:
                rows[f"ase{h}"].append(abs(errors[t, h - 1]) / scale)
                rows[f"ae{h}"].append(abs(errors[t, h - 1]))
                if name == "selected" and replay.forecasts[t].status == "ok":
                    value = actual[t + h]
                    rows[f"hit{h}"].append(float(lower[t, h - 1] <= value <= upper[t, h - 1]))
        out[name] = rows
    return out


def summarise(rows: dict[str, list[float]]) -> dict[str, float]:
    """MASE, MAE and coverage per step from pooled rows."""
    out: dict[str, float] = {}
    for h in STEPS:
        out[f"mase_{h}h"] = float(np.mean(rows[f"ase{h}"])) if rows[f"ase{h}"] else float("nan")
        out[f"mae_{h}h"] = float(np.mean(rows[f"ae{h}"])) if rows[f"ae{h}"] else float("nan")
        hits = rows[f"hit{h}"]
        out[f"coverage80_{h}h"] = float(np.mean(hits)) if hits else float("nan")
    return out
