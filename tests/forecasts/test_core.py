"""The engine (one step per hour), its ring, bands, breach figures and saved states."""

from __future__ import annotations

import io

import numpy as np
import pytest

from forecasts.bands import conformal_quantiles, coverage, from_residuals, random_walk
from forecasts.breach import breach_eta, breach_probability
from forecasts.codec import StateFormatError, decode, encode
from forecasts.engine import (
    EngineSettings,
    catch_up,
    current_forecast,
    estimation_due,
    hour_number,
    phase_of,
)
from forecasts.fitwarnings import counted_warnings
from forecasts.models.naive import FittedNaive
from forecasts.outputs import forecast, outputs
from forecasts.ring import Ring
from tests.forecasts.synthetic import daily_backlog
from tests.forecasts.synthetic import random_walk as rw_series

SETTINGS = EngineSettings()


def run(series, settings=SETTINGS, queue="q"):  # type: ignore[no-untyped-def]
    """The engine stepped through every hour of ``series``."""
    return catch_up(None, series, settings, phase_of(queue))


class TestBands:
    def test_conformal_quantiles(self) -> None:
        """With 19 residuals an 80% band uses the 0.947 (n+1 corrected) quantile."""
        lower, upper = conformal_quantiles(19, 0.8)
        assert upper == pytest.approx(18 / 19)
        assert lower == pytest.approx(1 / 19)

    def test_coverage_near_nominal(self) -> None:
        """Bands from 2,000 Gaussian residuals cover about 80% of fresh ones."""
        rng = np.random.default_rng(0)
        cal = from_residuals(rng.normal(0, 3, (2000, 6)))
        cover = coverage(rng.normal(0, 3, (4000, 6)), cal, 0.8)
        assert np.all(np.abs(cover - 0.8) < 0.03)

    def test_random_walk_widens(self) -> None:
        """The short-history fallback band widens with the horizon."""
        cal = random_walk(np.array([10.0, 12.0, 11.0, 15.0]), 6)
        lower, upper = cal.band(np.zeros(6), 0.8)
        assert np.all(np.diff(upper - lower) > 0)

    def test_extends_past_calibrated_steps(self) -> None:
        """Asking for more steps than calibrated grows the band like sqrt(h)."""
        cal = from_residuals(np.random.default_rng(1).normal(0, 1, (200, 4)))
        lower, upper = cal.band(np.zeros(16), 0.8)
        assert (upper - lower)[15] == pytest.approx(2 * (upper - lower)[3], rel=1e-6)


class TestBreach:
    def test_eta_first_crossing(self) -> None:
        """The ETA is the first step whose upper edge exceeds the limit."""
        assert breach_eta(np.array([1.0, 5.0, 11.0, 12.0]), 10.0) == 3
        assert breach_eta(np.array([1.0, 2.0]), 10.0) is None

    def test_probability_counts_paths(self) -> None:
        """Half the paths cross: probability one half."""
        cal = from_residuals(np.array([[0.0, 5.0], [0.0, -5.0]]))
        assert breach_probability(np.array([10.0, 10.0]), cal, 12.0) == 0.5


class TestRing:
    def test_errors_are_actual_minus_forecast_of_known_origins(self) -> None:
        """An origin's path is returned once all its steps are known, oldest first."""
        ring = Ring.empty(("m",), size=10, horizon=2)
        for hour in range(100, 106):
            ring.push(hour, float(hour), {"m": np.array([hour + 0.5, hour + 1.0])})
        paths = ring.errors(("m",), steps=2, window=3)
        # origins 101..103: actual h+1, h+2 against forecasts h+0.5, h+1
        np.testing.assert_allclose(paths, [[0.5, 1.0]] * 3)

    def test_a_combination_is_the_mean_of_its_members(self) -> None:
        """The error of a mean forecast is the mean of the members' errors."""
        ring = Ring.empty(("a", "b"), size=8, horizon=1)
        for hour in range(5):
            ring.push(hour, 10.0, {"a": np.array([8.0]), "b": np.array([14.0])})
        np.testing.assert_allclose(ring.errors(("a", "b"), 1, 8)[:, 0], [-1.0] * 4)

    def test_a_gap_clears_the_hours_it_skipped(self) -> None:
        """Hours never written are never read as if they held a forecast."""
        ring = Ring.empty(("m",), size=6, horizon=1)
        for hour in (0, 1, 2, 3, 4, 5, 9):
            ring.push(hour, 1.0, {"m": np.array([1.0])})
        # origins 4..8 are held; 6..8 were skipped and 5's outcome (hour 6) too
        np.testing.assert_array_equal(ring.errors(("m",), 1, 6), [[0.0]])


class TestEngine:
    def test_selects_a_model_that_beats_naive_on_a_flow_driven_series(self) -> None:
        """On a daily arrivals/resolutions pattern flow-aware models beat naive at 6 h."""
        state = run(daily_backlog(24 * 16, seed=7))
        assert state.selected != "naive"
        assert state.scores[state.selected] < 0.98 * state.scores["naive"]

    def test_keeps_naive_on_a_random_walk(self) -> None:
        """On a random walk naive's score is within 10% of the best and usually kept."""
        state = run(rw_series(24 * 16, seed=8))
        assert state.scores["naive"] <= 1.1 * min(state.scores.values())

    def test_stepping_hour_by_hour_equals_one_catch_up(self) -> None:
        """The daemon's hourly calls and one call over the same hours give one state."""
        series = daily_backlog(24 * 9, seed=2)
        hourly = None
        for t in range(len(series)):
            hourly = catch_up(hourly, series.head(t + 1), SETTINGS, phase_of("q"))
        at_once = run(series)
        assert hourly is not None and hourly.selected == at_once.selected
        np.testing.assert_array_equal(hourly.ring.forecasts, at_once.ring.forecasts)

    def test_estimates_parameters_only_on_its_schedule(self) -> None:
        """ETS is estimated when it first can, then once a week at the queue's phase."""
        series = daily_backlog(24 * 21, seed=3)
        state = run(series.head(24 * 5))
        first = state.attempted["ets_daily"]
        hours = range(state.last_hour + 1, state.last_hour + 1 + 168)
        due = [h for h in hours if estimation_due(state, [h], phase_of("q"), SETTINGS)]
        assert first == hour_number(series.timestamps[47])  # its 48-hour minimum
        assert len(due) in (7, 8)  # flow daily; ETS once, maybe at the same hour
        later = catch_up(state, series.head(24 * 5 + 168), SETTINGS, phase_of("q"))
        assert later.attempted["ets_daily"] > first

    def test_insufficient_history_until_the_band_is_calibrated(self) -> None:
        """Until min_paths full error paths exist the status says so; then ok."""
        short = run(daily_backlog(60))
        assert forecast(short, SETTINGS, "q").status == "insufficient_history"
        assert forecast(run(daily_backlog(24 * 8)), SETTINGS, "q").status == "ok"

    def test_a_model_without_a_finite_forecast_falls_back_to_naive(self) -> None:
        """A selected model forecasting NaN shows naive at the last value, fallback."""
        series = daily_backlog(24 * 10)
        state = run(series)
        state.selected = "naive"
        state.current["naive"] = FittedNaive(float("nan")).forecast(24)
        state.selected = "drift"
        state.current["drift"] = np.full(24, np.nan)
        state.current["naive"] = np.full(24, series.open[-1])
        shown = forecast(state, SETTINGS, "q")
        assert (shown.model, shown.status) == ("naive", "fallback")
        assert np.all(shown.point == series.open[-1]) and np.all(np.isfinite(shown.upper))

    def test_no_warning_leaks(self) -> None:
        """Nothing is raised or printed outside the engine (ETS estimation included)."""
        with counted_warnings() as outside:
            run(daily_backlog(24 * 10, seed=9))
        assert outside.total == 0


class TestSavedState:
    def test_a_decoded_state_continues_exactly(self) -> None:
        """Saved and read back, a state forecasts the next hours as the original does."""
        series = daily_backlog(24 * 12, seed=4)
        original = run(series.head(24 * 10))
        restored = decode(encode(original))
        for state in (original, restored):
            catch_up(state, series, SETTINGS, phase_of("q"))
        for name in ("naive", "drift", "flow", "ets_daily", "warning"):
            np.testing.assert_array_equal(
                current_forecast(original, name), current_forecast(restored, name)
            )
        assert restored.selected == original.selected and restored.scores == original.scores

    def test_a_decoded_state_answers_before_its_next_hour(self) -> None:
        """Read back and asked at once (a restart within the hour it was saved), a state
        forecasts as the original did, to float32 precision, for every model."""
        original = run(daily_backlog(24 * 12, seed=4))
        restored = decode(encode(original))
        for name in ("naive", "drift", "flow", "ets_daily", "linear", "warning", "combo"):
            np.testing.assert_allclose(
                current_forecast(restored, name), current_forecast(original, name), rtol=1e-6
            )
        before, after = (
            outputs(original, SETTINGS, "q", [(500.0, 6)]),
            outputs(restored, SETTINGS, "q", [(500.0, 6)]),
        )
        assert after.breach == before.breach
        np.testing.assert_allclose(after.forecast.point, before.forecast.point, rtol=1e-6)

    def test_another_format_is_refused(self) -> None:
        """A state of another layout raises StateFormatError (the queue starts afresh)."""
        blob = encode(run(daily_backlog(24 * 3)))
        with np.load(io.BytesIO(blob)) as npz:
            arrays = {k: npz[k] for k in npz.files}
        arrays["meta"] = np.frombuffer(b'{"format": 0}', dtype=np.uint8)
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)  # type: ignore[arg-type]
        with pytest.raises(StateFormatError):
            decode(buffer.getvalue())

    def test_pickled_objects_are_never_loaded(self) -> None:
        """An npz holding a pickled object array is refused, not unpickled."""
        buffer = io.BytesIO()
        np.savez(buffer, meta=np.array([object()], dtype=object))
        with pytest.raises(StateFormatError):
            decode(buffer.getvalue())
