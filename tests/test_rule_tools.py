"""The rule tools: test-rules, export-rules (checked with promtool) and backtest-rules."""

from __future__ import annotations

import io
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from alerting.backtest import Episode, format_table, replay, rows_from_csv
from alerting.export import export_rules, prom_duration, to_prometheus, translate
from alerting.rules import ThresholdRule
from collectors.base import QueueStats, Snapshot, Window
from monitor import tools
from monitor.errors import ConfigError, StoreError
from monitor.store import history
from tests.conftest import require_binary
from tests.fakes import T0
from tests.processes import PATIENCE

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "rules"
EXAMPLES = ROOT / "config" / "examples"
SHARED = FIXTURES.glob("*.test.yaml")
PARITY = sorted(p for p in SHARED if not p.name.endswith(".ours.test.yaml"))
SERVICENOW = FIXTURES / "servicenow_hourly_2016-03_05.csv"


def rule(**fields: Any) -> ThresholdRule:
    """open_tickets > 500 unless fields say otherwise."""
    base: dict[str, Any] = {"name": "High", "metric": "open_tickets", "threshold": 500}
    return ThresholdRule.model_validate({**base, **fields})


def write_rules(path: Path, *rules: dict[str, Any], **top: Any) -> Path:
    """A configuration file with these rules (and other top-level settings)."""
    path.write_text(yaml.safe_dump({**top, "rules": list(rules)}), encoding="utf-8")
    return path


@pytest.fixture
def promtool() -> str:
    """The promtool binary; missing fails under CI=true and skips elsewhere."""
    return require_binary("promtool", hint="install it with .ci/install-alerting-tools")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=PATIENCE, check=False)


class TestTestRules:
    def test_passing_file_exits_0(self) -> None:
        """A file whose expectations hold prints SUCCESS and returns 0."""
        out = io.StringIO()
        assert tools.test_rules([FIXTURES / "dip_keep_firing.test.yaml"], out) == 0
        assert "SUCCESS" in out.getvalue()

    def test_failing_file_exits_1_with_details(self) -> None:
        """A wrong expectation prints the test, time, alertname, expected and got."""
        out = io.StringIO()
        assert tools.test_rules([FIXTURES / "failing.test.yaml"], out) == 1
        text = out.getvalue()
        assert "FAILED" in text and "name: a dip resets for" in text
        assert "alertname: PendingFor30m, time: 45m" in text and "got:[]" in text

    def test_exp_state_extension(self) -> None:
        """The outage fixture (exp_state, collector down) passes with our engine."""
        assert tools.test_rules([FIXTURES / "outage.ours.test.yaml"], io.StringIO()) == 0

    def test_bad_test_file_is_a_failure(self, tmp_path: Path) -> None:
        """An unknown key or a missing rule file fails the file, with the reason."""
        bad = tmp_path / "bad.test.yaml"
        bad.write_text("rule_files: [nope.yaml]\ntests: []\n", encoding="utf-8")
        typo = tmp_path / "typo.test.yaml"
        typo.write_text("rule_files: []\ntestz: []\n", encoding="utf-8")
        out = io.StringIO()
        assert tools.test_rules([bad, typo], out) == 1
        assert "cannot read" in out.getvalue() and "testz: unknown key" in out.getvalue()


class TestExport:
    def test_minimal_example(self) -> None:
        """The seed rule both ways: an avg_over_time subquery, and for/keep_firing_for."""
        rules = tools.load_rules(EXAMPLES / "minimal.yaml")
        avg, held = export_rules(rules, timedelta(minutes=5)).rules
        assert avg["expr"] == (
            "avg_over_time(sum by (source, queue) "
            '(backlog_open_tickets{status="pending"})[2h:5m]) > 500'
        )
        assert held["for"] == "2h" and held["keep_firing_for"] == "15m"
        assert held["labels"] == {"severity": "warning"}

    def test_plain_selector_needs_no_subquery(self) -> None:
        """Oldest age has only source and queue: max_over_time applies directly."""
        out = to_prometheus(
            rule(
                metric="oldest_ticket_age_seconds", reduce="max", window="1h", match={"queue": "L1"}
            )
        )
        assert (
            out["expr"] == 'max_over_time(backlog_oldest_ticket_age_seconds{queue="L1"}[1h]) > 500'
        )

    def test_counters_and_flow_use_increase(self) -> None:
        """created sums become increase(); net inflow is per hour over the window."""
        created = to_prometheus(rule(metric="tickets_created", reduce="sum", window="1h"))
        assert created["expr"] == "increase(backlog_tickets_created_total[1h]) > 500"
        flow = tools.load_rules(FIXTURES / "backlog.yaml")[3]
        assert to_prometheus(flow)["expr"].startswith(
            "((increase(backlog_tickets_created_total[1h])"
            " - increase(backlog_tickets_resolved_total[1h])) / 1)"
        )

    def test_annotations_become_templates(self) -> None:
        """{queue} → $labels, {value} → $value, {threshold} and {window} → their text."""
        r = rule(reduce="avg", window="2h")
        text = translate("{queue}: {value} over {window} (limit {threshold}) {unknown}", r)
        assert text == "{{ $labels.queue }}: {{ $value }} over 2h (limit 500) {unknown}"

    def test_inexpressible_rules_are_skipped_and_listed(self, tmp_path: Path) -> None:
        """Forecast, SLA times, hysteresis and overrides are left out with a comment."""
        config = write_rules(
            tmp_path / "c.yaml",
            {"name": "Hyst", "metric": "open_tickets", "threshold": 5, "recover_threshold": 3},
            {
                "name": "Sla",
                "kind": "sla",
                "measure": "avg_resolution_time",
                "target": "8h",
                "exceeds_by": "20%",
            },
            {"name": "Fc", "kind": "forecast", "threshold": 10},
            {"name": "Ok", "metric": "open_tickets", "threshold": 5},
        )
        exported = export_rules(tools.load_rules(config))
        assert [r["alert"] for r in exported.rules] == ["Ok"]
        assert {name for name, _ in exported.skipped} == {"Hyst", "Sla", "Fc"}
        assert "#   - Hyst: recover_threshold (hysteresis)" in exported.text

    def test_durations(self) -> None:
        """Durations are written the way Prometheus parses them."""
        assert [prom_duration(timedelta(seconds=s)) for s in (0, 0.5, 90, 86400 + 1800)] == [
            "0s",
            "500ms",
            "1m30s",
            "1d30m",
        ]

    def test_broken_config_is_rejected(self) -> None:
        """The three-mistakes example's rule typo is reported with its path."""
        with pytest.raises(ConfigError, match="rules -> 0 -> severty: unknown key"):
            tools.load_rules(EXAMPLES / "three-mistakes.yaml")


class TestPromtool:
    @pytest.mark.parametrize(
        "config", [EXAMPLES / "minimal.yaml", FIXTURES / "backlog.yaml"], ids=lambda p: p.name
    )
    def test_check_rules_passes(self, promtool: str, tmp_path: Path, config: Path) -> None:
        """promtool check rules accepts what export-rules writes."""
        target = tmp_path / "rules.yml"
        assert tools.export_rules(config, target) == 0
        result = run(promtool, "check", "rules", str(target))
        assert result.returncode == 0, result.stdout + result.stderr

    @pytest.mark.parametrize("test_file", PARITY, ids=lambda p: p.name)
    def test_same_verdict_as_promtool(self, promtool: str, tmp_path: Path, test_file: Path) -> None:
        """promtool test rules on the exported rules agrees with test-rules, pass or fail."""
        spec = yaml.safe_load(test_file.read_text(encoding="utf-8"))
        exported = []
        for i, name in enumerate(spec["rule_files"]):
            target = tmp_path / f"rules{i}.yml"
            tools.export_rules(test_file.parent / name, target)
            exported.append(target.name)
        copy = tmp_path / test_file.name
        copy.write_text(yaml.safe_dump({**spec, "rule_files": exported}), encoding="utf-8")
        ours = tools.test_rules([test_file], io.StringIO())
        theirs = run(promtool, "test", "rules", str(copy))
        assert theirs.returncode == ours, theirs.stdout + theirs.stderr


class TestBacktest:
    def test_servicenow_march_2016_surge_fires(self) -> None:
        """avg over 2h > 2090 on the real hourly backlog fires once, 21-22 March 2016."""
        series = tools._csv_series(SERVICENOW)
        seed = rule(name="BacklogHighAvg2h", reduce="avg", window="2h", threshold=2090)
        start, end = datetime(2016, 3, 14, tzinfo=UTC), datetime(2016, 5, 31, 23, tzinfo=UTC)
        result = replay([seed], series, start, end, timedelta(hours=1))
        (episode,) = result.episodes
        assert (episode.source, episode.queue) == ("csv", "all")
        assert (
            datetime(2016, 3, 21, tzinfo=UTC) < episode.fired_at < datetime(2016, 3, 22, tzinfo=UTC)
        )
        assert (
            episode.resolved_at is not None
            and episode.resolved_at.date().isoformat() == "2016-03-22"
        )
        assert episode.fire_value is not None and episode.fire_value > 2090
        assert result.steps == 1896

    def test_still_firing_at_the_end(self) -> None:
        """An episode open at the end has no resolved_at; its duration runs to the end."""
        rows = rows_from_csv(
            [
                {"timestamp": f"2016-01-01 0{h}:00", "queue": "Q", "open": str(v)}
                for h, v in enumerate([1, 900, 900])
            ]
        )
        start = datetime(2016, 1, 1, tzinfo=UTC)
        result = replay([rule()], rows, start, start + timedelta(hours=2), timedelta(hours=1))
        assert result.episodes == [
            Episode("High", "csv", "Q", start + timedelta(hours=1), None, 900.0)
        ]
        table = format_table(result, [rule()])
        assert "(still firing)" in table and "High: 1 fire(s), 1h firing" in table

    def test_csv_with_status_column_builds_breakdown(self) -> None:
        """Rows of one queue and instant with several statuses merge into one snapshot."""
        records = [
            {"timestamp": "2016-01-01T00:00:00", "queue": "Q", "status": s, "open": n}
            for s, n in (("pending", "7"), ("new", "2"))
        ]
        (row,) = rows_from_csv(records)[("csv", "Q")]
        assert row["open_total"] == 9 and row["open_breakdown"][1] == ["pending", "", 7]

    def test_progress_bar_reaches_100(self) -> None:
        """The progress bar is drawn on its stream and ends at 100% with a newline."""
        stream = io.StringIO()
        bar = tools.ProgressBar(stream)
        for done in range(1, 51):
            bar(done, 50)
        assert stream.getvalue().endswith("100% 50/50\n")

    def test_command_on_csv_prints_table(self, tmp_path: Path) -> None:
        """backtest-rules on a CSV prints the episode and the summary."""
        config = write_rules(
            tmp_path / "c.yaml",
            {
                "name": "BacklogHighAvg2h",
                "metric": "open_tickets",
                "reduce": "avg",
                "window": "2h",
                "threshold": 2090,
            },
        )
        out = io.StringIO()
        start, end = datetime(2016, 3, 14), datetime(2016, 5, 31, 23)
        assert tools.backtest_rules(config, SERVICENOW, start, end, progress=False, out=out) == 0
        assert "BacklogHighAvg2h  all    2016-03-21" in out.getvalue()
        assert "BacklogHighAvg2h: 1 fire(s)" in out.getvalue()

    def test_command_on_store(self, tmp_path: Path, store: sa.Engine) -> None:
        """backtest-rules --store replays the stored snapshots (read only)."""
        with store.begin() as conn:
            for i, n in enumerate([100, 700, 800, 100]):
                ts = T0 + i * timedelta(minutes=5)
                queues = (QueueStats("L1", {("pending", "3"): n}),)
                history.record_snapshot(
                    conn, Snapshot("hd", Window(ts - timedelta(minutes=5), ts), queues)
                )
        config = write_rules(
            tmp_path / "c.yaml",
            {
                "name": "High",
                "metric": "open_tickets",
                "match": {"status": "pending"},
                "threshold": 500,
            },
            store={"url": str(store.url)},
            evaluation={"interval": "5m"},
        )
        out = io.StringIO()
        assert tools.backtest_rules(config, None, T0, T0 + timedelta(minutes=15), out=out) == 0
        lines = out.getvalue().splitlines()
        assert lines[1].split() == [
            "High",
            "hd/L1",
            "2016-03-21",
            "12:05",
            "2016-03-21",
            "12:15",
            "10m",
            "700",
        ]

    def test_missing_store_is_an_error_and_not_created(self, tmp_path: Path) -> None:
        """--store with no database file fails instead of creating an empty store."""
        db = tmp_path / "none.db"
        config = write_rules(tmp_path / "c.yaml", store={"url": f"sqlite:///{db}"})
        with pytest.raises(StoreError, match="no history store"):
            tools.backtest_rules(config, None, None, None, out=io.StringIO())
        assert not db.exists()
