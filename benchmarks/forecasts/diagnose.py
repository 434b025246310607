"""Where the shipped forecast rule's misses and false alert-hours come from, per log.

Run ``python -m benchmarks.forecasts.diagnose --replay-cache DIR`` after
:mod:`benchmarks.forecasts.crossval` wrote its replays to ``DIR`` (nothing is
replayed here). For the shipped rule (``warning``, P >= 0.3, recover < 0.15, fixed
limit, H = 6 h) it prints, per log (every log is a training log of the two folds
that do not hold it out):

* per episode not caught before onset: the largest probability in the 6 hours
  before onset, and the open count then against the limit;
* the false alert-hours split by where the open count was (against the limit) and
  whether it was higher than 3 hours earlier.

This is what chose the two-stage rule of round 6 (docs/forecasting.md).
"""

from __future__ import annotations

import argparse
import pickle
from pathlib import Path

import numpy as np

from benchmarks.forecasts.crossval import Params, fast_alerting
from benchmarks.forecasts.series import LOGS, to_series
from forecasts.evaluation.events import episodes
from forecasts.evaluation.report import HORIZON, TEST_START, limit_series

SHIPPED = Params("warning", 0.3, 0.15, 0)
BINS = (0.0, 0.7, 0.8, 0.9, 1.0, np.inf)


def main(argv: list[str] | None = None) -> None:
    """Print the per-log diagnostics of the shipped rule."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--replay-cache", type=Path, required=True, metavar="DIR")
    args = parser.parse_args(argv)
    for log, load in LOGS.items():
        cached = args.replay_cache / f"{log}.pkl"
        if not cached.exists():
            print(f"\n{log}: no replays in {args.replay_cache}")
            continue
        replays = pickle.loads(cached.read_bytes())
        series = to_series(load())
        missed: list[tuple[float, float]] = []
        caught = 0
        hours = np.zeros((len(BINS) - 1, 2), dtype=int)
        for name, s in series.items():
            rep = replays[name]
            limit = limit_series(s, "fixed")
            prob = rep.probabilities[SHIPPED.question("fixed")]
            known = np.asarray([f.status != "insufficient_history" for f in rep.forecasts])
            firing = fast_alerting(prob, known, SHIPPED)
            eps = episodes(s.open, limit)
            in_breach = np.zeros(len(s), dtype=bool)
            soon = np.zeros(len(s), dtype=bool)
            for ep in eps:
                in_breach[ep.onset : ep.end + 1] = True
                soon[max(0, ep.onset - HORIZON) : ep.onset] = True
                if ep.onset < TEST_START:
                    continue
                before = slice(max(0, ep.onset - HORIZON), ep.onset)
                if firing[before].any():
                    caught += 1
                    continue
                top = int(np.argmax(prob[before])) + before.start
                missed.append((float(prob[top]), float(s.open[top] / limit[top])))
            false = firing & ~in_breach & ~soon
            false[:TEST_START] = False
            ratio = s.open / limit
            rising = np.zeros(len(s), dtype=bool)
            rising[3:] = s.open[3:] > s.open[:-3]
            where = np.digitize(ratio, BINS) - 1
            for b in range(len(BINS) - 1):
                for r in (0, 1):
                    hours[b, r] += int(np.sum(false & (where == b) & (rising == bool(r))))
        print(f"\n{log}: {caught} caught before onset, {len(missed)} missed")
        for p, level in sorted(missed):
            print(f"  missed: top P in the 6 h before onset {p:.2f}, open/limit then {level:.2f}")
        total = int(hours.sum())
        print(f"  false alert-hours: {total}")
        for b in range(len(BINS) - 1):
            label = f"open/limit in [{BINS[b]:.1f}, {BINS[b + 1]:.1f})"
            flat, up = hours[b]
            print(f"    {label:28s} not rising {flat:5d}   rising over 3 h {up:5d}")


if __name__ == "__main__":
    main()
