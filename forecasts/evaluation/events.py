"""Early-warning scoring as events, per forecasting.md's protocol.

An episode is at least 2 consecutive hours above the limit; episodes less than 24 h
apart merge; the onset is the first hour above. A run (contiguous alerting hours)
warns of onset e when one of its hours t has 1 <= e - t <= H; each run is credited
to the first episode it warns of; runs starting inside a breach, and uncredited runs
ending less than H hours before the end of the test, count as neither.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Episode:
    """A breach: first and last hour index above the limit."""

    onset: int
    end: int


@dataclass
class EventScore:
    """Counts for one rule on one or many series."""

    episodes: int = 0
    caught: int = 0
    flagged_by_onset_plus_1: int = 0
    credited_runs: int = 0
    false_runs: int = 0
    false_hours: int = 0
    leads: list[int] = field(default_factory=list)
    series_weeks: float = 0.0

    def add(self, other: EventScore) -> None:
        """Fold another score in."""
        for name in ("episodes", "caught", "flagged_by_onset_plus_1", "credited_runs"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.false_runs += other.false_runs
        self.false_hours += other.false_hours
        self.leads.extend(other.leads)
        self.series_weeks += other.series_weeks

    def as_dict(self) -> dict[str, float | int | None]:
        """The protocol's figures."""
        runs = self.credited_runs + self.false_runs
        weeks = self.series_weeks or 1.0
        return {
            "episodes": self.episodes,
            "caught_before_onset": self.caught,
            "recall": self.caught / self.episodes if self.episodes else None,
            "flagged_by_onset_plus_1": self.flagged_by_onset_plus_1,
            "precision": self.credited_runs / runs if runs else None,
            "median_lead_h": float(np.median(self.leads)) if self.leads else None,
            "false_alarms_per_series_week": self.false_runs / weeks,
            "false_alert_hours_per_series_week": self.false_hours / weeks,
        }


def runs_of(mask: BoolArray) -> list[tuple[int, int]]:
    """(first, last) index of each run of True."""
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.diff(padded)
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1) - 1
    return list(zip(starts.tolist(), ends.tolist(), strict=True))


def episodes(
    open_: npt.NDArray[np.float64], limit: float | npt.NDArray[np.float64], merge_gap: int = 24
) -> list[Episode]:
    """Breach episodes of a series against a fixed limit or a limit per hour."""
    found: list[Episode] = []
    for first, last in runs_of(open_ > limit):
        if last - first + 1 < 2:
            continue
        if found and first - found[-1].end < merge_gap:
            found[-1] = Episode(found[-1].onset, last)
        else:
            found.append(Episode(first, last))
    return found


def _credit(
    run: tuple[int, int], onsets: list[Episode], horizon: int, until: int
) -> Episode | None:
    first, last = run
    for ep in onsets:
        if first <= ep.onset + until and last >= ep.onset - horizon:
            return ep
    return None


def score(
    open_: npt.NDArray[np.float64],
    limit: float | npt.NDArray[np.float64],
    alerting: BoolArray,
    test_start: int,
    horizon: int,
    until: int = -1,
) -> EventScore:
    """Score one rule's alerting hours on one series.

    Args:
        open_: the open counts (whole window).
        limit: the breach limit, fixed or per hour.
        alerting: alerting flag per hour (only test hours are read).
        test_start: index of the first test hour.
        horizon: the warning horizon H.
        until: the last hour, relative to the onset, at which a run still counts for
            an episode: -1 scores warnings before onset (the protocol's precision);
            +1 scores detection by onset + 1 (how the protocol scores the static
            rule, which by design alerts only once the breach has begun).
    """
    n = len(open_)
    eps = episodes(open_, limit)
    in_breach = np.zeros(n, dtype=bool)
    for ep in eps:
        in_breach[ep.onset : ep.end + 1] = True
    test_eps = [ep for ep in eps if ep.onset >= test_start]
    alert = np.zeros(n, dtype=bool)
    alert[test_start:] = alerting[test_start:]
    result = EventScore(episodes=len(test_eps), series_weeks=(n - test_start) / 168)
    last_credit: dict[int, int] = {}
    onsets = {ep.onset for ep in eps}
    for run in runs_of(alert):
        started_by = any(0 <= run[0] - e <= until for e in onsets)
        if in_breach[run[0]] and not started_by:
            continue
        credited = _credit(run, test_eps, horizon, until)
        if credited is not None:
            result.credited_runs += 1
            last_credit[credited.onset] = run[0]
        elif run[1] <= n - 1 - horizon:
            result.false_runs += 1
    result.caught = len(last_credit)
    result.leads = [onset - start for onset, start in last_credit.items()]
    soon = np.zeros(n, dtype=bool)
    for ep in test_eps:
        soon[max(0, ep.onset - horizon) : ep.onset] = True
    result.false_hours = int(np.sum(alert & ~in_breach & ~soon))
    result.flagged_by_onset_plus_1 = sum(
        bool(alert[max(0, ep.onset - horizon) : ep.onset + 2].any()) for ep in test_eps
    )
    return result
