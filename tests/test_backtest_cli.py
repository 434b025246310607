"""backlog-monitor backtest on the real ServiceNow hourly backlog."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

CLI = Path(sys.executable).with_name("backlog-monitor")
CSV = Path(__file__).parent / "fixtures" / "rules" / "servicenow_hourly_2016-03_05.csv"


class TestBacktestCommand:
    def test_reports_every_model_and_rule(self, tmp_path: Path) -> None:
        """The report has MASE/MAE/coverage per model at 1/6/24 h and event scores per rule."""
        report = tmp_path / "report.json"
        done = subprocess.run(
            [CLI, "backtest", "--csv", CSV, "-o", report, "--no-progress"],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        body = json.loads(report.read_text())
        overall = body["accuracy"]["overall"]
        assert {"naive", "seasonal_naive", "flow", "ets", "combo", "linear_6h"} <= set(overall)
        for row in overall.values():
            assert 0 <= row["coverage80_6h"] <= 1
            assert row["mase_6h"] > 0
        # naive is the reference; predict_linear-style 6 h lines are worse, as documented
        assert overall["linear_6h"]["mase_6h"] > overall["naive"]["mase_6h"]
        assert any(name.startswith("forecast rule") for name in body["early_warning"])
        assert "predict_linear(open[6h], 6h) > L for 1h" in body["early_warning"]

    def test_short_history_is_reported(self, tmp_path: Path) -> None:
        """A series shorter than the scoring needs is insufficient_history, exit 1."""
        short = tmp_path / "short.csv"
        short.write_text("\n".join(CSV.read_text().splitlines()[:200]) + "\n")
        done = subprocess.run(
            [CLI, "backtest", "--csv", short],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 1
        assert "insufficient_history" in done.stdout

    def test_bad_csv_is_a_clear_error(self, tmp_path: Path) -> None:
        """A malformed row names its line; exit code 2."""
        bad = tmp_path / "bad.csv"
        bad.write_text("timestamp,open,created,resolved\n2016-03-01 00:00:00,lots,0,0\n")
        done = subprocess.run(
            [CLI, "backtest", "--csv", bad], capture_output=True, text=True, timeout=60, check=False
        )
        assert done.returncode == 2
        assert "line 2" in done.stderr


class TestFromTheStore:
    def test_store_rollups_are_read_per_queue(self, tmp_path: Path) -> None:
        """--store reads the hourly rollups (here: 21 days of the real total backlog)."""
        from datetime import datetime
        from zoneinfo import ZoneInfo

        from monitor.backtest import read_store
        from monitor.demo.backfill import backfill_rollups
        from monitor.demo.ticketstore import load_incidents
        from monitor.store.engine import migrate, open_store

        url = f"sqlite:///{tmp_path}/h.db"
        engine = open_store(url)
        migrate(engine)
        zone = ZoneInfo("America/Sao_Paulo")
        start = datetime(2016, 4, 4, tzinfo=zone)
        backfill_rollups(engine, load_incidents(), start, zone, 21, "sn", "all")
        engine.dispose()
        [(name, series)] = read_store(url).items()
        assert name == "sn/all" and len(series) == 21 * 24
