"""I/O for the rule tools: ``test-rules``, ``export-rules`` and ``backtest-rules``.

The logic is pure and lives in :mod:`alerting.ruletest`, :mod:`alerting.export` and
:mod:`alerting.backtest`; this module reads files, the CSV and the store, and prints.
Every function returns the command's exit code.
"""

from __future__ import annotations

import csv
import itertools
import os
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

import sqlalchemy as sa
import yaml
from pydantic import TypeAdapter, ValidationError

from alerting.backtest import format_table, replay, rows_from_csv
from alerting.export import export_rules as export
from alerting.rules import Rule, RuleBase
from alerting.rules.common import snapshot_row
from alerting.ruletest import TestFile, format_failure, run_group
from config.durations import parse_duration
from config.loader import format_errors
from config.settings import StoreSettings
from monitor.errors import ConfigError, StoreError
from monitor.store import history

_RULES = TypeAdapter(list[Rule])


# -- reading configuration -----------------------------------------------------------------


def read_yaml(path: Path) -> dict[str, Any]:
    """A YAML mapping from a file.

    Raises:
        ConfigError: the file cannot be read or is not a YAML mapping.
    """
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError([("", f"cannot read {path}: {exc.strerror}")], str(path)) from None
    except yaml.YAMLError as exc:
        raise ConfigError([("", f"invalid YAML: {exc}")], str(path)) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError([("", "the top level must be a mapping")], str(path))
    return data


def load_rules(path: Path) -> list[RuleBase]:
    """Only the ``rules:`` of a configuration file (sources and secrets are not needed).

    Raises:
        ConfigError: unreadable file or invalid rules, every problem with its path.
    """
    data = read_yaml(path)
    try:
        parsed = _RULES.validate_python(data.get("rules") or [])
    except ValidationError as err:
        problems = [(f"rules -> {p}" if p else "rules", m) for p, m in format_errors(err)]
        raise ConfigError(problems, str(path)) from None
    rules: list[RuleBase] = [*parsed]
    return rules


def _poll_interval(data: dict[str, Any]) -> timedelta:
    """The shortest poll interval of the configured sources (1m when there are none)."""
    intervals = []
    for source in data.get("sources") or []:
        if isinstance(source, dict) and source.get("interval") is not None:
            try:
                intervals.append(parse_duration(source["interval"]))
            except ValueError:
                continue
    return min(intervals, default=timedelta(minutes=1))


# -- test-rules ----------------------------------------------------------------------------


def test_rules(paths: Sequence[Path], out: TextIO | None = None) -> int:
    """Run promtool-style test files; 0 when every test passed, 1 otherwise."""
    out = out or sys.stdout
    failed = False
    for path in paths:
        out.write(f"Unit Testing:  {path}\n")
        problems = _test_file(path)
        if problems:
            failed = True
            out.write("  FAILED:\n" + "\n".join(problems) + "\n\n")
        else:
            out.write("  SUCCESS\n\n")
    return 1 if failed else 0


def _test_file(path: Path) -> list[str]:
    try:
        spec = TestFile.model_validate(read_yaml(path))
    except ConfigError as err:
        return [f"    {err}"]
    except ValidationError as err:
        return [f"    {where}: {msg}" for where, msg in format_errors(err)]
    rules: list[RuleBase] = []
    for name in spec.rule_files:
        try:
            rules += load_rules(path.parent / name)
        except ConfigError as err:
            return [f"    {line}" for line in str(err).splitlines()]
    problems = []
    for i, group in enumerate(spec.tests):
        label = group.name or f"tests[{i}]"
        try:
            result = run_group(group, rules, spec.evaluation_interval, label)
        except ValueError as err:
            problems.append(f"    name: {label}\n        {err}")
            continue
        problems += [format_failure(f) for f in result.failures]
    return problems


# -- export-rules --------------------------------------------------------------------------


def export_rules(config: Path, output: Path | None, out: TextIO | None = None) -> int:
    """Write the Prometheus rules file (stdout without ``output``); skipped rules on stderr."""
    out = out or sys.stdout
    data = read_yaml(config)
    exported = export(load_rules(config), _poll_interval(data), source=str(config))
    if output is None:
        out.write(exported.text)
    else:
        output.write_text(exported.text, encoding="utf-8")
        sys.stderr.write(f"wrote {len(exported.rules)} rule(s) to {output}\n")
    for name, why in exported.skipped:
        sys.stderr.write(f"skipped {name}: {why}\n")
    return 0


# -- backtest-rules ------------------------------------------------------------------------


class ProgressBar:
    """A one-line progress bar on a stream, redrawn at most ten times a second."""

    def __init__(self, stream: TextIO, label: str = "replaying", width: int = 30) -> None:
        self.stream, self.label, self.width = stream, label, width
        self._drawn = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - self._drawn < 0.1:
            return
        self._drawn = now
        share = done / total if total else 1.0
        filled = int(share * self.width)
        bar = "#" * filled + "." * (self.width - filled)
        self.stream.write(f"\r{self.label} [{bar}] {share:4.0%} {done}/{total}")
        if done >= total:
            self.stream.write("\n")
        self.stream.flush()


def backtest_rules(
    config: Path,
    csv_path: Path | None,
    start: datetime | None,
    end: datetime | None,
    step: timedelta | None = None,
    progress: bool | None = None,
    out: TextIO | None = None,
) -> int:
    """Replay a CSV (``csv_path``) or the store (None) through the configured rules.

    ``progress`` None shows the bar only when stderr is a terminal.
    """
    out = out or sys.stdout
    data = read_yaml(config)
    rules = load_rules(config)
    if csv_path is not None:
        series = _csv_series(csv_path)
    else:
        series = _store_series(data, start, end, rules)
    stamps = sorted(r["ts"] for rows in series.values() for r in rows)
    if not stamps:
        sys.stderr.write("no data to replay in that range\n")
        return 1
    first = _utc(start) if start is not None else stamps[0]
    last = _utc(end) if end is not None else stamps[-1]
    if step is None:
        step = _spacing(stamps) if csv_path is not None else _eval_interval(data)
    for rule in rules:
        if {"status", "priority"} & {*rule.match, *rule.match_re} and csv_path is not None:
            sys.stderr.write(f"note: {rule.name} matches status/priority, which the CSV lacks\n")
    show = sys.stderr.isatty() if progress is None else progress
    bar = ProgressBar(sys.stderr) if show else None
    result = replay(rules, series, first, last, step, bar)
    out.write(format_table(result, rules) + "\n")
    return 0


def _csv_series(path: Path) -> dict[tuple[str, str], list[dict[str, Any]]]:
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            return rows_from_csv(csv.DictReader(handle))
    except OSError as exc:
        raise ConfigError([("", f"cannot read {path}: {exc.strerror}")], str(path)) from None
    except ValueError as exc:
        raise ConfigError([("", str(exc))], str(path)) from None


def _store_series(
    data: dict[str, Any],
    start: datetime | None,
    end: datetime | None,
    rules: Sequence[RuleBase],
) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Snapshot rows from the store, read only (one SELECT; nothing is written)."""
    url = (
        os.environ.get("BACKLOG_MONITOR_STORE__URL")
        or StoreSettings(**(data.get("store") or {})).url
    )
    horizon = max([getattr(r, "window", timedelta(0)) for r in rules] + [timedelta(minutes=15)])
    begin = _utc(start) - horizon if start is not None else datetime(1970, 1, 1, tzinfo=UTC)
    until = _utc(end) if end is not None else datetime.now(UTC)
    engine = _read_only_engine(url)
    try:
        with engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                conn = conn.execution_options(postgresql_readonly=True)
            rows = history.series(conn, begin, until)
            hourly = history.rollup_series(conn, begin - timedelta(hours=1), until)
    except sa.exc.SQLAlchemyError as exc:
        raise StoreError(f"cannot read the history store: {exc}") from None
    finally:
        engine.dispose()
    raw = {k: [{**r, "ts": _utc(r["ts"])} for r in v] for k, v in rows.items()}
    return with_rollups(raw, hourly, until)


def with_rollups(
    raw: dict[tuple[str, str], list[dict[str, Any]]],
    hourly: dict[tuple[str, str], list[Any]],
    until: datetime,
    err: TextIO | None = None,
) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Raw rows, preceded by the hourly rollups of the hours before each queue's first raw
    row (raw rows are kept for ``raw_retention``, rollups for ``rollup_retention``): one row
    at each hour's end, its open count without status or priority. Says on ``err`` how many
    rows are rollups and how many of those ``backfill`` reconstructed."""
    out: dict[tuple[str, str], list[dict[str, Any]]] = {}
    used = rebuilt = 0
    for key in sorted(set(raw) | set(hourly)):
        first = raw[key][0]["ts"] if raw.get(key) else None
        older = []
        for r in hourly.get(key, []):
            ts = _utc(r["hour"]) + timedelta(hours=1)
            if ts > until or (first is not None and ts >= first):
                continue
            older.append(
                snapshot_row(
                    key,
                    ts,
                    ts - timedelta(hours=1),
                    open_total=r["open_last"],
                    open_breakdown=[["", "", r["open_last"]]],
                    created=r["created"],
                    resolved=r["resolved"],
                )
            )
            rebuilt += bool(r.get("backfilled"))
        used += len(older)
        out[key] = older + raw.get(key, [])
    if used:
        (err or sys.stderr).write(
            f"note: {used} hourly row(s) come from the rollups (before the raw snapshots kept),"
            f" {rebuilt} of them reconstructed by backfill; status and priority matchers"
            " select nothing there\n"
        )
    return out


def _read_only_engine(url: str) -> sa.Engine:
    """An engine that cannot write: SQLite opened with ``mode=ro`` (and never created)."""
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        path = Path(parsed.database or "")
        if not path.is_file():
            raise StoreError(f"no history store at {path}")
        return sa.create_engine(f"sqlite:///file:{path.resolve()}?mode=ro&uri=true")
    return sa.create_engine(parsed)


def _eval_interval(data: dict[str, Any]) -> timedelta:
    value = (data.get("evaluation") or {}).get("interval")
    return parse_duration(value) if value is not None else timedelta(minutes=1)


def _spacing(stamps: Sequence[datetime]) -> timedelta:
    gaps = sorted({b - a for a, b in itertools.pairwise(stamps) if b > a})
    return gaps[0] if gaps else timedelta(hours=1)


def _utc(when: datetime) -> datetime:
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)
