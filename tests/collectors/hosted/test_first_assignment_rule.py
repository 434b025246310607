"""A routing rule on the time to first assignment, through the daemon, on Jira Cloud.

The Jira fake replays the Italian help desk (an issue is unassigned until it is taken
in charge); the daemon polls the busiest component hourly for two and a half days with
routing on, and a rule "mean time to first assignment over 2 days, for 6 hours" (over
the tickets resolved in the last day) watches it. At every poll the rule's value is the
mean pandas computes from the log over the tickets resolved in the day before; the
alert fires once that mean has been over 2 days for 6 hours, and resolves when it falls
back. The start-up check refuses the rule when no source it selects records the figure.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from alerting.rules import RoutingRule
from alerting.state import NoData
from collectors import REGISTRY
from config.loader import load_settings
from monitor.clock import FakeClock
from monitor.errors import ConfigError
from monitor.store import alerts as alert_store
from monitor.store import history
from tests.collectors.fakeserver import FakeServer
from tests.collectors.hosted.dayrun import stepped
from tests.collectors.stores import jira
from tests.processes import run_cli

ROOT = Path(__file__).resolve().parents[3]

START = datetime(2012, 5, 9, tzinfo=UTC)
END = datetime(2012, 5, 11, 18, tzinfo=UTC)
RULE = {
    "name": "SlowFirstAssignment",
    "kind": "routing",
    "measure": "first_assignment_mean",
    "window": "1d",
    "threshold": "2d",
    "for": "6h",
}


def pandas_mean(queue: str, end: datetime) -> float | None:
    """Mean seconds from an issue's first event to its first assigned one, over the
    issues of ``queue`` resolved in the day before ``end`` that were ever assigned."""
    log = jira.helpdesk_log()
    state = log.state_at(end)
    t0, t1 = pd.Timestamp(end - timedelta(days=1)), pd.Timestamp(end)
    done = state[(state["queue"] == queue) & state["done"]]
    done = done[(done["resolved"] >= t0) & (done["resolved"] < t1)]
    events = log.events[(log.events["at"] < t1) & log.events["id"].isin(done["id"])]
    assigned = events[events["assignee"] != jira.UNASSIGNED].groupby("id")["at"].first()
    created = events.groupby("id")["at"].first()
    waits = (assigned - created[assigned.index]).dt.total_seconds()
    return float(waits.sum()) / len(waits) if len(waits) else None


def settings(url: str, rules: list[dict[str, Any]], **workload: Any) -> Any:
    source = {
        **jira.Kit().config(url, {"queues": 1}),
        "interval": "1h",
        "first_window": "1h",
        "aging": False,
        "workload": {"routing": True, **workload},
    }
    document = {
        "store": {"url": "sqlite://", "maintenance_interval": "1h", "raw_retention": "7d"},
        "forecasts": {"enabled": False},
        "delivery": {"interval": "1h"},
        "evaluation": {"interval": "1h"},
        "sources": [source],
        "rules": rules,
    }
    return load_settings(text=yaml.safe_dump(document))


def test_fires_and_resolves_on_the_mean_pandas_computes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in jira.Kit.environment.items():
        monkeypatch.setenv(name, value)
    clock = FakeClock(START)
    with FakeServer(jira.FakeJira(clock)) as server:
        config = settings(server.url, [RULE])
        source = config.sources[0]
        collector = REGISTRY["jira"](source, clock=lambda: clock().timestamp())  # type: ignore[call-arg]
        daemon, scheduler = stepped(config, clock, collector, tmp_path)
        states: list[tuple[datetime, str]] = []
        while scheduler.next_instant <= END:
            if "evaluate" in scheduler.run_due():
                with daemon.engine.connect() as conn:
                    found = alert_store.load_instances(conn).values()
                    states += [(clock.now, i.state.value) for i in found]
        with daemon.engine.connect() as conn:
            series = history.series(conn, START, END + timedelta(hours=1))
        daemon.close()
    queue = source.queues[0].name
    rows = series[(source.name, queue)]
    assert len(rows) >= 66
    rule = RoutingRule.model_validate(RULE)
    over: dict[datetime, bool] = {}
    for instant in pd.date_range(START + timedelta(days=1), END, freq="1h"):
        now = instant.to_pydatetime()
        expected = pandas_mean(queue, now)
        measured = rule.compute(rows, now, None, (source.name, queue))  # type: ignore[arg-type]
        if expected is None:
            assert isinstance(measured, NoData)
            continue
        assert not isinstance(measured, NoData)
        assert measured.value == pytest.approx(expected, rel=1e-12)
        over[now] = expected > 2 * 86400
    assert len(over) >= 36
    # fires at the first hour over 2 days for the 6 hours before it too (pandas: a blip
    # over at 10:00 on 10 May, back under at 11:00, then over from 14:00: firing at
    # 20:00); resolves at the first hour under after that (09:00 on 11 May)
    hours = sorted(over)
    fires = next(t for t in hours if all(over.get(t - timedelta(hours=h), False) for h in range(7)))
    back = next(t for t in hours if t > fires and not over[t])
    firing = [t for t, s in states if s == "firing"]
    resolved = [t for t, s in states if s == "resolved"]
    pending = [t for t, s in states if s == "pending"]
    assert firing and resolved, states
    assert firing[0] == fires and min(firing) == fires and max(firing) < back
    assert resolved[0] == back
    blip = next(t for t in hours if over[t])  # pending, never firing
    assert blip in pending and blip < fires - timedelta(hours=6)


class TestStartUpCheck:
    @pytest.fixture(autouse=True)
    def _token(self, monkeypatch: pytest.MonkeyPatch) -> None:
        for name, value in jira.Kit.environment.items():
            monkeypatch.setenv(name, value)

    def test_a_source_that_records_it_is_accepted(self) -> None:
        config = settings("https://jira.example", [RULE])
        assert config.rules[0].threshold == 2 * 86400

    def test_no_source_recording_it_is_an_error_with_its_path(self) -> None:
        """Routing off: the Jira source reads no changelog, so the rule never has data."""
        document = {
            "sources": [jira.Kit().config("https://jira.example", {"queues": 1})],
            "rules": [RULE],
        }
        with pytest.raises(ConfigError) as err:
            load_settings(text=yaml.safe_dump(document))
        assert [p for p, _ in err.value.problems] == ["rules -> 0 -> measure"]
        assert "records the time to first assignment" in err.value.problems[0][1]

    def test_check_config_exits_with_2_and_the_path(self, tmp_path: Path) -> None:
        source = jira.Kit().config("https://jira.example", {"queues": 1})
        config = tmp_path / "config.yaml"
        config.write_text(yaml.safe_dump({"sources": [source], "rules": [RULE]}), "utf-8")
        result = run_cli("check-config", "--config", config, cwd=ROOT)
        assert result.returncode == 2, result.stdout + result.stderr
        assert "rules -> 0 -> measure" in result.stderr

    def test_an_unknown_measure_is_an_error_with_its_path(self) -> None:
        with pytest.raises(ConfigError) as err:
            settings("https://jira.example", [{**RULE, "measure": "first_assignment_median"}])
        assert [p for p, _ in err.value.problems] == ["rules -> 0 -> measure"]
