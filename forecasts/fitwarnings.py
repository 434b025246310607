"""Count statsmodels warnings instead of printing them.

Holt-Winters fits raise ``ConvergenceWarning`` most of the time on real backlogs;
the count is worth exporting, the text is noise (and an error under ``pytest -W error``).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class WarningTally:
    """Warnings swallowed inside :func:`counted_warnings`, by category name."""

    counts: dict[str, int] = field(default_factory=dict)

    @property
    def convergence(self) -> int:
        """How many ``ConvergenceWarning`` were raised."""
        return self.counts.get("ConvergenceWarning", 0)

    @property
    def total(self) -> int:
        """All warnings raised."""
        return sum(self.counts.values())

    def add(self, other: WarningTally) -> None:
        """Fold another tally into this one."""
        for name, n in other.counts.items():
            self.counts[name] = self.counts.get(name, 0) + n


@contextmanager
def counted_warnings(tally: WarningTally | None = None) -> Iterator[WarningTally]:
    """Record every warning raised in the block into a tally, printing none.

    Args:
        tally: tally to add to; a new one when None.

    Yields:
        The tally, filled when the block exits.
    """
    out = tally if tally is not None else WarningTally()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield out
        finally:
            for w in caught:
                name = w.category.__name__
                out.counts[name] = out.counts.get(name, 0) + 1


def fit_warnings(fitted: object) -> WarningTally:
    """The warnings a fitted model recorded while estimating (empty when none kept)."""
    kept = getattr(fitted, "warnings", None)
    return kept if isinstance(kept, WarningTally) else WarningTally()
