"""Per-queue calibration of the breach probability (forecasts.calibrate)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from pydantic import ValidationError

from config.settings import ForecastingSettings
from forecasts import codec
from forecasts.breach import breach_probability
from forecasts.calibrate import BINS, calibrated, isotonic, past_chances, reliability
from forecasts.engine import EngineSettings, EngineState, catch_up, current_forecast, phase_of
from forecasts.evaluation.replay import Question, answers_only, replay_queue
from forecasts.outputs import breach_chance, calibration
from forecasts.ring import Ring
from monitor.forecasting import engine_settings
from tests.forecasts.synthetic import daily_backlog

SETTINGS = EngineSettings(calibration_prior=10.0)


@pytest.fixture(scope="module")
def state() -> EngineState:
    return catch_up(None, daily_backlog(600, seed=3), SETTINGS, phase_of("q"))


class TestPastChances:
    def test_each_origin_is_scored_with_the_other_origins_paths(self) -> None:
        """Equal to a plain loop: leave the origin's own path out, count crossing paths."""
        rng = np.random.default_rng(0)
        errors = rng.normal(0, 3, (40, 6))
        actuals = 50 + np.cumsum(rng.normal(0, 2, (40, 6)), axis=1)
        limit = 53.0
        raw, hit = past_chances(errors, actuals, limit)
        forecasts = actuals - errors
        for o in range(40):
            others = np.delete(errors, o, axis=0)
            expected = np.mean(np.any(forecasts[o] + others > limit, axis=1))
            assert raw[o] == pytest.approx(expected)
            assert hit[o] == bool(np.any(actuals[o] > limit))
        assert 0 < raw.mean() < 1 and hit.any() and not hit.all()

    def test_too_few_origins_give_no_chance(self) -> None:
        raw, hit = past_chances(np.zeros((1, 6)), np.full((1, 6), 9.0), 5.0)
        assert raw.tolist() == [0.0] and hit.tolist() == [True]


class TestOutcomes:
    def test_rows_are_the_error_rows_and_the_actuals_that_followed(self) -> None:
        ring = Ring.empty(("m",), size=30, horizon=3)
        values = np.arange(30, dtype=np.float64) ** 1.5
        for hour, v in enumerate(values):
            forecast = np.array([v, v, v]) if hour != 20 else np.full(3, np.nan)
            ring.push(hour, float(v), {"m": forecast})
        errors, actuals = ring.outcomes(("m",), 3, 100)
        assert np.array_equal(errors, ring.errors(("m",), 3, 100))
        origins = [o for o in range(27) if o != 20]
        assert len(actuals) == len(origins)
        for row, o in enumerate(origins):
            assert actuals[row].tolist() == values[o + 1 : o + 4].tolist()
            assert errors[row].tolist() == pytest.approx(
                (values[o + 1 : o + 4] - values[o]).tolist()
            )


class TestReliability:
    def test_isotonic_pools_adjacent_violators(self) -> None:
        fitted = isotonic(np.array([0.1, 0.5, 0.3, 0.6]), np.array([1.0, 1.0, 3.0, 1.0]))
        assert fitted.tolist() == pytest.approx([0.1, 0.35, 0.35, 0.6])
        assert np.all(np.diff(isotonic(np.random.default_rng(1).random(10), np.ones(10))) >= 0)

    def test_without_past_forecasts_the_probability_is_kept(self) -> None:
        empty = np.zeros(0)
        for p in (0.05, 0.3, 0.55, 0.95):
            assert reliability(p, empty, empty.astype(bool), 10.0) == pytest.approx(p)

    def test_a_probability_that_never_came_true_is_lowered(self) -> None:
        """A queue that sat at 0.3-0.4 for 100 hours without a breach: 0.35 means less."""
        raw = np.full(100, 0.35)
        never = reliability(0.35, raw, np.zeros(100, dtype=bool), 10.0)
        always = reliability(0.35, raw, np.ones(100, dtype=bool), 10.0)
        # bin 3 alone would say 10 x 0.35 / 110 = 0.03; pooled with the empty bins below
        # it (the prior's 0.05, 0.15, 0.25, ten pseudo-observations each) to stay monotone
        assert never == pytest.approx((10 * 0.35 + 10 * 0.25 + 10 * 0.15) / 130)
        # likewise pooled with the empty bins above it (0.45 ... 0.85)
        assert always == pytest.approx(
            (100 + 10 * 0.35 + 10 * (0.45 + 0.55 + 0.65 + 0.75 + 0.85)) / 160
        )
        few = reliability(0.35, raw[:5], np.zeros(5, dtype=bool), 10.0)
        assert never < few < 0.35  # shrunk to the uncalibrated value while evidence is thin

    def test_the_map_is_monotone_in_the_probability(self) -> None:
        rng = np.random.default_rng(2)
        raw = rng.random(160)
        hit = rng.random(160) < 0.5  # unrelated to raw: bins violate order
        mapped = [reliability(p, raw, hit, 5.0) for p in np.linspace(0, 1, 101)]
        assert np.all(np.diff(mapped) >= -1e-12)
        assert len(set(np.minimum((raw * BINS).astype(int), BINS - 1))) == BINS


class TestEngine:
    def test_the_calibrated_chance_is_the_raw_chance_read_through_the_queues_map(
        self, state: EngineState
    ) -> None:
        limit = float(current_forecast(state, "warning").max()) + 2.0
        plain, model = breach_chance(state, replace(SETTINGS, calibration_prior=None), limit, 6)
        chance, model2 = breach_chance(state, SETTINGS, limit, 6)
        raw = breach_probability(
            current_forecast(state, "warning")[:6],
            calibration(state, "warning", 6, SETTINGS),
            limit,
        )
        errors, actuals = state.ring.outcomes(("naive", "flow", "ets_daily", "linear"), 6, 168)
        past, hit = past_chances(errors, actuals, limit)
        assert model == model2 == "warning" and plain == raw
        assert chance == reliability(raw, past, hit, 10.0)
        assert chance == calibrated(
            state.ring, ("naive", "flow", "ets_daily", "linear"), 6, 168, limit, raw, 10.0
        )

    def test_a_saved_state_answers_the_same(self, state: EngineState) -> None:
        """Calibration reads only the ring, which the state saves: a restart changes nothing."""
        again = codec.decode(codec.encode(state))
        for limit in np.percentile(daily_backlog(600, seed=3).open, [50, 80, 95]):
            first = breach_chance(state, SETTINGS, float(limit), 6)
            assert breach_chance(again, SETTINGS, float(limit), 6) == first

    def test_the_replay_answers_each_question_with_its_own_prior(self) -> None:
        series = daily_backlog(400, seed=4)
        limit = np.full(len(series), float(np.percentile(series.open, 90)))
        asked = [
            Question("plain", limit, 6, settings=replace(SETTINGS, calibration_prior=None)),
            Question("calibrated", limit, 6, settings=SETTINGS),
        ]
        rep = replay_queue("q", series, SETTINGS, asked)
        state = catch_up(None, series, SETTINGS, phase_of("q"))
        for q in asked:
            assert q.settings is not None
            expected, _ = breach_chance(state, q.settings, float(limit[-1]), 6)
            assert rep.probabilities[q.name][-1] == expected
        assert not np.array_equal(rep.probabilities["plain"], rep.probabilities["calibrated"])
        assert answers_only(replace(SETTINGS, calibration_prior=40.0), SETTINGS)

    def test_turning_it_on_keeps_every_saved_state(self) -> None:
        """Applied when a probability is read: the fingerprint that guards saved states
        is the same with or without it, and the same as with the other defaults."""
        assert SETTINGS.fingerprint() == EngineSettings().fingerprint()
        assert replace(SETTINGS, burst_widen=3).fingerprint() != SETTINGS.fingerprint()


class TestConfig:
    def test_the_daemon_passes_its_setting_to_the_engine(self) -> None:
        default = engine_settings(ForecastingSettings()).calibration_prior
        assert default == EngineSettings().calibration_prior
        assert (
            engine_settings(ForecastingSettings(calibration_prior=None)).calibration_prior is None
        )
        assert engine_settings(ForecastingSettings(calibration_prior=20)).calibration_prior == 20

    def test_a_prior_must_be_positive(self) -> None:
        with pytest.raises(ValidationError, match="calibration_prior"):
            ForecastingSettings(calibration_prior=0)
