"""Choose the forecast rule by cross-validation across logs; report only held-out figures.

Run ``python -m benchmarks.forecasts.crossval`` from the project root (data from
``tests/data``; about 10-20 minutes on two shared cores). Series: every queue of the
three real logs (:mod:`benchmarks.forecasts.series`): ServiceNow (steady queues: groups, the
total, categories, locations), BPIC 2013 (a burst: teams, org lines, the total) and
the Italian Helpdesk (sparse: about three tickets a day). Each is replayed once
through the shipping engine (:func:`forecasts.evaluation.replay.replay_queue`), which
records the breach probability of each candidate model at the protocol's limits (with
``--jumps``, also as the engine answers it with each candidate ``burst_jump``: the
per-queue widening for queues that jump fast, :func:`forecasts.engine.breach_steps`;
with ``--priors``, with each candidate ``calibration_prior``: the per-queue
calibration, :mod:`forecasts.calibrate`; ``--varied`` limits both to some models).
``--gates`` and ``--own-gates`` add two-stage rules (a gate at a share of the limit, or
within the queue's own typical 6-hour rise of it) to the grid without a new question.
``--logs`` and ``--hours LOG=N`` make a smaller run (fewer logs, a log's first N
hours), printed as such; per queue type the held-out figures are also printed for
each sub-grid (plain, + widening, + calibration, all), which is how the defaults of
both settings are decided.

Leave one log out: the rule's model, alert probability (recovery at half of it) and
the engine's ``burst_jump`` (with ``--jumps``) are chosen on the other two logs
(:func:`objective`: the shortfall against the goal's lines, each log weighted
equally) and scored on the held-out log, so no figure comes from the episodes it was
chosen on.
The held-out rule's alerting hours are recomputed through the real rule evaluation
(``monitor.backtest.timeline``) and must equal the fast grid's. The anchors of
forecasting.md are scored on the same series. Writes
``benchmarks/results/forecasts_crossval.json``.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import os
import pickle
import sys
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, get_args

import numpy as np

from alerting.rules import ForecastRule
from benchmarks.forecasts.series import LOGS, to_series
from forecasts.engine import EngineSettings
from forecasts.evaluation.events import BoolArray, EventScore
from forecasts.evaluation.replay import Question, Replay, pool_memories, replay_queue
from forecasts.evaluation.report import (
    HORIZON,
    LIMITS,
    SCORE_HEADER,
    TEST_START,
    LimitKind,
    anchor_flags,
    band_questions,
    limit_series,
    score_queue,
    score_row,
    summed,
)
from forecasts.models.ets import EtsEstimation
from forecasts.types import RISE_QUANTILES, FloatArray, HourlySeries
from monitor.backtest import key_of, timeline

RESULTS = Path(__file__).resolve().parents[1] / "results"
BURSTY_JUMP = 0.2
"""A queue is bursty when, in the three weeks before scoring, its open count once rose by
at least this share of its limit within 6 hours (decided before the scored period)."""
MODELS = ("warning", "combo")
JUMPS: tuple[float | None, ...] = (None,)
"""The engine's ``burst_jump`` candidates (None: never widen the horizon); ``--jumps``
adds others (each adds two questions per model to every replayed hour)."""
PRIORS: tuple[float | None, ...] = (None,)
"""The engine's ``calibration_prior`` candidates (None: uncalibrated); ``--priors`` adds
others (each adds two questions per model and widening to every replayed hour)."""
MEMORIES: tuple[float | None, ...] = (None,)
"""The calibration memory's half-lives in weeks (None: the ring's origins only);
``--memories`` adds others (each adds, for every prior, two questions per model and
widening to every replayed hour, answered with the memory pooled over the log's queues)."""
ALERTS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
RECOVER_SHARE = (0.5,)
FOR_HOURS = (0,)
GOAL = {"recall": 0.9, "precision": 0.5, "median_lead_h": 6.0}
"""The goal's lines to reach (at least) ..."""
GOAL_MAX = {"false_alarms_per_series_week": 0.15, "false_alert_hours_per_series_week": 2.0}
"""... and to stay under (at most)."""


@dataclass(frozen=True)
class Params:
    """One forecast rule configuration of the grid."""

    model: str
    alert: float
    recover: float
    for_hours: int
    jump: float | None = None
    prior: float | None = None
    memory: float | None = None
    """The calibration memory's half-life in weeks (with ``prior``; None: the ring's)."""
    gate: float | None = None
    gate_level: float = 0.9
    gate_rise: int = 3
    gate_quantile: float | None = None
    """The gate from the queue's own history: its level is the limit less the queue's
    own rise at this quantile (``gate_level`` is then unused)."""

    def question(self, kind: LimitKind) -> str:
        """The replay question holding this point's probability at ``kind`` limits."""
        widened = "" if self.jump is None else f"/jump {self.jump}"
        calibrated = "" if self.prior is None else f"/prior {self.prior}"
        remembered = "" if self.memory is None else f"/memory {self.memory}w"
        return f"{self.model}/{kind}{widened}{calibrated}{remembered}"

    def settings(self) -> EngineSettings:
        """The engine settings the question is answered with (the daemon's defaults
        otherwise)."""
        half_life = None if self.memory is None else self.memory * 168.0
        return replace(
            EngineSettings(),
            burst_jump=self.jump,
            calibration_prior=self.prior,
            calibration_half_life=half_life,
        )

    def rule(self, limit: float) -> ForecastRule:
        """The ``kind: forecast`` rule with these parameters at ``limit``."""
        gated = (
            {}
            if self.gate is None
            else {
                "gate_probability": self.gate,
                "gate_level": self.gate_level,
                "gate_rise": f"{self.gate_rise}h",
                "gate_quantile": self.gate_quantile,
            }
        )
        return ForecastRule.model_validate(
            {
                "name": "BreachForecast",
                "kind": "forecast",
                "threshold": limit,
                "horizon": f"{HORIZON}h",
                "min_probability": self.alert,
                "recover_probability": self.recover,
                "for": f"{self.for_hours}h",
                **gated,
            }
        )

    def thresholds(self, gate: BoolArray | None) -> tuple[FloatArray, FloatArray]:
        """Per hour, the alert and recovery probabilities: the two-stage rule's lower
        ones where its ``gate`` is open (constant without a gate)."""
        n = 0 if gate is None else len(gate)
        alert, recover = np.full(n, self.alert), np.full(n, self.recover)
        if self.gate is not None and gate is not None:
            alert[gate] = self.gate
            recover[gate] = self.recover * self.gate / self.alert
        return alert, recover


PRESETS = (
    Params("warning", 0.3, 0.15, 0),
    Params("warning", 0.5, 0.25, 0),
    Params("warning", 0.8, 0.4, 1),
    Params("warning", 0.3, 0.15, 0, prior=10.0),
    Params("warning", 0.3, 0.15, 0, prior=40.0),
    Params("warning", 0.3, 0.15, 0, prior=10.0, memory=6.0),
    Params("warning", 0.3, 0.15, 0, prior=40.0, memory=6.0),
    Params("warning", 0.3, 0.15, 0, jump=0.1),
    Params("warning", 0.3, 0.15, 0, jump=0.2),
)
"""Fixed settings reported on every log as they are (nothing chosen): the trade-off
(the third is round 1's recommendation), and round 2's recommendation calibrated or
widened (each only when the run asks those questions)."""


GATES: tuple[tuple[float, float, int] | None, ...] = (None,)
"""The two-stage rule's candidates, (gate probability, gate level, gate rise in hours)
(None: one stage); ``--gates`` adds others (no new replay question: the gate reads the
observed open counts)."""

OWN_GATES: tuple[tuple[float, float, int], ...] = ()
"""The gates from the queue's own history, (gate probability, quantile of the queue's
own 6-hour rises, gate rise in hours); ``--own-gates`` adds them (no new replay
question: the gate reads the rises each replayed forecast carries)."""


def grid_of(
    jumps: Sequence[float | None],
    priors: Sequence[float | None] = PRIORS,
    varied: Sequence[str] = MODELS,
    memories: Sequence[float | None] = MEMORIES,
    gates: Sequence[tuple[float, float, int] | None] = GATES,
    own_gates: Sequence[tuple[float, float, int]] = OWN_GATES,
) -> list[Params]:
    """The grid of rules (and engine widenings and calibrations) the folds choose from;
    only the ``varied`` models are asked with a widening or a calibration; a memory
    only with a prior; a gate (either kind) only below the alert probability."""
    out = []
    stages: list[tuple[float, float, int, bool] | None] = [
        *(None if g is None else (*g, False) for g in gates),
        *((*g, True) for g in own_gates),
    ]
    for m, j, c, h, a, r, f, g in itertools.product(
        MODELS, jumps, priors, memories, ALERTS, RECOVER_SHARE, FOR_HOURS, stages
    ):
        if not (m in varied or (j is None and c is None)) or (h is not None and c is None):
            continue
        if g is None:
            out.append(Params(m, a, round(a * r, 3), f, j, c, h))
        elif g[0] < a and g[3]:
            out.append(
                Params(m, a, round(a * r, 3), f, j, c, h, g[0], gate_rise=g[2], gate_quantile=g[1])
            )
        elif g[0] < a:
            out.append(Params(m, a, round(a * r, 3), f, j, c, h, g[0], g[1], g[2]))
    return out


GRID = grid_of(JUMPS)


def questions(
    name: str,
    series: HourlySeries,
    jumps: Sequence[float | None] = JUMPS,
    priors: Sequence[float | None] = PRIORS,
    varied: Sequence[str] = MODELS,
    estimation: EtsEstimation = EngineSettings.ets_estimation,
    memories: Sequence[float | None] = MEMORIES,
) -> list[Question]:
    """Each candidate model's probability at both kinds of limit, for each ``burst_jump``
    and ``calibration_prior`` (answered by the engine with that setting), and the ETS
    band; ``estimation``: the replay's ``ets_estimation``."""
    asked = band_questions(series)
    for model, kind, jump, prior, memory in itertools.product(
        MODELS, LIMITS, jumps, priors, memories
    ):
        if model not in varied and (jump is not None or prior is not None):
            continue
        if memory is not None and prior is None:
            continue
        p = Params(model, 0.0, 0.0, 0, jump, prior, memory)
        limit = limit_series(series, kind)
        settings = replace(p.settings(), ets_estimation=estimation)
        # one memory per kind of limit (a rolling limit moves) and half-life, pooled
        # over the log
        track = None if memory is None else f"{kind} {memory}w"
        asked.append(
            Question(p.question(kind), limit, HORIZON, model, settings=settings, track=track)
        )
    return asked


def preset_name(p: Params) -> str:
    """How the report names a fixed setting."""
    memory = "" if p.memory is None else f" memory {p.memory}w"
    gate = "" if p.gate is None else f" gate {p.gate}:{p.gate_level}:{p.gate_rise}"
    if p.gate is not None and p.gate_quantile is not None:
        gate = f" own gate {p.gate}:q{p.gate_quantile}:{p.gate_rise}"
    return (
        f"{p.model} {p.alert}/{p.recover} for {p.for_hours}h jump {p.jump} prior {p.prior}"
        f"{memory}{gate}"
    )


def gate_hours(open_: FloatArray, limit: FloatArray, level: float, rise: int) -> BoolArray:
    """The two-stage rule's gate at each hour: the open count at least ``level`` x the
    limit and higher than ``rise`` hours earlier (closed in the first ``rise`` hours)."""
    gate = np.zeros(len(open_), dtype=bool)
    gate[rise:] = (open_[rise:] >= level * limit[rise:]) & (open_[rise:] > open_[:-rise])
    return gate


def own_rises(rep: Replay) -> FloatArray:
    """Per hour, the queue's own rises its forecast carries (as the forecasts table stores
    them: rounded to 3 decimals), one column per :data:`RISE_QUANTILES`; NaN before any
    is known."""
    rows = [
        [round(float(v), 3) for v in f.rises] if f.rises else [np.nan] * len(RISE_QUANTILES)
        for f in rep.forecasts
    ]
    return np.asarray(rows, dtype=np.float64).reshape(len(rows), len(RISE_QUANTILES))


def own_gate_hours(
    open_: FloatArray, limit: FloatArray, rises: FloatArray, quantile: float, rise: int
) -> BoolArray:
    """The gate from the queue's own history at each hour: the open count within the
    queue's own ``quantile`` rise (``rises``: :func:`own_rises`) of the limit and higher
    than ``rise`` hours earlier (closed in the first ``rise`` hours and while no rise is
    known)."""
    own = rises[:, RISE_QUANTILES.index(quantile)]
    floor = np.where(np.isfinite(own), limit - own, np.inf)
    gate = np.zeros(len(open_), dtype=bool)
    gate[rise:] = (open_[rise:] >= floor[rise:]) & (open_[rise:] > open_[:-rise])
    return gate


def the_gate(
    p: Params, open_: FloatArray, limit: FloatArray, rises: FloatArray
) -> BoolArray | None:
    """``p``'s gate at each hour (None without one)."""
    if p.gate is None:
        return None
    if p.gate_quantile is not None:
        return own_gate_hours(open_, limit, rises, p.gate_quantile, p.gate_rise)
    return gate_hours(open_, limit, p.gate_level, p.gate_rise)


def fast_alerting(
    prob: FloatArray, known: BoolArray, p: Params, gate: BoolArray | None = None
) -> BoolArray:
    """The forecast rule's firing hours (alerting/rules/forecast.py + alerting/state.py):
    hysteresis on the probability (at the lower probabilities where a two-stage rule's
    ``gate`` is open), ``for`` held, no data (insufficient history) keeps the state.
    The grid uses this; the reported figures come from the real path."""
    firing = np.zeros(len(prob), dtype=bool)
    alert, recover = p.thresholds(gate if gate is not None else np.zeros(len(prob), dtype=bool))
    if p.for_hours == 0:
        return _latched(prob, known, alert, recover)
    state, since = "inactive", 0
    for t, value in enumerate(prob):
        if not known[t]:
            firing[t] = state == "firing"
            continue
        breaching = value >= (recover[t] if state == "firing" else alert[t])
        if not breaching:
            state = "inactive"
        elif state == "inactive":
            state, since = ("firing" if p.for_hours == 0 else "pending"), t
        elif state == "pending" and t - since >= p.for_hours:
            state = "firing"
        firing[t] = state == "firing"
    return firing


def _latched(
    prob: FloatArray, known: BoolArray, alert: FloatArray, recover: FloatArray
) -> BoolArray:
    """Without ``for`` the rule is a latch (alert >= recover every hour): it fires from
    an hour at or above the alert probability until one below the recovery probability,
    and an hour without data changes nothing (:func:`fast_alerting`'s loop, vectorised)."""
    n = len(prob)
    event = np.full(n, -1, dtype=np.int8)
    event[known & ~(prob >= recover)] = 0
    event[known & (prob >= alert)] = 1
    last = np.maximum.accumulate(np.where(event >= 0, np.arange(n), -1))
    return np.asarray((last >= 0) & (event[np.maximum(last, 0)] == 1), dtype=bool)


def goal_gap(figures: Mapping[str, Any]) -> float:
    """How far one log's figures fall short of the goal: the relative shortfall on each
    line (recall, precision, median lead below the goal; false alarms and false
    alert-hours above it, each capped at 1), summed. 0 when every line is met."""
    gap = 0.0
    for name, goal in GOAL.items():
        gap += max(0.0, goal - (figures[name] or 0.0)) / goal
    for name, most in GOAL_MAX.items():
        gap += min(1.0, max(0.0, figures[name] - most) / most)
    return gap


def objective(figures: Sequence[Mapping[str, Any]]) -> float:
    """Higher is better: minus the mean :func:`goal_gap` over logs (each weighs the same)."""
    return -sum(goal_gap(f) for f in figures) / max(1, len(figures))


Scores = dict[str, dict[str, dict[str, EventScore]]]
"""log -> queue -> rule -> score."""


def grid_scores(
    series: Mapping[str, Mapping[str, HourlySeries]],
    replays: Mapping[str, Mapping[str, Replay]],
    kind: LimitKind,
    grid: Sequence[Params] = GRID,
    types: Mapping[str, Mapping[str, str]] | None = None,
    presets: Sequence[Params] = PRESETS[:3],
) -> dict[Params, dict[str, EventScore]]:
    """Per grid point (and preset), per log, the summed score of the fast rule; with
    ``types`` (log -> queue -> type), also per ``"<log>:<type>"``."""
    points = list(dict.fromkeys([*grid, *presets]))  # a preset may be a grid point
    out: dict[Params, dict[str, EventScore]] = {p: {} for p in points}
    for log, queues in series.items():
        for name, s in queues.items():
            groups = [log] if types is None else [log, f"{log}:{types[log][name]}"]
            rep = replays[log][name]
            known = np.asarray([f.status != "insufficient_history" for f in rep.forecasts])
            limit = limit_series(s, kind)
            rises = own_rises(rep)
            gates: dict[tuple[float, int, float | None], BoolArray | None] = {}
            for p in points:
                gate = None
                if p.gate is not None:
                    key = (p.gate_level, p.gate_rise, p.gate_quantile)
                    if key not in gates:
                        gates[key] = the_gate(p, s.open, limit, rises)
                    gate = gates[key]
                flags = fast_alerting(rep.probabilities[p.question(kind)], known, p, gate)
                got = score_queue(s.open, limit, {"rule": flags}, TEST_START)["rule"]
                for group in groups:
                    out[p].setdefault(group, EventScore()).add(got)
    return out


def compared(
    scores: Mapping[Params, Mapping[str, EventScore]],
    types: Mapping[str, Mapping[str, str]],
    grids: Mapping[str, Sequence[Params]],
) -> dict[str, dict[str, Any]]:
    """Per grid (name -> points), the held-out figures per queue type when the folds
    choose from that grid: each log scored with the point chosen on the other two (the
    fast rule, which :func:`held_out` checks against the real evaluation); and the
    point that grid gives when chosen on every log (what would ship from it)."""
    out: dict[str, dict[str, Any]] = {}
    for label, grid in grids.items():
        by_type: dict[str, EventScore] = {}
        chosen = {}
        for log in types:
            point = choose(scores, [other for other in types if other != log], grid)
            chosen[log] = point.__dict__
            for t in sorted(set(types[log].values())):
                by_type.setdefault(t, EventScore()).add(scores[point][f"{log}:{t}"])
        out[label] = {
            "chosen": chosen,
            "chosen_on_all": choose(scores, list(types), grid).__dict__,
            "held_out_by_queue_type": {t: s.as_dict() for t, s in sorted(by_type.items())},
        }
    return out


def choose(
    scores: Mapping[Params, Mapping[str, EventScore]],
    logs: Sequence[str],
    grid: Sequence[Params] = GRID,
) -> Params:
    """The grid point with the best objective over ``logs``."""
    return max(grid, key=lambda p: objective([scores[p][log].as_dict() for log in logs]))


def queue_type(log: str, series: HourlySeries) -> str:
    """``sparse`` (the Helpdesk: a few tickets a day), ``bursty`` or ``steady``, from the
    queue's first three weeks only (:data:`BURSTY_JUMP`)."""
    if log == "helpdesk":
        return "sparse"
    before = series.open[:TEST_START]
    jump = float(np.max(before[HORIZON:] - before[:-HORIZON]))
    limit = float(np.percentile(before, 90))
    return "bursty" if limit > 0 and jump >= BURSTY_JUMP * limit else "steady"


def held_out(
    log: str,
    params: Params,
    series: Mapping[str, HourlySeries],
    replays: Mapping[str, Replay],
    kind: LimitKind,
) -> dict[str, dict[str, EventScore]]:
    """Per queue, the anchors and the chosen rule (through the real rule evaluation)."""
    out: dict[str, dict[str, EventScore]] = {}
    for name, s in series.items():
        rep = replays[name]
        limit = limit_series(s, kind)
        flags = anchor_flags(s.open, rep, kind, limit)
        rule = params.rule(float(limit[TEST_START]))
        real, _ = timeline(rule, key_of(f"{log}/{name}"), rep, params.question(kind), limit)
        known = np.asarray([f.status != "insufficient_history" for f in rep.forecasts])
        gate = the_gate(params, s.open, limit, own_rises(rep))
        fast = fast_alerting(rep.probabilities[params.question(kind)], known, params, gate)
        if not np.array_equal(real, fast):
            raise AssertionError(f"{log}/{name}: the grid's rule differs from the real one")
        flags["forecast rule (chosen without this log)"] = real
        out[name] = score_queue(s.open, limit, flags, TEST_START)
    return out


def first_hours(queues: Mapping[str, HourlySeries], hours: int | None) -> dict[str, HourlySeries]:
    """Each queue's first ``hours`` hours (all of them when None)."""
    return {q: s if hours is None else s.head(hours) for q, s in queues.items()}


def replayed(
    series: Mapping[str, Mapping[str, HourlySeries]], args: argparse.Namespace
) -> dict[str, dict[str, Replay]]:
    """Every log's replays: read from ``--replay-cache DIR/<log>.pkl`` when there, else
    every queue of every log not cached replayed in one pool of ``--workers`` processes,
    longest series first (the Helpdesk's two long queues do not wait for the others);
    each log's cache is written as soon as its last queue is done. The replays are
    :func:`forecasts.evaluation.replay.replay_queue`'s, as ``replay_all`` makes them."""
    cache = {log: args.replay_cache / f"{log}.pkl" for log in series} if args.replay_cache else {}
    out: dict[str, dict[str, Replay]] = {}
    for log, path in cache.items():
        if path.exists():
            out[log] = pickle.loads(path.read_bytes())
    todo = sorted(
        ((log, q) for log, queues in series.items() if log not in out for q in queues),
        key=lambda lq: -len(series[lq[0]][lq[1]]),
    )
    done: dict[str, dict[str, Replay]] = {}
    started = time.perf_counter()

    def finished(log: str, queue: str, rep: Replay) -> None:
        done.setdefault(log, {})[queue] = rep
        print(
            f"replayed {log}/{queue} ({sum(map(len, done.values()))}/{len(todo)}) "
            f"at {time.perf_counter() - started:.0f} s",
            file=sys.stderr,
            flush=True,
        )
        if len(done[log]) == len(series[log]):
            out[log] = {q: done[log][q] for q in series[log]}
            pool_memories(out[log])  # the log's queues are one daemon's
            if log in cache:
                cache[log].parent.mkdir(parents=True, exist_ok=True)
                cache[log].write_bytes(pickle.dumps(out[log]))

    asked = functools.partial(
        questions,
        jumps=args.jumps,
        priors=args.priors,
        varied=args.varied,
        estimation=args.ets_estimation,
        memories=args.memories,
    )
    settings = EngineSettings(ets_estimation=args.ets_estimation)
    if args.workers <= 1:
        for log, q in todo:
            s = series[log][q]
            finished(log, q, replay_queue(q, s, settings, asked(q, s)))
    else:
        with ProcessPoolExecutor(max_workers=args.workers) as pool:
            futures = {
                pool.submit(replay_queue, q, series[log][q], settings, asked(q, series[log][q])): (
                    log,
                    q,
                )
                for log, q in todo
            }
            for future in as_completed(futures):
                finished(*futures[future], future.result())
    return {log: out[log] for log in series}


def cpu_seconds() -> float:
    """CPU time of this process and of its finished worker processes so far."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def main(argv: list[str] | None = None) -> None:
    """Replay every log, cross-validate the rule, print and write the held-out figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--replay-cache", type=Path, metavar="DIR", help="pickles of the replays to reuse/write"
    )
    parser.add_argument(
        "--jumps",
        type=lambda text: [None, *(float(j) for j in text.split(","))],
        default=list(JUMPS),
        metavar="J,J",
        help="burst_jump values the folds may also choose (e.g. 0.1,0.2,0.3; slower replays)",
    )
    parser.add_argument(
        "--priors",
        type=lambda text: [None, *(float(c) for c in text.split(","))],
        default=list(PRIORS),
        metavar="C,C",
        help="calibration_prior values the folds may also choose (e.g. 10,40; slower replays)",
    )
    parser.add_argument(
        "--memories",
        type=lambda text: [None, *(float(h) for h in text.split(","))],
        default=list(MEMORIES),
        metavar="W,W",
        help="calibration memory half-lives in weeks the folds may also choose, with each"
        " --priors value (e.g. 4,8; slower replays)",
    )
    parser.add_argument(
        "--varied",
        type=lambda text: text.split(","),
        default=list(MODELS),
        metavar="MODEL,MODEL",
        help="models asked with the --jumps and --priors variants (default: all)",
    )
    parser.add_argument(
        "--hours",
        type=lambda text: {k: int(v) for k, v in (kv.split("=") for kv in text.split(","))},
        default={},
        metavar="LOG=N,LOG=N",
        help="score only the first N hours of a log's series (a cheaper, smaller run)",
    )
    parser.add_argument(
        "--logs",
        type=lambda text: text.split(","),
        metavar="LOG,LOG",
        help="only these logs (a preview: with two, each fold is chosen on one log)",
    )
    parser.add_argument(
        "--ets-estimation",
        choices=get_args(EtsEstimation),
        default=EngineSettings.ets_estimation,
        help="forecasts.ets_estimation of the replays (default: the daemon's; keep"
        " --replay-cache directories apart per value)",
    )
    parser.add_argument(
        "--gates",
        type=lambda text: [
            None,
            *(
                (float(g), float(f), int(k))
                for g, f, k in (item.split(":") for item in text.split(","))
            ),
        ],
        default=list(GATES),
        metavar="G:F:K,G:F:K",
        help="two-stage rules the folds may also choose: fire at probability G while the"
        " open count is >= F x the limit and higher than K hours earlier",
    )
    parser.add_argument(
        "--own-gates",
        type=lambda text: [
            (float(g), float(q), int(k))
            for g, q, k in (item.split(":") for item in text.split(","))
        ],
        default=list(OWN_GATES),
        metavar="G:Q:K,G:Q:K",
        help="two-stage rules with the gate from the queue's own history the folds may also"
        " choose: fire at probability G while the open count is within the queue's own"
        f" Q-quantile 6-hour rise of the limit (Q in {RISE_QUANTILES}) and higher than K"
        " hours earlier",
    )
    args = parser.parse_args(argv)
    candidates = grid_of(
        args.jumps, args.priors, args.varied, args.memories, args.gates, args.own_gates
    )
    started = time.perf_counter()
    logs = args.logs or list(LOGS)
    series = {log: first_hours(to_series(LOGS[log]()), args.hours.get(log)) for log in logs}
    presets = [
        p
        for p in PRESETS
        if p.jump in args.jumps
        and p.prior in args.priors
        and p.memory in args.memories
        and (p.model in args.varied or (p.jump is None and p.prior is None))
    ]
    presets += [  # the own-history gates on the first two presets, as fixed settings
        p
        for p in candidates
        if p.gate_quantile is not None
        and replace(p, gate=None, gate_rise=3, gate_quantile=None) in PRESETS[:2]
    ]
    replays = replayed(series, args)
    replay_cpu = cpu_seconds()
    types = {
        log: {q: queue_type(log, s) for q, s in queues.items()} for log, queues in series.items()
    }
    report: dict[str, Any] = {
        "queue_types": types,
        "first_hours_only": args.hours,
        "ets_estimation": args.ets_estimation,
    }
    if args.hours:
        print(f"scoring only the first hours of: {args.hours}")
    for kind in LIMITS:
        grid = grid_scores(series, replays, kind, candidates, types, presets)
        folds, by_type = {}, {}
        for log in logs:
            train = [other for other in logs if other != log]
            chosen = choose(grid, train, candidates)
            per_queue = held_out(log, chosen, series[log], replays[log], kind)
            folds[log] = {
                "chosen_on": train,
                "params": chosen.__dict__,
                "scores": summed(per_queue),
            }
            for name, scores in per_queue.items():
                by_type.setdefault(types[log][name], {})[f"{log}/{name}"] = scores
        report[kind] = {
            "held_out": folds,
            "held_out_by_queue_type": {t: summed(q) for t, q in sorted(by_type.items())},
            "queues_by_type": {t: len(q) for t, q in sorted(by_type.items())},
            "chosen_on_all": choose(grid, logs, candidates).__dict__,
            "grids_compared": compared(
                grid,
                types,
                {
                    "plain (no calibration, no widening)": [
                        p
                        for p in candidates
                        if p.jump is None and p.prior is None and p.gate is None
                    ],
                    "plain + widening": [
                        p for p in candidates if p.prior is None and p.gate is None
                    ],
                    "plain + calibration": [
                        p
                        for p in candidates
                        if p.jump is None and p.memory is None and p.gate is None
                    ],
                    "plain + calibration memory": [
                        p
                        for p in candidates
                        if p.jump is None
                        and (p.prior is None or p.memory is not None)
                        and p.gate is None
                    ],
                    "plain + two-stage gate": [
                        p
                        for p in candidates
                        if p.jump is None and p.prior is None and p.gate_quantile is None
                    ],
                    "plain + own-history gate": [
                        p
                        for p in candidates
                        if p.jump is None
                        and p.prior is None
                        and (p.gate is None or p.gate_quantile is not None)
                    ],
                    "the whole grid": candidates,
                },
            ),
            "presets": {
                preset_name(p): {log: grid[p][log].as_dict() for log in logs} for p in presets
            },
        }
    report["seconds"] = time.perf_counter() - started
    report["cpu_seconds"] = {"replays": replay_cpu, "all": cpu_seconds()}
    print_report(report, sys.stdout)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "forecasts_crossval.json"
    out.write_text(json.dumps(report, indent=2, default=float))
    print(
        f"wrote {out} in {report['seconds']:.0f} s "
        f"({report['cpu_seconds']['all']:.0f} s CPU, replays {replay_cpu:.0f} s)"
    )


def print_report(report: Mapping[str, Any], out: Any) -> None:
    """One table per kind of limit and held-out log, then per queue type."""
    for kind in LIMITS:
        tables = [
            (
                f"held out: {log} (rule {fold['params']} chosen on "
                f"{' + '.join(fold['chosen_on'])})",
                fold["scores"],
            )
            for log, fold in report[kind]["held_out"].items()
        ]
        tables += [
            (f"held out, {t} queues ({report[kind]['queues_by_type'][t]})", scores)
            for t, scores in report[kind]["held_out_by_queue_type"].items()
        ]
        for title, scores in tables:
            out.write(f"\n{kind} limit, {title}\n")
            out.write(f"{'rule':62s} {SCORE_HEADER}\n")
            for name, r in scores.items():
                out.write(score_row(name, r) + "\n")
        out.write(f"\n{kind} limit, held out per queue type, by the grid the folds choose from:\n")
        for label, result in report[kind]["grids_compared"].items():
            out.write(f"  {label}: chosen {result['chosen']}\n")
            out.write(f"  {label}: chosen on every log {result['chosen_on_all']}\n")
            for t, r in result["held_out_by_queue_type"].items():
                out.write(score_row(f"    {t}", r) + "\n")
        out.write(
            f"\n{kind} limit, chosen on every log of the run: {report[kind]['chosen_on_all']}\n"
        )
        out.write(f"{kind} limit, fixed settings on each log (nothing chosen):\n")
        for preset, per_log in report[kind]["presets"].items():
            for log, r in per_log.items():
                out.write(score_row(f"  {preset} on {log}", r) + "\n")


if __name__ == "__main__":
    main()
