"""backlog-monitor backtest on the real ServiceNow hourly backlog."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest

from monitor.charts import write_charts
from monitor.errors import MissingExtra
from tests.processes import PATIENCE, environment, run_cli

CSV = Path(__file__).parent / "fixtures" / "rules" / "servicenow_hourly_2016-03_05.csv"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
INSTALL = "pip install 'backlog-monitor[plot]'"


@dataclass(frozen=True)
class Backtest:
    """One ``backtest --csv ... -o REPORT --charts DIR`` run."""

    done: subprocess.CompletedProcess[str]
    report: Path
    charts: Path


@pytest.fixture(scope="module")
def backtest(tmp_path_factory: pytest.TempPathFactory) -> Backtest:
    """The real series backtested once (about 30 s), shared by the report and chart tests."""
    tmp = tmp_path_factory.mktemp("backtest")
    report, charts = tmp / "report.json", tmp / "charts" / "png"
    done = run_cli(
        "backtest",
        "--csv",
        CSV,
        "-o",
        report,
        "--charts",
        charts,
        "--no-progress",
        timeout=5 * PATIENCE,  # about 30 s on an idle machine
    )
    assert done.returncode == 0, done.stderr
    return Backtest(done, report, charts)


def no_matplotlib(name: str) -> ModuleType:
    """An importer for an installation without the ``plot`` extra."""
    raise ModuleNotFoundError(f"No module named {name.split('.')[0]!r}")


class TestBacktestCommand:
    def test_reports_every_model_and_rule(self, backtest: Backtest) -> None:
        """The report has MASE per model, the shown band's coverage and event scores per rule."""
        body = json.loads(backtest.report.read_text())
        overall = body["accuracy"]["overall"]
        assert {"naive", "drift", "flow", "ets_daily", "combo", "warning", "linear"} <= set(overall)
        for row in overall.values():
            assert row["mase_6h"] > 0
        assert 0.7 <= overall["selected"]["coverage80_6h"] <= 0.9
        # naive is the reference; predict_linear-style 6 h lines are worse, as documented
        assert overall["linear"]["mase_6h"] > overall["naive"]["mase_6h"]
        assert any(name.startswith("forecast rule") for name in body["early_warning"])
        assert "predict_linear(open[6h], 6h) > L for 1h" in body["early_warning"]

    def test_charts_one_png_per_queue(self, backtest: Backtest) -> None:
        """--charts DIR creates DIR and writes a real PNG per queue, and says how many."""
        [chart] = sorted(backtest.charts.iterdir())
        assert chart.name == "all.png"  # the CSV has no queue column
        data = chart.read_bytes()
        assert data.startswith(PNG_SIGNATURE)
        assert len(data) > 20_000  # lines, band, spans and legend, not an empty canvas
        assert f"1 chart written to {backtest.charts}" in backtest.done.stdout

    def test_charts_without_matplotlib_is_a_clear_error(self, tmp_path: Path) -> None:
        """Without the plot extra, --charts fails before the replay: the fix, exit code 2."""
        block = "import sys; sys.modules['matplotlib'] = None; from monitor.cli import main; main()"
        done = subprocess.run(
            [sys.executable, "-c", block, "backtest", "--csv", CSV, "--charts", tmp_path / "c"],
            env=environment(),
            capture_output=True,
            text=True,
            timeout=PATIENCE,
            check=False,
        )
        assert done.returncode == 2, done.stderr
        assert INSTALL in done.stderr
        assert "Traceback" not in done.stderr
        assert not (tmp_path / "c").exists()

    def test_write_charts_names_the_extra(self, tmp_path: Path) -> None:
        """write_charts raises MissingExtra with the install command, writing nothing."""
        with pytest.raises(
            MissingExtra, match=r"matplotlib.*pip install 'backlog-monitor\[plot\]'"
        ):
            write_charts({}, {}, {}, tmp_path / "charts", importer=no_matplotlib)
        assert not (tmp_path / "charts").exists()

    def test_short_history_is_reported(self, tmp_path: Path) -> None:
        """A series too short to score, with no rule configured, is insufficient_history: exit 1."""
        short = tmp_path / "short.csv"
        short.write_text("\n".join(CSV.read_text().splitlines()[:200]) + "\n")
        done = run_cli("backtest", "--csv", short)
        assert done.returncode == 1
        assert "insufficient_history" in done.stdout

    def test_bad_csv_is_a_clear_error(self, tmp_path: Path) -> None:
        """A malformed row names its line; exit code 2."""
        bad = tmp_path / "bad.csv"
        bad.write_text("timestamp,open,created,resolved\n2016-03-01 00:00:00,lots,0,0\n")
        done = run_cli("backtest", "--csv", bad)
        assert done.returncode == 2
        assert "line 2" in done.stderr


class TestFromTheStore:
    def test_store_rollups_are_read_per_queue(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """--store reads the hourly rollups (here: 21 days of the real total backlog)."""
        from datetime import datetime
        from zoneinfo import ZoneInfo

        from monitor.backtest import read_store
        from monitor.store.engine import migrate, open_store
        from tests.monitor.demohistory import backfill_demo

        url = f"sqlite:///{tmp_path}/h.db"
        engine = open_store(url)
        migrate(engine)
        zone = ZoneInfo("America/Sao_Paulo")
        start = datetime(2016, 4, 4, tzinfo=zone)
        backfill_demo(engine, start, 21, source="sn")
        engine.dispose()
        stored = read_store(url)
        assert sorted(stored) == ["sn/__total__", "sn/all"]
        assert len(stored["sn/all"]) == 21 * 24
        note = "note: 1008 of 1008 hourly row(s) reconstructed by backfill"
        assert note in capsys.readouterr().err
