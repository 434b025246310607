"""The forecast job: each hour, every queue's engine absorbs its new hours; forecasts stored.

The engine (:mod:`forecasts.engine`) is the one the backtest replays: this job only
reads rollups, calls :func:`~forecasts.engine.catch_up` once per queue, stores what
:func:`~forecasts.outputs.outputs` says, and saves the engine states in the store so
that a restart resumes where it stopped (the hours since a queue's saved state are
replayed from the rollups, which gives exactly the states of an uninterrupted run).
Most queues need only their last hours; the full ``history`` window is read only for
queues that start, fell behind, or estimate parameters this hour.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import sqlalchemy as sa

from alerting.rules import ForecastRule, RuleBase
from config.settings import ForecastingSettings
from forecasts.calibrate import Counts
from forecasts.engine import (
    EngineSettings,
    EngineState,
    catch_up,
    estimation_due,
    hour_number,
    phase_of,
)
from forecasts.outputs import BreachKey, Outputs, outputs, pooled_counts
from forecasts.types import HourlySeries
from monitor.store import forecasting as forecast_store
from monitor.store import history

log = logging.getLogger(__name__)
HOUR = timedelta(hours=1)
RECENT = timedelta(hours=6)
"""Rollups read for a queue that only absorbs its new hours (a margin of a few missed
ticks; a queue further behind reads its whole history window)."""
Key = tuple[str, str]
"""A queue: (source, queue)."""


def breach_key(limit: float, horizon_hours: int) -> str:
    """How a rule's breach probability is stored: ``"<limit>@<hours>"``."""
    return f"{limit:g}@{horizon_hours}"


def engine_settings(settings: ForecastingSettings) -> EngineSettings:
    """The engine settings of a daemon configuration (the backtest uses the same)."""
    hours = int(settings.history / HOUR)
    return EngineSettings(
        level=settings.level,
        window=int(settings.window / HOUR),
        train_hours=min(EngineSettings.train_hours, hours),
        warning_model=None if settings.warning_model == "selected" else settings.warning_model,
        burst_jump=settings.burst_jump,
        calibration_prior=settings.calibration_prior,
        calibration_half_life=(
            None if settings.calibration_memory is None else settings.calibration_memory / HOUR
        ),
        ets_estimation=settings.ets_estimation,
    )


def carrying(settings: EngineSettings, rules: Sequence[RuleBase]) -> EngineSettings:
    """``settings`` with the forecasts carrying the queues' own rises only when a forecast
    rule of ``rules`` reads them (``gate_quantile``): the daemon and the backtest alike."""
    reads = any(isinstance(r, ForecastRule) and r.gate_quantile is not None for r in rules)
    return settings if settings.carry_rises == reads else replace(settings, carry_rises=reads)


def queue_name(key: Key) -> str:
    """The name the engine phases a queue by (and the backtest reports it as)."""
    return f"{key[0]}/{key[1]}"


def questions(rules: Sequence[RuleBase], key: Key) -> list[tuple[str, BreachKey]]:
    """Per forecast rule selecting the queue: its name and its (limit, hours) question."""
    asked = []
    for rule in rules:
        if isinstance(rule, ForecastRule) and rule.selects(*key):
            limit, _ = rule.limits(rule.labels_for(*key))
            asked.append((rule.name, (limit, max(1, int(rule.horizon / HOUR)))))
    return asked


class ForecastJob:
    """Keeps each queue's engine state between runs and in the store."""

    def __init__(self, settings: ForecastingSettings) -> None:
        self.settings = settings
        self.engine_settings = engine_settings(settings)
        self._states: dict[Key, EngineState] = {}
        self._loaded = False

    def run(self, engine: sa.Engine, rules: Sequence[RuleBase], now: datetime) -> int:
        """Advance every selected queue to the last complete hour; returns how many."""
        current = now.replace(minute=0, second=0, microsecond=0)
        with engine.begin() as conn:
            history.roll_up(conn, current - 2 * HOUR, now)
            if not self._loaded:
                fingerprint = self.engine_settings.fingerprint()
                self._states.update(forecast_store.load_states(conn, fingerprint))
                self._loaded = True
            recent = forecast_store.rollups_of(conn, None, current - RECENT, current)
            keys = [k for k in sorted(recent) if self._selects(*k)]
            full = forecast_store.rollups_of(
                conn,
                [k for k in keys if self._needs_history(k, current)],
                current - self.settings.history,
                current,
            )
            rebuilt = forecast_store.backfilled_hours(
                conn, current - self.settings.history, current
            )
        made: dict[Key, dict[str, Any]] = {}
        to_save = []
        # With a calibration memory, every queue's probability is shrunk towards the
        # counts pooled over all queues at this hour: all advance first, then all answer.
        pooling = self.engine_settings.calibration_half_life is not None
        advanced: list[tuple[Key, EngineState]] = []
        for key in keys:
            series = hourly(full.get(key) or recent[key], current)
            if len(series) == 0:
                continue
            is_new = key not in self._states
            state = self._advance(key, series)
            if is_new or self._save_due(key, state):
                to_save.append(key)
            if pooling:
                state.ring.forget()  # recomputed when it answers, below
                advanced.append((key, state))
            else:
                made[key] = self._made(key, state, rules, rebuilt, None)
        if advanced:
            by_name = sorted(advanced, key=lambda ks: queue_name(ks[0]))
            pool = pooled_counts(state for _, state in by_name)
            for key, state in advanced:
                made[key] = self._made(key, state, rules, rebuilt, pool)
        with engine.begin() as conn:
            forecast_store.save_forecasts(conn, made)
            for key in to_save:
                self._save(conn, key, self._states[key])
        return len(made)

    def _made(
        self,
        key: Key,
        state: EngineState,
        rules: Sequence[RuleBase],
        rebuilt: Mapping[Key, int],
        pool: Mapping[str, Counts] | None,
    ) -> dict[str, Any]:
        """The forecasts-table row of one advanced queue."""
        asked = questions(rules, key)
        settings = carrying(self.engine_settings, rules)
        row = record(outputs(state, settings, key[1], [q for _, q in asked], pool), asked)
        state.ring.forget()  # its error cache is 180 KiB; next hour's push clears it anyway
        # how much of the history window backfill reconstructed (docs/backfill.md)
        row["detail"]["backfilled_hours"] = rebuilt.get(key, 0)
        return row

    def _advance(self, key: Key, series: HourlySeries) -> EngineState:
        state = self._states.get(key)
        settings = self.engine_settings
        start = None if state is not None else max(0, len(series) - settings.warmup)
        state = catch_up(state, series, settings, phase_of(queue_name(key)), start)
        self._states[key] = state
        return state

    def _needs_history(self, key: Key, current: datetime) -> bool:
        state = self._states.get(key)
        utc = current.astimezone(UTC).replace(tzinfo=None)
        last = hour_number(np.datetime64(utc, "h")) - 1
        if state is None or state.last_hour < last - int(RECENT / HOUR) + 2:
            return True
        hours = range(state.last_hour + 1, last + 1)
        return estimation_due(state, hours, phase_of(queue_name(key)), self.engine_settings)

    def _save_due(self, key: Key, state: EngineState) -> bool:
        every = max(1, int(self.settings.save_every / HOUR))
        return (state.last_hour + phase_of(queue_name(key))) % every == 0

    def _save(self, conn: sa.Connection, key: Key, state: EngineState) -> None:
        forecast_store.save_state(conn, key, state, self.engine_settings.fingerprint())

    def _selects(self, source: str, queue: str) -> bool:
        wanted = {"source": source, "queue": queue}
        return all(wanted.get(k) == v for k, v in self.settings.match.items())

    def close(self, engine: sa.Engine | None = None) -> None:
        """At shutdown, save every queue's state, so a restart replays no hour at all.

        A store that fails here loses nothing but time: the next start replays the
        hours since each queue's last periodic save.
        """
        if engine is None or not self._states:
            return
        try:
            with engine.begin() as conn:
                for key, state in self._states.items():
                    self._save(conn, key, state)
        except sa.exc.SQLAlchemyError as err:
            log.warning("forecast states not saved at shutdown: %s", err)


def record(out: Outputs, asked: Iterable[tuple[str, BreachKey]]) -> dict[str, Any]:
    """The forecasts-table row of one queue's outputs (what forecast rules then read).

    Args:
        out: the engine's outputs at the last hour.
        asked: per forecast rule, its name and (limit, hours) breach question.
    """
    forecast = out.forecast
    breach: dict[str, float] = {}
    etas: dict[str, float | None] = {}
    breach_model = None
    for name, (limit, steps) in asked:
        breach[breach_key(limit, steps)], breach_model = out.breach[(limit, steps)]
        above = np.flatnonzero(forecast.upper[:steps] > limit)
        etas[name] = float(above[0] + 1) * 3600 if len(above) else None
    detail: dict[str, Any] = {"breach": breach, "breach_model": breach_model, "eta_seconds": etas}
    if forecast.observed:
        detail["observed"] = [
            round(float(v), 3) if math.isfinite(v) else None for v in forecast.observed
        ]
    if forecast.rises:
        detail["rises"] = [round(float(v), 3) for v in forecast.rises]
    if out.arrivals is not None and out.resolutions is not None:
        detail["arrivals"] = _rounded(out.arrivals)
        detail["resolutions"] = _rounded(out.resolutions)
    hours = int(forecast.made_at.astype("datetime64[h]").astype(np.int64))
    made_at = datetime(1970, 1, 1, tzinfo=UTC) + hours * HOUR
    return {
        "made_at": made_at + HOUR,  # the end of the last complete hour
        "model": forecast.model,
        "status": forecast.status,
        "level": forecast.level,
        "point": _rounded(forecast.point),
        "lower": _rounded(forecast.lower),
        "upper": _rounded(forecast.upper),
        "backtest_mase": forecast.backtest_mase,
        "detail": detail,
    }


def _rounded(values: Iterable[float]) -> list[float]:
    return [round(float(v), 3) for v in values]


def hourly(rows: Sequence[history.Row], end: datetime) -> HourlySeries:
    """Consecutive hours from the first rollup to the last complete hour before ``end``.

    A missing hour keeps the previous open count and counts no traffic.
    """
    if not rows:
        return HourlySeries.from_arrays([], [], [], [])
    first = rows[0]["hour"]
    count = int((end - first) / HOUR)
    at = np.asarray([int((r["hour"] - first) / HOUR) for r in rows])
    keep = (at >= 0) & (at < count)
    at = at[keep]
    picked = [r for r, k in zip(rows, keep, strict=True) if k]
    filled = np.zeros(count, dtype=np.int64)
    filled[at] = np.arange(1, len(at) + 1)
    # Each hour takes the latest row at or before it: forward fill of the row index.
    latest = np.maximum.accumulate(filled) - 1
    open_ = np.asarray([float(r["open_last"]) for r in picked])[latest]
    created, resolved = np.zeros(count), np.zeros(count)
    created[at] = [float(r["created"] or 0) for r in picked]
    resolved[at] = [float(r["resolved"] or 0) for r in picked]
    start = np.datetime64(first.astimezone(UTC).replace(tzinfo=None), "h")
    stamps = start + np.arange(count).astype("timedelta64[h]")
    return HourlySeries(stamps, open_, created, resolved)
