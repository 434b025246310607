"""``backlog-monitor backtest``: the daemon's forecasting and forecast rules, replayed.

Reads hourly series from a CSV (``timestamp[,queue],open,created,resolved``) or from
the store's hourly rollups and replays the forecast engine hour by hour exactly as
the forecast job runs it (:mod:`forecasts.evaluation.replay`). Each hour's forecast
row is built by the job's own :func:`~monitor.forecasting.record` and evaluated by
the real alerting engine, so a forecast rule's alert timeline here is the daemon's.

Reported: MASE, MAE and band coverage at 1/6/24 h per model; as events
(forecasting.md's protocol), the recommended forecast rule (:data:`RULE`) against
the anchors' rules at the p90 of each queue's first three weeks and, as a
sensitivity check, at a rolling limit; with ``--config``, the engine settings of its
``forecasts:`` section and the alert timeline of each of its forecast rules.
"""

from __future__ import annotations

import csv
import json
import sys
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from alerting import engine as alert_engine
from alerting.rules import EvalContext, ForecastRule
from alerting.state import AlertInstance, AlertState
from config.settings import ForecastingSettings
from forecasts.engine import EngineSettings
from forecasts.evaluation.events import BoolArray
from forecasts.evaluation.replay import Question, Replay, replay_all
from forecasts.evaluation.report import (
    LIMITS,
    SCORE_HEADER,
    TEST_START,
    LimitKind,
    acc_keys,
    accuracy_report,
    anchor_flags,
    band_questions,
    limit_series,
    score_queue,
    score_row,
    summed,
)
from forecasts.outputs import Outputs
from forecasts.types import FloatArray, HourlySeries
from monitor.charts import figure_class, write_charts
from monitor.errors import ConfigError
from monitor.forecasting import carrying, engine_settings, hourly, record
from monitor.store import history
from monitor.store.engine import open_store
from monitor.store.forecasting import view_of
from monitor.tools import ProgressBar

Key = tuple[str, str]
RULE: dict[str, Any] = {
    "name": "BreachForecast",
    "kind": "forecast",
    "horizon": "6h",
    "min_probability": 0.3,
    "recover_probability": 0.15,
}
"""The recommended forecast rule (config/examples/full.yaml), less its threshold: the
warning model's probability, parameters chosen by ``benchmarks.forecasts.crossval`` on
all three real logs (docs/forecasting.md reports its held-out figures)."""


def protocol_rule(limit: float, rule: Mapping[str, Any] = RULE) -> ForecastRule:
    """The recommended forecast rule (or ``rule``: its fields less the threshold) at
    ``limit``."""
    return ForecastRule.model_validate({**rule, "threshold": limit})


def steps_of(rule: ForecastRule) -> int:
    """The rule's horizon in hours."""
    return max(1, int(rule.horizon / timedelta(hours=1)))


def timeline(
    rule: ForecastRule, key: Key, rep: Replay, question: str, limits: FloatArray
) -> tuple[BoolArray, list[tuple[datetime, str]]]:
    """The rule's alerting hours and transitions on one replayed queue, as the daemon has them.

    Each hour, the forecasts-table row the job would store (:func:`record`) is read back
    as the rule reads it (:func:`view_of`) and evaluated by the alerting engine at the
    row's ``made_at``, with the state carried between hours as the store does.

    Args:
        rule: the forecast rule.
        key: the queue's (source, queue).
        rep: the queue's replay.
        question: the name of the replay's question that asked this rule's probability.
        limits: the rule's threshold at each hour (a rolling limit changes weekly).
    """
    steps = steps_of(rule)
    instances: dict[str, AlertInstance] = {}
    firing = np.zeros(len(rep.forecasts), dtype=bool)
    changes: list[tuple[datetime, str]] = []
    variants: dict[float, ForecastRule] = {}
    for t, forecast in enumerate(rep.forecasts):
        limit = float(limits[t])
        current = variants.setdefault(limit, rule.model_copy(update={"threshold": limit}))
        chance = (float(rep.probabilities[question][t]), rep.breach_models[question][t])
        row = record(
            Outputs(forecast, {(limit, steps): chance}, None, None), [(rule.name, (limit, steps))]
        )
        now = row["made_at"]
        context = EvalContext(forecasts={key: view_of(row)})
        result = alert_engine.evaluate([current], {}, instances, {}, [], now, "", context)
        instances.update({i.fingerprint: i for i in result.changed})
        firing[t] = any(i.state is AlertState.FIRING for i in instances.values())
        changes += [(now, transition.value) for _, transition in result.transitions]
    return firing, changes


def read_csv(path: Path) -> dict[str, HourlySeries]:
    """Series per queue from an hourly CSV; a file without a queue column is queue ``all``."""
    rows: dict[str, list[tuple[np.datetime64, float, float, float]]] = defaultdict(list)
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            for line, row in enumerate(csv.DictReader(handle), start=2):
                try:
                    rows[row.get("queue") or "all"].append(
                        (
                            np.datetime64(row["timestamp"].replace(" ", "T"), "h"),
                            float(row["open"]),
                            float(row.get("created") or 0),
                            float(row.get("resolved") or 0),
                        )
                    )
                except (KeyError, ValueError) as exc:
                    raise ConfigError([(f"line {line}", f"bad row: {exc}")], str(path)) from None
    except OSError as exc:
        raise ConfigError([("", f"cannot read {path}: {exc.strerror}")], str(path)) from None
    out = {}
    for queue, points in rows.items():
        points.sort()
        stamps, open_, created, resolved = zip(*points, strict=True)
        out[queue] = HourlySeries.from_arrays(stamps, open_, created, resolved)
    return out


def read_store(url: str) -> dict[str, HourlySeries]:
    """Series per ``source/queue`` from the store's hourly rollups (the job's names)."""
    engine = open_store(url)
    try:
        with engine.connect() as conn:
            rollups = history.rollup_series(
                conn, datetime(1970, 1, 1, tzinfo=UTC), datetime.now(UTC)
            )
    finally:
        engine.dispose()
    rebuilt = sum(bool(r.get("backfilled")) for rows in rollups.values() for r in rows)
    if rebuilt:
        total = sum(len(rows) for rows in rollups.values())
        sys.stderr.write(f"note: {rebuilt} of {total} hourly row(s) reconstructed by backfill\n")
    return {
        f"{source}/{queue}": hourly(rows, rows[-1]["hour"] + timedelta(hours=1))
        for (source, queue), rows in rollups.items()
    }


def key_of(name: str) -> Key:
    """The (source, queue) of a replayed queue name (``source/queue``, or a CSV queue)."""
    source, _, queue = name.rpartition("/")
    return source, queue


def questions_for(
    name: str, series: HourlySeries, configured: Sequence[ForecastRule], scored: bool = True
) -> list[Question]:
    """What each queue's replay records: the protocol's rule and anchors (when the queue
    is ``scored``), and each configured forecast rule's probability at its threshold."""
    asked = band_questions(series) if scored else []
    for kind in LIMITS if scored else ():
        asked.append(
            Question(
                f"rule/{kind}",
                limit_series(series, kind),
                steps_of(protocol_rule(0)),
                track=f"protocol {kind}",  # its own calibration memory, pooled apart
            )
        )
    key = key_of(name)
    for rule in configured:
        if rule.selects(*key):
            limit, _ = rule.limits(rule.labels_for(*key))
            asked.append(
                Question(f"config/{rule.name}", np.full(len(series), limit), steps_of(rule))
            )
    return asked


def early_warning(
    series: Mapping[str, HourlySeries],
    replays: Mapping[str, Replay],
    kind: LimitKind,
    scored_rule: Mapping[str, Any] = RULE,
) -> tuple[dict[str, dict[str, Any]], dict[str, BoolArray]]:
    """Event scores per rule over every queue at one kind of limit, and the rule's hours
    (``scored_rule``: the forecast rule scored, :data:`RULE` by default)."""
    scores = {}
    alerting = {}
    for name, rep in replays.items():
        actual = series[name].open
        limits = limit_series(series[name], kind)
        rule = protocol_rule(float(limits[TEST_START]), scored_rule)
        flags = anchor_flags(actual, rep, kind, limits)
        alerting[name], _ = timeline(rule, key_of(name), rep, f"rule/{kind}", limits)
        flags["forecast rule (" + describe(rule) + ")"] = alerting[name]
        scores[name] = score_queue(actual, limits, flags, TEST_START)
    return summed(scores), alerting


def describe(rule: ForecastRule) -> str:
    """The forecast rule's parameters in a few words."""
    text = f"P(cross in {steps_of(rule)}h) >= {rule.min_probability:g}"
    if rule.recover_probability is not None:
        text += f", recover < {rule.recover_probability:g}"
    if rule.for_:
        text += f", for {int(rule.for_ / timedelta(hours=1))}h"
    if rule.gate_probability is not None:
        rise = int(rule.gate_rise / timedelta(hours=1))
        text += (
            f"; >= {rule.gate_probability:g} while open >= {rule.gate_level:g} L"
            f" and rising over {rise}h"
        )
    return text


def configured_timelines(
    replays: Mapping[str, Replay], configured: Sequence[ForecastRule]
) -> dict[str, list[dict[str, str]]]:
    """Per configured forecast rule, its transitions per queue (``source/queue``)."""
    out: dict[str, list[dict[str, str]]] = {}
    for rule in configured:
        for name, rep in replays.items():
            question = f"config/{rule.name}"
            if question not in rep.probabilities:
                continue
            limits = np.full(len(rep.forecasts), rule.limits(rule.labels_for(*key_of(name)))[0])
            _, changes = timeline(rule, key_of(name), rep, question, limits)
            out.setdefault(rule.name, []).extend(
                {"queue": name, "at": at.isoformat(), "transition": what} for at, what in changes
            )
    return out


def settings_of(config: Path | None) -> tuple[EngineSettings, list[ForecastRule]]:
    """The engine settings and the forecast rules of a configuration (defaults without)."""
    settings, rules, _ = configuration(config)
    return settings, rules


def configuration(
    config: Path | None,
) -> tuple[EngineSettings, list[ForecastRule], dict[str, str]]:
    """:func:`settings_of` and the queues the forecast job forecasts (``forecasts.match``)."""
    if config is None:
        return carrying(engine_settings(ForecastingSettings()), []), [], {}
    from monitor.tools import load_rules, read_yaml

    data = read_yaml(config)
    forecasting = ForecastingSettings.model_validate(data.get("forecasts") or {})
    rules = [r for r in load_rules(config) if isinstance(r, ForecastRule)]
    return carrying(engine_settings(forecasting), rules), rules, dict(forecasting.match)


def forecast_by_job(name: str, match: Mapping[str, str]) -> bool:
    """Whether the forecast job forecasts the queue ``source/queue`` (``forecasts.match``)."""
    source, queue = key_of(name)
    wanted = {"source": source, "queue": queue}
    return all(wanted.get(k) == v for k, v in match.items())


def run(
    series: dict[str, HourlySeries],
    output: Path | None,
    workers: int = 2,
    progress: bool | None = None,
    out: TextIO | None = None,
    charts: Path | None = None,
    config: Path | None = None,
) -> int:
    """Replay, score, print the tables, write the JSON report and, optionally, the charts.

    With ``charts``, matplotlib must be installed: checked before the (long) replay,
    :class:`~monitor.errors.MissingExtra` otherwise.
    """
    out = out or sys.stdout
    if charts is not None:
        figure_class()
    settings, configured, match = configuration(config)
    usable = {q: s for q, s in series.items() if len(s) > TEST_START + 24}
    for queue in sorted(set(series) - set(usable)):
        out.write(
            f"{queue}: insufficient_history for the scores ({len(series[queue])} h; "
            f"need more than {TEST_START + 24})\n"
        )
    if not usable and not configured:
        return 1
    show = sys.stderr.isatty() if progress is None else progress
    bar = ProgressBar(sys.stderr, "backtesting queues") if show else None

    def asked(name: str, s: HourlySeries) -> list[Question]:
        # as the daemon: its rules are asked only of the queues its forecast job forecasts
        rules = configured if forecast_by_job(name, match) else []
        return questions_for(name, s, rules, scored=name in usable)

    replayed = series if configured else usable
    replays = replay_all(replayed, settings, asked, workers, bar)
    report, alerting = build_report(usable, replays, configured)
    print_report(report, out)
    if output is not None:
        output.write_text(json.dumps(report, indent=2, default=float), encoding="utf-8")
        out.write(f"report written to {output}\n")
    if charts is not None:
        written = write_charts(usable, replays, alerting, charts)
        out.write(f"{len(written)} chart{'s' if len(written) != 1 else ''} written to {charts}\n")
    return 0


def build_report(
    series: Mapping[str, HourlySeries],
    replays: Mapping[str, Replay],
    configured: Sequence[ForecastRule] = (),
    scored_rule: Mapping[str, Any] = RULE,
) -> tuple[dict[str, Any], dict[str, BoolArray]]:
    """The report, and the recommended rule's alerting hours per queue (fixed limit).

    ``series`` holds the queues long enough to score; ``replays`` may hold more (their
    configured rules' timelines are reported too). ``scored_rule``: the forecast rule
    scored against the anchors (:data:`RULE` by default; its horizon must be the
    replay's, 6 h).
    """
    scored = {q: r for q, r in replays.items() if q in series}
    fixed, alerting = early_warning(series, scored, "fixed", scored_rule)
    rolling, _ = early_warning(series, scored, "rolling", scored_rule)
    report = {
        "queues": list(series),
        "accuracy": accuracy_report(series, scored),
        "early_warning": fixed,
        "early_warning_rolling_limit": rolling,
        "alerts": configured_timelines(replays, configured),
        "warnings": {q: r.warnings for q, r in replays.items()},
    }
    return report, alerting


def print_report(report: dict[str, Any], out: TextIO) -> None:
    """The accuracy table, then one early-warning table per kind of limit."""
    out.write(f"{'model':16s} " + " ".join(f"{k:>13s}" for k in acc_keys()) + "\n")
    for model, row in report["accuracy"]["overall"].items():
        out.write(f"{model:16s} " + " ".join(f"{row[k]:13.3f}" for k in acc_keys()) + "\n")
    for kind in LIMITS:
        key = "early_warning" if kind == "fixed" else "early_warning_rolling_limit"
        out.write(f"\n{kind + ' limit':62s} {SCORE_HEADER}\n")
        for name, r in report[key].items():
            out.write(score_row(name, r) + "\n")
    for rule, changes in report.get("alerts", {}).items():
        out.write(f"\n{rule}: {len(changes)} transitions\n")
        for change in changes:
            out.write(f"  {change['at']}  {change['queue']}  {change['transition']}\n")
