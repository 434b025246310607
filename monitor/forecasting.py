"""The forecast job: hourly rollups in, per-queue forecasts (with breach figures) stored.

Model selection (a backtest per queue) runs every ``reselect_every``; in between, each
queue's fitted state is advanced hour by hour, which is cheap. States live in memory;
after a restart the first run selects again. Forecast rules read the stored forecasts.
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import sqlalchemy as sa

from alerting.rules import ForecastRule, RuleBase
from config.settings import ForecastingSettings
from forecasts.backtest import FIT_ERRORS
from forecasts.breach import breach_eta
from forecasts.forecaster import (
    ForecastSettings,
    QueueState,
    breach_chance,
    make_forecast,
    refresh,
    reselect,
)
from forecasts.models import FlowModel
from forecasts.models.base import FlowForecaster
from forecasts.types import HourlySeries
from monitor.store import forecasting as forecast_store
from monitor.store import history

log = logging.getLogger(__name__)
HOUR = timedelta(hours=1)
Key = tuple[str, str]
"""A queue: (source, queue)."""


def breach_key(limit: float, horizon_hours: int) -> str:
    """How a rule's breach probability is stored: ``"<limit>@<hours>"``."""
    return f"{limit:g}@{horizon_hours}"


class ForecastJob:
    """Keeps each queue's forecaster state between runs (bounded by the number of queues)."""

    def __init__(self, settings: ForecastingSettings) -> None:
        self.settings = settings
        self.model_settings = ForecastSettings(
            level=settings.level,
            warning_model=None if settings.warning_model == "selected" else settings.warning_model,
        )
        self._states: dict[tuple[str, str], QueueState] = {}
        self._selected_at: dict[tuple[str, str], datetime] = {}
        self._pool: ProcessPoolExecutor | None = None

    def run(self, engine: sa.Engine, rules: Sequence[RuleBase], now: datetime) -> int:
        """Forecast every selected queue from its complete hours; returns how many."""
        current = now.replace(minute=0, second=0, microsecond=0)
        start = current - self.settings.history
        with engine.begin() as conn:
            history.roll_up(conn, current - 2 * HOUR, now)
            rows = history.rollup_series(conn, start, current)
        forecast_rules = [r for r in rules if isinstance(r, ForecastRule)]
        keys = [k for k in sorted(rows) if self._selects(*k)]
        # Selection fits every candidate on a backtest (about a second per queue): spread
        # re-selections so each run does about its share, oldest first. A queue without
        # a model yet (new, or after a restart) is selected now, so every queue has a
        # forecast after the first run rather than after its turn.
        share = self.settings.interval / self.settings.reselect_every
        budget = max(1, math.ceil(len(keys) * share))
        due = sorted(
            (k for k in keys if k in self._states and self._due(k, now)),
            key=lambda k: self._selected_at[k],
        )
        reselect_now = set(due[:budget]) | {k for k in keys if k not in self._states}
        series_of = {
            k: hourly(rows[k], current) for k in keys if k in reselect_now or k in self._states
        }
        series_of = {k: s for k, s in series_of.items() if len(s) >= 2}
        selected = self._reselect({k: s for k, s in series_of.items() if k in reselect_now})
        made = 0
        for key, series in series_of.items():
            if key in selected:
                self._states[key], self._selected_at[key] = selected[key], now
            values = self._forecast(key, series, forecast_rules)
            with engine.begin() as conn:
                forecast_store.save_forecast(conn, key[0], key[1], **values)
            made += 1
        return made

    def _due(self, key: tuple[str, str], now: datetime) -> bool:
        selected = self._selected_at.get(key)
        return selected is None or now - selected >= self.settings.reselect_every

    def _selects(self, source: str, queue: str) -> bool:
        wanted = {"source": source, "queue": queue}
        return all(wanted.get(k) == v for k, v in self.settings.match.items())

    def _reselect(
        self, due: dict[tuple[str, str], HourlySeries]
    ) -> dict[tuple[str, str], QueueState]:
        """Select a model for each due queue, over ``workers`` processes when several are due."""
        workers = self.settings.workers or os.cpu_count() or 1
        if workers == 1 or len(due) < 2:
            return {k: reselect(s, self.model_settings) for k, s in due.items()}
        if self._pool is None:
            # forkserver: the daemon is multi-threaded, and forking a threaded process
            # can copy a held lock into the child.
            context = multiprocessing.get_context("forkserver")
            self._pool = ProcessPoolExecutor(max_workers=workers, mp_context=context)
        futures = {k: self._pool.submit(reselect, s, self.model_settings) for k, s in due.items()}
        try:
            return {k: f.result() for k, f in futures.items()}
        except BrokenProcessPool:
            log.warning("forecast worker pool broke; selecting in this thread")
            self.close()
            return {k: reselect(s, self.model_settings) for k, s in due.items()}

    def close(self) -> None:
        """Stop the worker processes, if any."""
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None

    def _forecast(
        self, key: tuple[str, str], series: HourlySeries, rules: Sequence[ForecastRule]
    ) -> dict[str, Any]:
        state = refresh(self._states[key], series)
        self._states[key] = state
        forecast = make_forecast(key[1], state, self.model_settings)
        breach: dict[str, float] = {}
        etas: dict[str, float | None] = {}
        breach_model = None
        for rule in rules:
            if not rule.selects(*key):
                continue
            limit, _ = rule.limits(rule.labels_for(*key))
            steps = max(1, int(rule.horizon / HOUR))
            breach[breach_key(limit, steps)], breach_model = breach_chance(state, limit, steps)
            eta = breach_eta(forecast.upper[:steps], limit)
            etas[rule.name] = None if eta is None else float(eta) * 3600
        detail: dict[str, Any] = {
            "breach": breach,
            "breach_model": breach_model,
            "eta_seconds": etas,
        }
        flows = flow_forecast(series, self.model_settings.horizon)
        if flows is not None:
            detail["arrivals"], detail["resolutions"] = flows
        hours = int(forecast.made_at.astype("datetime64[h]").astype(np.int64))
        made_at = datetime(1970, 1, 1, tzinfo=UTC) + hours * HOUR
        return {
            "made_at": made_at + HOUR,  # the end of the last complete hour
            "model": forecast.model,
            "status": forecast.status,
            "level": forecast.level,
            "point": [round(float(v), 3) for v in forecast.point],
            "lower": [round(float(v), 3) for v in forecast.lower],
            "upper": [round(float(v), 3) for v in forecast.upper],
            "backtest_mase": forecast.backtest_mase,
            "detail": detail,
        }


def flow_forecast(series: HourlySeries, horizon: int) -> tuple[list[float], list[float]] | None:
    """Arrivals and resolutions per hour for the next ``horizon`` hours (the flow model's
    profiles, whatever model forecasts the backlog); None while history is too short."""
    try:
        fitted = FlowModel().fit(series)
    except FIT_ERRORS:
        return None
    if not isinstance(fitted, FlowForecaster):
        return None
    arrivals, resolutions = fitted.forecast_flows(horizon)
    return [round(float(v), 3) for v in arrivals], [round(float(v), 3) for v in resolutions]


def hourly(rows: Sequence[history.Row], end: datetime) -> HourlySeries:
    """Consecutive hours from the first rollup to the last complete hour before ``end``.

    A missing hour keeps the previous open count and counts no traffic.
    """
    if not rows:
        return HourlySeries.from_arrays([], [], [], [])
    by_hour = {r["hour"]: r for r in rows}
    first = rows[0]["hour"]
    count = int((end - first) / HOUR)
    stamps, open_, created, resolved = [], [], [], []
    last = float(rows[0]["open_last"])
    for i in range(count):
        hour = first + i * HOUR
        row = by_hour.get(hour)
        if row is not None:
            last = float(row["open_last"])
        stamps.append(np.datetime64(hour.replace(tzinfo=None), "h"))
        open_.append(last)
        created.append(float(row["created"] or 0) if row is not None else 0.0)
        resolved.append(float(row["resolved"] or 0) if row is not None else 0.0)
    return HourlySeries.from_arrays(stamps, open_, created, resolved)
