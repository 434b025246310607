"""Breach ETA and probability, and the forecast rule's hysteresis.

The ETA is Datadog's: the first step at which the band's upper edge crosses the
limit. The probability is the share of calibrated outcome paths (point plus a
backtest error path) that cross the limit at any step within the horizon, so it
accounts for errors being correlated across steps. :class:`ForecastRuleDecision`
turns successive probabilities into firing and recovering with two thresholds.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from forecasts.bands import Calibration
from forecasts.types import FloatArray


def breach_eta(upper: FloatArray, limit: float) -> int | None:
    """First step (1-based) whose upper band edge exceeds ``limit``, or None."""
    above = np.flatnonzero(upper > limit)
    return int(above[0]) + 1 if len(above) else None


def breach_probability(point: FloatArray, calibration: Calibration, limit: float) -> float:
    """Probability that the open count exceeds ``limit`` at some step of ``point``.

    Args:
        point: point forecast for steps 1..h.
        calibration: error paths of the model on the queue's backtest.
        limit: the rule's limit.
    """
    paths = point[None, :] + calibration.scaled_paths(len(point))
    crossed = np.any(paths > limit, axis=1)
    return float(crossed.mean()) if len(crossed) else float(np.any(point > limit))


class RuleOutcome(StrEnum):
    """What the forecast rule decided at one evaluation, and why."""

    QUIET = "quiet"  # not firing, probability below the alert threshold
    FIRE = "fire"  # probability reached the alert threshold
    HOLD = "hold"  # firing, probability still above the recovery threshold
    RECOVER = "recover"  # firing, probability fell below the recovery threshold


@dataclass(frozen=True)
class ForecastRuleDecision:
    """Alert and recovery thresholds on the breach probability.

    Attributes:
        alert_threshold: fire when the probability reaches this.
        recovery_threshold: once firing, recover only when it falls below this.
    """

    alert_threshold: float = 0.5
    recovery_threshold: float = 0.25

    def __post_init__(self) -> None:
        if not 0.0 <= self.recovery_threshold <= self.alert_threshold <= 1.0:
            raise ValueError("need 0 <= recovery_threshold <= alert_threshold <= 1")

    def decide(self, firing: bool, probability: float) -> RuleOutcome:
        """The outcome for one evaluation given whether the rule was firing."""
        if firing:
            return (
                RuleOutcome.HOLD
                if probability >= self.recovery_threshold
                else (RuleOutcome.RECOVER)
            )
        return RuleOutcome.FIRE if probability >= self.alert_threshold else RuleOutcome.QUIET

    @staticmethod
    def is_firing(outcome: RuleOutcome) -> bool:
        """Whether the rule is firing after ``outcome``."""
        return outcome in (RuleOutcome.FIRE, RuleOutcome.HOLD)
