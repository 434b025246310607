"""The early-warning event scoring of benchmarks/forecasts (forecasting.md's protocol)."""

from __future__ import annotations

import numpy as np

from forecasts.evaluation.events import episodes, runs_of, score
from forecasts.evaluation.rules import held_for, static_avg


class TestEpisodes:
    def test_two_hours_needed_and_merge(self) -> None:
        """One hour above is no episode; episodes under 24 h apart merge."""
        open_ = np.zeros(100)
        open_[10] = 5  # single hour: ignored
        open_[20:22] = 5
        open_[30:33] = 5  # 9 h after the previous end: merged
        open_[80:82] = 5
        found = episodes(open_, 1.0)
        assert [(e.onset, e.end) for e in found] == [(20, 32), (80, 81)]

    def test_runs(self) -> None:
        """Runs are (first, last) of contiguous True."""
        assert runs_of(np.array([0, 1, 1, 0, 1], dtype=bool)) == [(1, 2), (4, 4)]


class TestScore:
    def test_early_run_is_credited_with_lead(self) -> None:
        """A run 4 h before onset catches the episode with a 4 h lead."""
        open_ = np.zeros(200)
        open_[100:105] = 10
        alert = np.zeros(200, dtype=bool)
        alert[96:100] = True
        result = score(open_, 5.0, alert, 50, 6).as_dict()
        assert result["caught_before_onset"] == 1 and result["median_lead_h"] == 4
        assert result["precision"] == 1.0

    def test_far_run_is_false(self) -> None:
        """A run far from any onset is a false alarm with its hours counted."""
        open_ = np.zeros(200)
        alert = np.zeros(200, dtype=bool)
        alert[60:63] = True
        result = score(open_, 5.0, alert, 50, 6)
        assert (result.false_runs, result.false_hours) == (1, 3)


class TestRules:
    def test_static_average(self) -> None:
        """The 2 h average exceeds the limit only when both hours average above it."""
        assert static_avg(np.array([0.0, 10.0, 10.0]), 6.0).tolist() == [False, False, True]

    def test_for_duration(self) -> None:
        """``for: 1h`` needs the condition at two consecutive hourly evaluations."""
        cond = np.array([1, 1, 0, 1, 1, 1], dtype=bool)
        assert held_for(cond, 1).tolist() == [False, True, False, False, True, True]
