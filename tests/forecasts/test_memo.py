"""The per-hour memo (``engine.per_hour``, ``Ring.outcomes``): shared answers, never stale ones.

Selection, the shown band and every breach question of an hour read the same error
paths and forecasts; they are computed once per hour and shared. These tests ask many
questions of one state on the real ServiceNow total and check each answer equals the
one a state without any memo gives, hour after hour.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import replace

import numpy as np
import pytest

from forecasts.engine import (
    BASE,
    COMBOS,
    EngineSettings,
    EngineState,
    breach_steps,
    catch_up,
    current_forecast,
    phase_of,
)
from forecasts.outputs import band_crosses, breach_chance, forecast
from forecasts.types import HourlySeries
from tests.forecasts.real import servicenow_total

PLAIN = EngineSettings()
VARIANTS = [
    PLAIN,
    replace(PLAIN, calibration_prior=10.0),
    replace(PLAIN, calibration_prior=40.0),
    replace(PLAIN, burst_jump=0.01),
    replace(PLAIN, burst_jump=0.01, calibration_prior=10.0),
]
"""Settings that differ only in how a breach question is answered (one replay asks all)."""


@pytest.fixture(scope="module")
def total() -> HourlySeries:
    """The ServiceNow total backlog from 2016-03-14 on."""
    return servicenow_total()


def questions(state: EngineState, limits: list[float]) -> list[Callable[[], object]]:
    """Every question a replay asks at one hour, in a fixed order."""
    out: list[Callable[[], object]] = [lambda: forecast(state, PLAIN, "all")]
    out += [functools.partial(current_forecast, state, m) for m in (*BASE, *COMBOS)]
    for settings in VARIANTS:
        for limit in limits:
            for model in ("warning", "combo", None):
                for steps in (6, 12):
                    out.append(
                        functools.partial(breach_chance, state, settings, limit, steps, model)
                    )
    out += [
        functools.partial(band_crosses, state, PLAIN, limit, 6, "ets_daily") for limit in limits
    ]
    return out


def answers(state: EngineState, limits: list[float]) -> list[object]:
    """The answers in turn, sharing the memo."""
    return [ask() for ask in questions(state, limits)]


def fresh(state: EngineState, limits: list[float]) -> list[object]:
    """The same answers, each computed with the memo emptied just before it."""
    out = []
    for ask in questions(state, limits):
        state.ring.memo.clear()
        out.append(ask())
    state.ring.memo.clear()
    return out


def same(a: list[object], b: list[object]) -> bool:
    for x, y in zip(a, b, strict=True):
        if isinstance(x, np.ndarray):
            if not np.array_equal(x, y, equal_nan=True):
                return False
        elif hasattr(x, "point"):  # a Forecast
            for name in x.__dataclass_fields__:
                u, v = getattr(x, name), getattr(y, name)
                equal = np.array_equal(u, v) if isinstance(u, np.ndarray) else u == v
                if not equal:
                    return False
        elif x != y:
            return False
    return True


class TestPerHourMemo:
    def test_shared_answers_equal_answers_computed_alone(self, total: HourlySeries) -> None:
        """Hour after hour (the memo is cleared by each hour absorbed), every answer of the
        shared memo equals the answer of a state whose memo is emptied before it."""
        state = catch_up(None, total.head(400), PLAIN, phase_of("all"))
        probabilities = set()
        widened = 0
        for hours in range(400, 406):
            state = catch_up(state, total.head(hours), PLAIN, phase_of("all"))
            level = float(total.open[hours - 1])
            limits = [level + 2.0, level + 10.0, level + 30.0]
            shared = answers(state, limits)
            assert same(shared, fresh(state, limits))
            probabilities |= {a[0] for a in shared if isinstance(a, tuple)}
            widened += breach_steps(state, VARIANTS[3], limits[0], 6) == 12
        assert len(probabilities) > 10  # the questions answer differently: not a vacuous check
        assert widened > 0  # and the widened questions were asked over 12 hours

    def test_a_state_replayed_without_questions_answers_the_same(self, total: HourlySeries) -> None:
        """Questions asked at every hour of a replay leave no trace in the state: a state
        stepped to the same hour without any question answers identically."""
        asked = catch_up(None, total.head(380), PLAIN, phase_of("all"))
        for hours in range(381, 386):
            asked = catch_up(asked, total.head(hours), PLAIN, phase_of("all"))
            answers(asked, [float(total.open[hours - 1]) + 5.0])
        quiet = catch_up(None, total.head(385), PLAIN, phase_of("all"))
        limits = [float(total.open[384]) + 5.0, float(total.open[384]) + 20.0]
        assert same(answers(asked, limits), answers(quiet, limits))

    def test_memoised_values_cannot_be_changed_by_a_caller(self, total: HourlySeries) -> None:
        """The forecast handed out is a copy; the shared error paths are read-only."""
        state = catch_up(None, total.head(400), PLAIN, phase_of("all"))
        point = current_forecast(state, "warning")
        point += 1000.0
        assert not np.array_equal(current_forecast(state, "warning"), point)
        errors = state.ring.errors(COMBOS["warning"], 6, PLAIN.window)
        with pytest.raises(ValueError, match="read-only"):
            errors[0, 0] = 0.0
