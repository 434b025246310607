"""How often each gate opens, and how often outside the shipped rule's firing hours.

Run ``python -m benchmarks.forecasts.gate_hours --replay-cache DIR`` after
:mod:`benchmarks.forecasts.crossval` wrote its replays to ``DIR`` (nothing is
replayed here). Per log, over the scored hours at the fixed limit: how many hours
the queue's own median 6-hour rise is 0, and, for the gate from the queue's own
history (the median and the 0.9-quantile rise, rising over 3 h) and round 7's gate
at 0.9 x the limit (rising over 3 h), the hours it is open and those of them in
which the shipped rule (``warning``, P >= 0.3, recover < 0.15) is not already
firing: the only hours a second stage can add (docs/forecasting.md, round 8).
"""

from __future__ import annotations

import argparse
import pickle
from pathlib import Path

import numpy as np

from benchmarks.forecasts.crossval import (
    Params,
    fast_alerting,
    gate_hours,
    own_gate_hours,
    own_rises,
)
from benchmarks.forecasts.series import LOGS, to_series
from forecasts.evaluation.report import TEST_START, limit_series

SHIPPED = Params("warning", 0.3, 0.15, 0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--replay-cache", type=Path, required=True, metavar="DIR")
    args = parser.parse_args(argv)
    for log in LOGS:
        path = args.replay_cache / f"{log}.pkl"
        if not path.exists():
            continue
        replays = pickle.loads(path.read_bytes())
        series = to_series(LOGS[log]())
        counts = dict.fromkeys(["hours", "median rise 0", "own q0.5", "own q0.9", "0.9 L"], 0)
        beyond = dict.fromkeys(["own q0.5", "own q0.9", "0.9 L"], 0)
        for name, rep in replays.items():
            s, scored = series[name], slice(TEST_START, None)
            limit = limit_series(s, "fixed")
            rises = own_rises(rep)
            known = np.asarray([f.status != "insufficient_history" for f in rep.forecasts])
            shipped = fast_alerting(rep.probabilities[SHIPPED.question("fixed")], known, SHIPPED)
            counts["hours"] += len(s.open[scored])
            counts["median rise 0"] += int(np.sum(rises[scored, 0] == 0))
            gates = {
                "own q0.5": own_gate_hours(s.open, limit, rises, 0.5, 3),
                "own q0.9": own_gate_hours(s.open, limit, rises, 0.9, 3),
                "0.9 L": gate_hours(s.open, limit, 0.9, 3),
            }
            for key, gate in gates.items():
                counts[key] += int(gate[scored].sum())
                beyond[key] += int((gate & ~shipped)[scored].sum())
        print(f"{log}: {counts}; open while the shipped rule is not firing: {beyond}")


if __name__ == "__main__":
    main()
