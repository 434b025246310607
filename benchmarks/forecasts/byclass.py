"""An experiment: one forecast rule for slow queues and another for the rest, cross-validated.

Run ``python -m benchmarks.forecasts.byclass --replay-cache DIR`` from the project root
after ``benchmarks.forecasts.crossval --replay-cache DIR`` (same ``--jumps``,
``--priors``, ``--varied``, ``--logs``, ``--hours``): it re-scores those replays and
replays nothing itself.

A queue is *slow* when its mean arrivals per hour over its first three weeks (before
the scored period; nothing else is read) are below a cut A. Leave one log out, as
:mod:`benchmarks.forecasts.crossval` does: on the other two logs the folds choose A
(:data:`CUTS`), the rule for slow queues and the rule for the others, jointly, by the
same objective (:func:`~benchmarks.forecasts.crossval.objective`, each log weighing the
same), and the held-out log is scored with that choice, its rules' alerting hours
recomputed through the real rule evaluation (:func:`~benchmarks.forecasts.crossval.held_out`).
Printed per queue type beside the same folds choosing one rule for every queue.
Nothing here ships: a rule per class would need the daemon to know a queue's class.
"""

from __future__ import annotations

import argparse
import itertools
import pickle
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.forecasts.crossval import (
    Params,
    choose,
    fast_alerting,
    first_hours,
    grid_of,
    held_out,
    objective,
    queue_type,
)
from benchmarks.forecasts.series import LOGS, to_series
from forecasts.evaluation.events import EventScore
from forecasts.evaluation.replay import Replay
from forecasts.evaluation.report import (
    LIMITS,
    SCORE_HEADER,
    TEST_START,
    LimitKind,
    limit_series,
    score_queue,
    score_row,
)
from forecasts.types import HourlySeries

CUTS = (0.1, 0.2, 0.5)
"""Candidate cuts A on the mean arrivals per hour of a queue's first three weeks."""
RULE_NAME = "forecast rule (chosen without this log)"

QueueKey = tuple[str, str]


def arrivals(series: HourlySeries) -> float:
    """Mean tickets created per hour before the scored period."""
    return float(np.mean(series.created[:TEST_START]))


def per_queue(
    series: Mapping[str, Mapping[str, HourlySeries]],
    replays: Mapping[str, Mapping[str, Replay]],
    kind: LimitKind,
    grid: Sequence[Params],
) -> dict[Params, dict[QueueKey, EventScore]]:
    """Each grid point's score on each queue (the fast rule)."""
    out: dict[Params, dict[QueueKey, EventScore]] = {p: {} for p in grid}
    for log, queues in series.items():
        for name, s in queues.items():
            rep = replays[log][name]
            known = np.asarray([f.status != "insufficient_history" for f in rep.forecasts])
            limit = limit_series(s, kind)
            for p in grid:
                flags = fast_alerting(rep.probabilities[p.question(kind)], known, p)
                out[p][(log, name)] = score_queue(s.open, limit, {"rule": flags}, TEST_START)[
                    "rule"
                ]
    return out


def total(scores: Sequence[EventScore]) -> EventScore:
    """The scores summed (a new object)."""
    out = EventScore()
    for s in scores:
        out.add(s)
    return out


def choose_split(
    scores: Mapping[Params, Mapping[QueueKey, EventScore]],
    rates: Mapping[QueueKey, float],
    logs: Sequence[str],
    grid: Sequence[Params],
) -> tuple[float, Params, Params]:
    """The cut and the (slow, other) rules with the best objective over ``logs``."""
    best: tuple[float, tuple[float, Params, Params]] | None = None
    for cut in CUTS:
        sums: dict[tuple[Params, str, bool], EventScore] = {}
        for p in grid:
            for log in logs:
                for slow in (True, False):
                    sums[(p, log, slow)] = total(
                        [
                            s
                            for key, s in scores[p].items()
                            if key[0] == log and (rates[key] < cut) == slow
                        ]
                    )
        for slow_p, other_p in itertools.product(grid, grid):
            value = objective(
                [
                    total([sums[(slow_p, log, True)], sums[(other_p, log, False)]]).as_dict()
                    for log in logs
                ]
            )
            if best is None or value > best[0]:
                best = (value, (cut, slow_p, other_p))
    assert best is not None
    return best[1]


def load_replays(
    cache: Path, series: Mapping[str, Mapping[str, HourlySeries]]
) -> dict[str, dict[str, Replay]]:
    """The crossval's replays of every log (all must be in the cache)."""
    out = {}
    for log in series:
        path = cache / f"{log}.pkl"
        if not path.exists():
            raise SystemExit(f"{path} is missing: run benchmarks.forecasts.crossval first")
        out[log] = pickle.loads(path.read_bytes())
    return out


def main(argv: list[str] | None = None) -> None:
    """Cross-validate one rule per class against one rule for all; print held-out tables."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--replay-cache", type=Path, required=True, metavar="DIR")
    parser.add_argument(
        "--jumps", type=lambda text: [None, *(float(j) for j in text.split(","))], default=[None]
    )
    parser.add_argument(
        "--priors", type=lambda text: [None, *(float(c) for c in text.split(","))], default=[None]
    )
    parser.add_argument("--varied", type=lambda text: text.split(","), default=None)
    parser.add_argument("--logs", type=lambda text: text.split(","))
    parser.add_argument(
        "--hours",
        type=lambda text: {k: int(v) for k, v in (kv.split("=") for kv in text.split(","))},
        default={},
    )
    args = parser.parse_args(argv)
    grid = (
        grid_of(args.jumps, args.priors)
        if args.varied is None
        else grid_of(args.jumps, args.priors, args.varied)
    )
    logs = args.logs or list(LOGS)
    series = {log: first_hours(to_series(LOGS[log]()), args.hours.get(log)) for log in logs}
    replays = load_replays(args.replay_cache, series)
    rates = {(log, q): arrivals(s) for log, queues in series.items() for q, s in queues.items()}
    types = {
        (log, q): queue_type(log, s) for log, queues in series.items() for q, s in queues.items()
    }
    report: dict[str, Any] = {"arrivals_per_hour": {f"{k[0]}/{k[1]}": v for k, v in rates.items()}}
    for kind in LIMITS:
        scores = per_queue(series, replays, kind, grid)
        as_points = {
            p: {log: total([s for k, s in q.items() if k[0] == log]) for log in logs}
            for p, q in scores.items()
        }
        by_type: dict[str, dict[str, EventScore]] = {"one rule": {}, "by class": {}}
        chosen: dict[str, Any] = {}
        for log in logs:
            train = [other for other in logs if other != log]
            one = choose(as_points, train, grid)
            cut, slow_p, other_p = choose_split(scores, rates, train, grid)
            chosen[log] = {
                "one rule": one.__dict__,
                "cut": cut,
                "slow": slow_p.__dict__,
                "other": other_p.__dict__,
            }
            for name, s in series[log].items():
                key = (log, name)
                params = {"one rule": one, "by class": slow_p if rates[key] < cut else other_p}
                for label, p in params.items():
                    real = held_out(log, p, {name: s}, {name: replays[log][name]}, kind)[name]
                    by_type[label].setdefault(types[key], EventScore()).add(real[RULE_NAME])
        report[kind] = {
            "chosen": chosen,
            "held_out_by_queue_type": {
                label: {t: s.as_dict() for t, s in sorted(per.items())}
                for label, per in by_type.items()
            },
        }
    print_report(report, sys.stdout)


def print_report(report: Mapping[str, Any], out: Any) -> None:
    """Per kind of limit: each fold's choice, then the held-out figures per queue type."""
    for kind in LIMITS:
        out.write(f"\n{kind} limit, chosen per fold:\n")
        for log, c in report[kind]["chosen"].items():
            out.write(f"  without {log}: {c}\n")
        out.write(f"{kind} limit, held out per queue type {SCORE_HEADER}\n")
        for label, per in report[kind]["held_out_by_queue_type"].items():
            for t, r in per.items():
                out.write(score_row(f"  {label}, {t}", r) + "\n")


if __name__ == "__main__":
    main()
