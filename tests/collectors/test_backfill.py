"""``backlog-monitor backfill``: the hourly rollups written from a ticket store's own times
equal pandas over the same real tickets (SQLite, PostgreSQL, MariaDB ticket stores);
resumable, idempotent, and never over the daemon's own hours."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
import sqlalchemy as sa
import yaml
from click.testing import CliRunner

from collectors.base import HourFigures
from collectors.sql import SqlCollector, SqlSourceConfig
from monitor import backfill
from monitor.cli import main
from monitor.store.engine import migrate, open_store
from monitor.store.schema import rollups, snapshots
from tests.collectors import asof
from tests.collectors.conftest import DEFAULT_MAPPING
from tests.collectors.test_as_of import SAO_PAULO, frame_of, load, ticket_table

UNTIL = datetime(2016, 5, 3, 6, tzinfo=UTC)
SINCE = timedelta(days=6)
HOUR = timedelta(hours=1)


def mapping(zone: str) -> dict[str, Any]:
    return {**DEFAULT_MAPPING, "table": "as_of_tickets", "timezone": zone}


def write_config(path: Path, url: str, zone: str, **extra: Any) -> Path:
    source = {"kind": "sql", "name": "tickets", "url": url, "mapping": mapping(zone)}
    store = {"url": f"sqlite:///{path.parent}/history.db"}
    path.write_text(
        yaml.safe_dump({"store": store, "sources": [source], **extra}), encoding="utf-8"
    )
    return path


def run_backfill(config: Path, *extra: str) -> str:
    args = ["backfill", "--config", str(config), "--since", "6d", "--until", UNTIL.isoformat()]
    result = CliRunner().invoke(main, [*args, *extra])
    assert result.exit_code == 0, result.output
    return result.output


def stored(url: str) -> dict[tuple[str, datetime], dict[str, Any]]:
    engine = open_store(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.select(rollups)).mappings().all()
    finally:
        engine.dispose()
    return {(r["queue"], r["hour"]): dict(r) for r in rows}


def figures(rows: dict[tuple[str, datetime], dict[str, Any]]) -> dict[Any, tuple[int, int, int]]:
    return {k: (r["open_last"], r["created"], r["resolved"]) for k, r in rows.items()}


def expected(tickets: pd.DataFrame, zone: str) -> dict[Any, tuple[int, int, int]]:
    hours = pd.date_range(UNTIL - SINCE, UNTIL, freq="h", inclusive="left")
    return asof.hourly(frame_of(tickets, zone), list(hours))


@pytest.mark.parametrize("zone", ["UTC", SAO_PAULO])
def test_backfill_equals_pandas_and_runs_once(
    db_url: str, incidents: pd.DataFrame, tmp_path: Path, zone: str
) -> None:
    tickets = ticket_table(incidents)
    load(db_url, tickets)
    config = write_config(tmp_path / "c.yaml", db_url, zone)
    history = f"sqlite:///{tmp_path}/history.db"

    out = run_backfill(config)

    rows = stored(history)
    assert figures(rows) == expected(tickets, zone)
    assert all(r["backfilled"] and r["samples"] == 1 for r in rows.values())
    assert all(
        r["open_avg"] == r["open_min"] == r["open_max"] == r["open_last"] for r in rows.values()
    )
    assert f"144 hour(s) read, {len(rows)} row(s) written" in out
    # a second run reads only the hours before the first ticket, and writes nothing
    again = run_backfill(config)
    assert "0 row(s) written" in again
    assert stored(history) == rows


class Interrupting:
    """The real reader, failing (like a lost connection or Ctrl-C) at its ``fail_at``-th read."""

    def __init__(self, reader: SqlCollector, fail_at: int) -> None:
        self.reader, self.fail_at, self.reads = reader, fail_at, 0

    def hourly(self, start: datetime, end: datetime) -> list[HourFigures]:
        self.reads += 1
        if self.reads == self.fail_at:
            raise KeyboardInterrupt
        return self.reader.hourly(start, end)


@pytest.fixture
def sqlite_tickets(tmp_path: Path, incidents: pd.DataFrame) -> str:
    url = f"sqlite:///{tmp_path}/tickets.db"
    load(url, ticket_table(incidents))
    return url


def history_store(path: Path) -> sa.Engine:
    engine = open_store(f"sqlite:///{path}")
    migrate(engine)
    return engine


def reader_on(url: str) -> SqlCollector:
    return SqlCollector(
        SqlSourceConfig.model_validate(
            {"kind": "sql", "name": "tickets", "url": url, "mapping": mapping("UTC")}
        )
    )


def all_rows(engine: sa.Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.select(rollups).order_by(*rollups.primary_key))]


def test_interrupted_then_resumed_equals_uninterrupted(sqlite_tickets: str, tmp_path: Path) -> None:
    start, end = UNTIL - SINCE, UNTIL
    whole, broken = history_store(tmp_path / "whole.db"), history_store(tmp_path / "broken.db")
    reader = reader_on(sqlite_tickets)
    chunk = timedelta(days=1)
    try:
        backfill.backfill_source(whole, reader, "tickets", start, end, chunk)
        with pytest.raises(KeyboardInterrupt):
            backfill.backfill_source(broken, Interrupting(reader, 4), "tickets", start, end, chunk)
        partial = all_rows(broken)
        assert 0 < len(partial) < len(all_rows(whole))
        resumed = backfill.backfill_source(broken, reader, "tickets", start, end, chunk)
        assert resumed.hours == 72  # the three days not committed before the interruption
        assert all_rows(broken) == all_rows(whole)
    finally:
        reader.close()
        whole.dispose()
        broken.dispose()


def test_the_daemons_hours_are_left_alone(sqlite_tickets: str, tmp_path: Path) -> None:
    """An hour the daemon rolled up keeps its row; from its oldest raw snapshot on,
    every hour is the daemon's."""
    engine = history_store(tmp_path / "h.db")
    measured_hour = UNTIL - 30 * HOUR
    first_raw = UNTIL - 5 * HOUR + timedelta(minutes=20)
    daemon_row = {
        "source": "tickets",
        "queue": "Edge",
        "hour": measured_hour,
        "samples": 4,
        "open_avg": 1.5,
        "open_min": 1,
        "open_max": 2,
        "open_last": 2,
        "created": 0,
        "resolved": 0,
        "oldest_age_max_s": 3600.0,
    }
    raw = {
        "source": "tickets",
        "queue": "Edge",
        "ts": first_raw,
        "window_start": first_raw - HOUR,
        "open_total": 2,
        "open_breakdown": [],
    }
    with engine.begin() as conn:
        conn.execute(rollups.insert(), [daemon_row])
        conn.execute(snapshots.insert(), [raw])
    reader = reader_on(sqlite_tickets)
    try:
        result = backfill.backfill_source(engine, reader, "tickets", UNTIL - SINCE, UNTIL)
    finally:
        reader.close()
    assert result.hours == 144 - 5 - 1
    with engine.connect() as conn:
        mine = conn.execute(sa.select(rollups).where(rollups.c.hour == measured_hour)).all()
        latest = conn.execute(sa.select(sa.func.max(rollups.c.hour))).scalar()
    engine.dispose()
    assert [(r.queue, r.samples, r.backfilled) for r in mine] == [("Edge", 4, False)]
    assert latest == UNTIL - 6 * HOUR


def test_config_since_is_used_and_checked(tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.yaml", "sqlite://", "UTC", backfill={"since": "90m"})
    result = CliRunner().invoke(main, ["check-config", "--config", str(config)])
    assert result.exit_code == 2
    assert "backfill -> since" in result.output


def test_backtest_rules_replays_the_backfilled_hours(
    sqlite_tickets: str, incidents: pd.DataFrame, tmp_path: Path
) -> None:
    """``backtest-rules --store`` after ``backfill``: the reconstructed hours are replayed
    (said so on stderr), and the rule fires when the total crosses its threshold."""
    want = expected(ticket_table(incidents), "UTC")
    totals = [v[0] for (q, _), v in sorted(want.items()) if q == "__total__"]
    threshold = sorted(totals)[len(totals) * 3 // 4]
    rule = {
        "name": "BigBacklog",
        "metric": "open_tickets",
        "match": {"queue": "__total__"},
        "reduce": "last",
        "window": "1h",
        "op": ">",
        "threshold": threshold,
    }
    config = write_config(tmp_path / "c.yaml", sqlite_tickets, "UTC", rules=[rule])
    run_backfill(config)
    args = ["backtest-rules", "--config", str(config), "--store", "--step", "1h"]
    result = CliRunner().invoke(main, [*args, "--no-progress"])
    assert result.exit_code == 0, result.output
    assert f"note: {len(want)} hourly row(s) come from the rollups" in result.output
    assert f"{len(want)} of them reconstructed by backfill" in result.output
    episodes = [line for line in result.output.splitlines() if line.startswith("BigBacklog")]
    assert episodes and all("tickets/__total__" in line for line in episodes)


def test_hours_are_utc_hours_whatever_the_clocks_zone() -> None:
    kolkata = datetime(2016, 5, 3, 11, 45, tzinfo=ZoneInfo("Asia/Kolkata"))  # 06:15 UTC
    assert backfill.span(kolkata, timedelta(hours=2)) == (UNTIL - 2 * HOUR, UNTIL)


def test_a_queue_named_like_the_total_is_refused(sqlite_tickets: str, tmp_path: Path) -> None:
    """A help-desk queue named ``__total__`` would merge with the source's total: the
    backfill fails with the remedy (exit code 1) and writes nothing, as a poll does."""
    tickets = sa.create_engine(sqlite_tickets)
    with tickets.begin() as conn:
        moved = conn.execute(
            sa.text(
                "UPDATE as_of_tickets SET assignment_group = '__total__' WHERE assignment_group ="
                " (SELECT assignment_group FROM as_of_tickets ORDER BY number LIMIT 1)"
            )
        ).rowcount
    tickets.dispose()
    assert moved > 0
    config = write_config(tmp_path / "backlog.yaml", sqlite_tickets, "UTC")
    args = ["backfill", "--config", str(config), "--since", "6d", "--until", UNTIL.isoformat()]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1, result.output
    assert "named '__total__'" in result.output and "rename that queue" in result.output
    assert stored(f"sqlite:///{tmp_path}/history.db") == {}
