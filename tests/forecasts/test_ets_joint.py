"""Joint (concentrated least-squares) ETS estimation: the option ``ets_estimation: joint``."""

from __future__ import annotations

import numpy as np
import pytest

from config.settings import ForecastingSettings
from forecasts.codec import decode, encode
from forecasts.engine import EngineSettings, base_models, catch_up, phase_of, refit_hours
from forecasts.fitwarnings import WarningTally, counted_warnings
from forecasts.models.base import FittedModel
from forecasts.models.ets import EtsDailyModel, EtsParams, FittedEts, _fit_statsmodels
from forecasts.models.ets_joint import (
    Objective,
    concentrated_sse,
    estimate,
    initial_states,
    initial_states_by_recursion,
)
from forecasts.types import HourlySeries
from monitor.forecasting import engine_settings
from tests.forecasts.real import servicenow_total

TRAIN = 336


@pytest.fixture(scope="module")
def total() -> HourlySeries:
    """The real ServiceNow total backlog in its usable window."""
    return servicenow_total()


STARTS = (0, 336, 672, 1008, 1344)
"""Starts of the real 336-hour windows compared with a full refit."""


@pytest.fixture(scope="module")
def refits(total: HourlySeries) -> dict[int, tuple[np.ndarray, float]]:
    """A full refit per window of :data:`STARTS` (slow: computed once)."""
    return {start: full_refit(total.open[start : start + TRAIN]) for start in STARTS}


def full_refit(values: np.ndarray) -> tuple[np.ndarray, float]:
    """statsmodels' full estimation (initial states estimated, brute grid): params, SSE."""
    with counted_warnings():
        res = _fit_statsmodels(values, 24, full=True)
    p = res.params
    params = [p["smoothing_level"], p["smoothing_trend"], p["smoothing_seasonal"]]
    return np.array([*params, p["damping_trend"]], dtype=np.float64), float(res.sse)


class TestObjective:
    def test_filter_and_state_space_agree_with_statsmodels(
        self, total: HourlySeries, refits: dict[int, tuple[np.ndarray, float]]
    ) -> None:
        """At a full refit's parameters, the concentrated SSE (filter) equals the state
        space least squares, and neither exceeds statsmodels' own SSE there."""
        for start, (params, sse) in refits.items():
            values = total.open[start : start + TRAIN]
            by_filter = concentrated_sse(params, values, 24)
            _, by_states = initial_states(params, values, 24)
            assert by_filter == pytest.approx(by_states, rel=1e-6)
            assert by_filter <= sse * (1 + 1e-6)
            assert by_filter >= sse * 0.99  # statsmodels' initial states are near-optimal

    def test_initial_states_reproduce_the_errors_by_the_engine_recursion(
        self, total: HourlySeries, refits: dict[int, tuple[np.ndarray, float]]
    ) -> None:
        """The solved initial states, run by FittedEts.update, give that minimum SSE."""
        values = total.open[336 : 336 + TRAIN]
        params, _ = refits[336]
        x0, sse = initial_states(params, values, 24)
        state: FittedModel = FittedEts(
            EtsParams(*map(float, params)), float(x0[0]), float(x0[1]), x0[2:], WarningTally()
        )
        errors = []
        for i in range(TRAIN):
            assert isinstance(state, FittedEts)
            errors.append(values[i] - state.forecast(1)[0])
            state = state.update(total.window(336 + i, 337 + i))
        assert float(np.sum(np.square(errors))) == pytest.approx(sse, rel=1e-6)

    def test_vectorised_initial_states_equal_the_recursion(
        self, total: HourlySeries, refits: dict[int, tuple[np.ndarray, float]]
    ) -> None:
        """The doubling construction gives the hour-by-hour recursion's initial state
        and sum of squares (to rounding), at a full refit's parameters and at points
        of the grid and the bounds, including the bound corner alpha = beta = gamma = 0
        and alpha + gamma = 1 (the model's ARIMA form loses its top coefficient)."""
        points = [params for params, _ in refits.values()] + [
            np.array(p, dtype=np.float64)
            for p in (
                (0.0, 0.0, 0.0, 0.992),
                (0.9, 0.2, 0.1, 0.98),
                (1.0, 1.0, 0.0, 0.8),
                (0.05, 0.0, 0.95, 0.995),
            )
        ]
        for start in STARTS:
            values = total.open[start : start + TRAIN]
            for params in points:
                fast, fast_sse = initial_states(params, values, 24)
                slow, slow_sse = initial_states_by_recursion(params, values, 24)
                scale = float(np.max(np.abs(slow)))
                np.testing.assert_allclose(fast, slow, rtol=0, atol=1e-9 * scale)
                assert fast_sse == pytest.approx(slow_sse, rel=1e-9)

    def test_vectorised_initial_states_differ_when_the_series_does(
        self, total: HourlySeries, refits: dict[int, tuple[np.ndarray, float]]
    ) -> None:
        """The comparison above can fail: one hour changed moves the state."""
        params, _ = refits[0]
        values = total.open[0:TRAIN].copy()
        before, _ = initial_states(params, values, 24)
        values[5] += 100.0
        after, _ = initial_states_by_recursion(params, values, 24)
        assert not np.allclose(before, after, rtol=0, atol=1e-6)

    def test_objective_reused_equals_a_fresh_one(self, total: HourlySeries) -> None:
        """An estimation's :class:`Objective` (inputs built once) gives the same value
        on every call as the function built afresh."""
        values = total.open[336 : 336 + TRAIN]
        objective = Objective(values, 24)
        for params in ((0.5, 0.1, 0.2, 0.95), (0.9, 0.2, 0.1, 0.98), (0.1, 0.01, 0.3, 0.9)):
            p = np.array(params, dtype=np.float64)
            assert objective(p) == concentrated_sse(p, values, 24)


class TestEstimate:
    def test_reaches_a_full_refits_sum_of_squares(
        self, total: HourlySeries, refits: dict[int, tuple[np.ndarray, float]]
    ) -> None:
        """On real windows the joint estimate's SSE is a full refit's: within 0.1 % on
        most windows, within 1 % on all (a local search can stop at a bound corner)."""
        ratios = []
        for start, (_, sse) in refits.items():
            values = total.open[start : start + TRAIN]
            ratios.append(estimate(values, 24).sse / sse)
        assert max(ratios) <= 1.01
        assert sum(r <= 1.001 for r in ratios) >= 4
        assert min(ratios) > 0.9  # the same objective: not wildly below either

    def test_warm_start_is_cheaper_and_as_good(self, total: HourlySeries) -> None:
        """Started from last week's estimate: fewer evaluations, the same SSE (+0.5 %)."""
        last_week = estimate(total.open[0:TRAIN], 24)
        values = total.open[168 : 168 + TRAIN]
        cold = estimate(values, 24)
        warm = estimate(values, 24, last_week.params)
        assert warm.evaluations < cold.evaluations
        assert warm.sse <= cold.sse * 1.005

    def test_a_previous_estimate_at_a_bound_corner_does_not_hold_the_search(
        self, total: HourlySeries, refits: dict[int, tuple[np.ndarray, float]]
    ) -> None:
        """Started from alpha = beta = gamma = 0 (where a search from that point alone
        stays, at 10-100 times the sum of squares), the estimate still reaches a full
        refit's: the search starts from the best of the previous estimate and the grid."""
        for start, (_, sse) in refits.items():
            values = total.open[start : start + TRAIN]
            assert concentrated_sse(np.array([0.0, 0.0, 0.0, 0.992]), values, 24) > 5 * sse
            assert estimate(values, 24, (0.0, 0.0, 0.0, 0.992)).sse <= sse * 1.01

    def test_parameters_stay_within_statsmodels_bounds(self, total: HourlySeries) -> None:
        """alpha, beta, gamma in [0, 1]; phi in [0.8, 0.995], even from a start outside."""
        est = estimate(total.open[0:TRAIN], 24, (1.5, -0.2, 0.1, 0.5))
        alpha, beta, gamma, phi = est.params
        assert 0 <= alpha <= 1 and 0 <= beta <= 1 and 0 <= gamma <= 1
        assert 0.8 <= phi <= 0.995


class TestModelOption:
    def test_joint_model_forecasts_from_the_last_hour(self, total: HourlySeries) -> None:
        """The fitted state is at the last hour: one more hour by update equals a
        forecast made by running the estimate's own recursion."""
        model = EtsDailyModel(estimation="joint")
        fitted = model.fit(total.head(TRAIN))
        assert isinstance(fitted, FittedEts)
        est = estimate(total.open[:TRAIN], 24)
        assert (fitted.params.alpha, fitted.params.phi) == (est.params[0], est.params[3])
        assert np.isfinite(fitted.forecast(24)).all()
        heuristic = EtsDailyModel().fit(total.head(TRAIN))
        assert isinstance(heuristic, FittedEts)
        assert fitted.params != heuristic.params

    def test_refit_starts_from_the_previous_parameters(self, total: HourlySeries) -> None:
        """A previous fit with a season of another length is ignored (grid start)."""
        model = EtsDailyModel(estimation="joint")
        before = model.fit(total.head(TRAIN))
        warm = model.refit(total.window(168, 168 + TRAIN), before)
        cold = model.refit(total.window(168, 168 + TRAIN), None)
        assert isinstance(warm, FittedEts) and isinstance(cold, FittedEts)
        np.testing.assert_allclose(warm.forecast(6), cold.forecast(6), rtol=0.02)


class TestEngineOption:
    def test_config_reaches_the_engine(self) -> None:
        """forecasts.ets_estimation: joint makes the engine estimate ETS jointly."""
        settings = engine_settings(ForecastingSettings(ets_estimation="joint"))
        assert settings.ets_estimation == "joint"
        model = base_models(settings.ets_estimation)["ets_daily"]
        assert isinstance(model, EtsDailyModel) and model.estimation == "joint"
        assert engine_settings(ForecastingSettings()).ets_estimation == "heuristic"

    def test_bad_value_is_refused(self) -> None:
        """Anything but heuristic or joint fails validation, naming the field."""
        with pytest.raises(ValueError, match="ets_estimation"):
            ForecastingSettings(ets_estimation="fast")  # type: ignore[arg-type]

    def test_joint_is_re_estimated_daily_at_the_queues_phase(self, total: HourlySeries) -> None:
        """Under joint, daily ETS is estimated once a day, at the hours the queue's phase
        picks (the heuristic one stays weekly); each estimation is warm-started."""
        joint = EngineSettings(ets_estimation="joint")
        assert refit_hours("ets_daily", joint) == 24
        assert refit_hours("ets_daily", EngineSettings()) == 168
        assert refit_hours("flow", joint) == 24 and refit_hours("naive", joint) is None
        phase = phase_of("q")
        made = []
        with counted_warnings():
            state = catch_up(None, total.head(TRAIN), joint, phase, TRAIN - 48)
            for t in range(TRAIN, TRAIN + 96):
                before = state.attempted["ets_daily"]
                catch_up(state, total.head(t + 1), joint, phase)
                if state.attempted["ets_daily"] != before:
                    made.append(state.attempted["ets_daily"])
        assert len(made) == 4
        assert all((hour + phase) % 24 == 0 for hour in made)
        assert np.diff(made).tolist() == [24, 24, 24]
        assert isinstance(state.fitted["ets_daily"], FittedEts)

    def test_switching_keeps_saved_states(self, total: HourlySeries) -> None:
        """The fingerprint ignores the option: a state saved under the heuristic loads
        and continues under joint (its next estimation, daily now, is joint)."""
        heuristic, joint = EngineSettings(), EngineSettings(ets_estimation="joint")
        assert heuristic.fingerprint() == joint.fingerprint()
        hours = TRAIN + 48
        with counted_warnings():
            state = catch_up(None, total.head(hours), heuristic, phase_of("q"), TRAIN)
            restored = decode(encode(state))
            assert restored.fitted["ets_daily"] is not None
            catch_up(restored, total.head(hours + 200), joint, phase_of("q"))
        ets = restored.fitted["ets_daily"]
        assert isinstance(ets, FittedEts)
        assert restored.attempted["ets_daily"] > state.attempted["ets_daily"]
        first = int(total.timestamps[0].astype("datetime64[h]").astype(np.int64))
        end = restored.attempted["ets_daily"] - first + 1
        train = total.window(end - TRAIN, end)
        _, full_sse = full_refit(train.open)
        engine_params = np.array(
            [ets.params.alpha, ets.params.beta, ets.params.gamma, ets.params.phi]
        )
        assert concentrated_sse(engine_params, train.open, 24) <= full_sse * 1.001
        heuristic_fit = EtsDailyModel().fit(train)
        assert isinstance(heuristic_fit, FittedEts)
        assert heuristic_fit.params != ets.params
