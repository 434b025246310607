"""The forecast job on real history: stored forecasts, metrics, API and the forecast rule."""

from __future__ import annotations

import json
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from prometheus_client import CollectorRegistry

from config.loader import load_settings
from monitor.daemon import Daemon
from monitor.http import build_app
from monitor.metrics import BacklogCollector
from monitor.store import forecasting as forecast_store
from tests.fakes import FakeClock
from tests.monitor.demohistory import backfill_demo
from tests.processes import PATIENCE, run_cli

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

ZONE = ZoneInfo("America/Sao_Paulo")
API_TOKEN = "forecast-api-token-0123"
CONFIG = f"""
http: {{api_tokens: ["{API_TOKEN}"]}}
sources:
  - kind: sql
    name: servicenow-total
    url: "sqlite://"
    mapping: {{table: t, queue: q, status: s, created_at: c, open_statuses: [open]}}
forecasts: {{reselect_every: 7d, match: {{queue: all}}}}
rules:
  - name: SurgeAhead
    kind: forecast
    horizon: 6h
    band: upper
    threshold: 2090
"""


def daemon_at(store: sa.Engine, clock: FakeClock) -> Daemon:
    """A daemon whose store holds three weeks of the real hourly total before ``clock``."""
    daemon = Daemon(load_settings(text=CONFIG), clock=clock, collectors={}, engine=store)
    daemon.migrate()
    backfill_demo(store, clock.now, 21)
    return daemon


class TestForecastJob:
    def test_forecast_is_stored_with_bands_and_breach_figures(self, store: sa.Engine) -> None:
        """Monday 21 March 2016, 11:00 local: the band reaches the 2,090 limit within 6 h."""
        clock = FakeClock(datetime(2016, 3, 21, 11, tzinfo=ZONE))
        daemon = daemon_at(store, clock)
        assert daemon.forecast() == 1
        with store.connect() as conn:
            [row] = forecast_store.load_forecasts(conn)
        assert row["status"] == "ok" and len(row["point"]) == 24
        assert all(
            lo <= p <= up
            for lo, p, up in zip(row["lower"], row["point"], row["upper"], strict=True)
        )
        assert row["detail"]["eta_seconds"]["SurgeAhead"] is not None
        assert max(row["upper"][:6]) >= 2090
        assert row["detail"]["breach_model"] == "warning"
        arrivals, resolutions = row["detail"]["arrivals"], row["detail"]["resolutions"]
        assert len(arrivals) == len(resolutions) == 24
        assert min(arrivals) >= 0 and max(arrivals) > 5  # a weekday's daytime arrivals
        assert 0.0 <= row["detail"]["breach"]["2090@6"] <= 1.0

    def test_breach_probability_from_the_selected_model_when_configured(
        self, store: sa.Engine
    ) -> None:
        clock = FakeClock(datetime(2016, 3, 21, 11, tzinfo=ZONE))
        settings = load_settings(
            text=CONFIG.replace(
                "reselect_every: 7d,", "reselect_every: 7d, warning_model: selected,"
            )
        )
        daemon = Daemon(settings, clock=clock, collectors={}, engine=store)
        daemon.migrate()
        backfill_demo(store, clock.now, 21)
        daemon.forecast()
        with store.connect() as conn:
            [row] = forecast_store.load_forecasts(conn)
        assert row["detail"]["breach_model"] == row["model"]

    def test_forecast_rule_fires_before_the_limit_is_crossed(self, store: sa.Engine) -> None:
        """The forecast alert fires while the backlog itself is still below the limit."""
        clock = FakeClock(datetime(2016, 3, 21, 11, tzinfo=ZONE))
        daemon = daemon_at(store, clock)
        daemon.forecast()
        result = daemon.evaluate()
        [(instance, transition)] = [(i, t) for i, t in result.transitions if i.rule == "SurgeAhead"]
        assert transition.value == "firing"
        with store.connect() as conn:
            last_open = conn.execute(
                sa.text("SELECT open_last FROM snapshot_rollups ORDER BY hour DESC LIMIT 1")
            ).scalar()
        assert last_open < 2090 <= instance.fire_value

    def test_metrics_and_api_show_the_forecast(self, store: sa.Engine) -> None:
        """Point and bands at 1/6/24 h, the model, and /api/v1/forecasts."""
        clock = FakeClock(datetime(2016, 3, 21, 11, tzinfo=ZONE))
        daemon = daemon_at(store, clock)
        daemon.forecast()
        registry = CollectorRegistry()
        registry.register(
            BacklogCollector(daemon.engine, daemon.stats, lambda: [], daemon.clock, daemon.rules)
        )
        labels = {"source": "servicenow-total", "queue": "all", "horizon": "6h", "bound": "upper"}
        assert registry.get_sample_value("backlog_forecast_open_tickets", labels) is not None
        assert (
            registry.get_sample_value(
                "backlog_forecast_breach_eta_seconds",
                {"source": "servicenow-total", "queue": "all", "rule": "SurgeAhead"},
            )
            is not None
        )
        client = TestClient(build_app(daemon, registry), headers={"X-API-KEY": API_TOKEN})
        [summary] = client.get("/api/v1/forecasts").json()
        assert summary["queue"] == "all" and set(summary["at"]) == {"1h", "6h", "24h"}
        detail = client.get("/api/v1/forecasts/servicenow-total/all").json()
        assert len(detail["upper"]) == 24
        assert detail["breachModel"] == "warning" and "2090@6" in detail["breachProbability"]
        assert len(detail["arrivals"]) == len(detail["resolutions"]) == 24
        assert client.get("/api/v1/forecasts/servicenow-total/none").status_code == 404

    def test_short_history_is_reported_not_guessed(self, store: sa.Engine) -> None:
        """Two days of history: insufficient_history, and the rule has no data."""
        clock = FakeClock(datetime(2016, 3, 21, 11, tzinfo=ZONE))
        daemon = Daemon(load_settings(text=CONFIG), clock=clock, collectors={}, engine=store)
        daemon.migrate()
        backfill_demo(store, clock.now, 2)
        daemon.forecast()
        with store.connect() as conn:
            [row] = forecast_store.load_forecasts(conn)
        assert row["status"] == "insufficient_history"
        result = daemon.evaluate()
        assert not [t for i, t in result.transitions if i.rule == "SurgeAhead"]


HOUR = timedelta(hours=1)
TIMELINE_CONFIG = """
store: {url: "sqlite:///STORE"}
sources:
  - kind: sql
    name: servicenow-total
    url: "sqlite://"
    mapping: {table: t, queue: q, status: s, created_at: c, open_statuses: [open]}
forecasts: {save_every: 6h, match: {queue: all}}
rules:
  - name: SurgeAhead
    kind: forecast
    horizon: 6h
    threshold: 2000
    min_probability: 0.5
    recover_probability: 0.25
    for: 1h
"""


def drive(daemon: Daemon, clock: FakeClock, hours: int) -> list[tuple[datetime, str]]:
    """Run the forecast job then the rules each hour (5 min past); the rule's transitions."""
    changes = []
    for _ in range(hours):
        clock.advance(HOUR)
        daemon.forecast()
        result = daemon.evaluate()
        top = clock.now.replace(minute=0)
        changes += [(top, t.value) for i, t in result.transitions if i.rule == "SurgeAhead"]
    return changes


def forecast_rows(store: sa.Engine) -> dict[str, object]:
    """The stored forecast of the queue, without its write time."""
    with store.connect() as conn:
        [row] = forecast_store.load_forecasts(conn)
    return row


ANSWERS = {
    "shipped defaults": "",
    "calibrated and widened": "calibration_prior: 10, burst_jump: 0.1, ",
    "joint ETS, estimated daily": "ets_estimation: joint, ",
    "calibration memory": "calibration_prior: 10, calibration_memory: 1w, ",
}
"""Engine settings beyond the defaults (two that change only how breach questions are
answered; the other ETS estimation and its daily schedule): each must give the daemon
and the backtest the same alert timeline."""
TWO_STAGE = "    gate_probability: 0.1\n    gate_level: 0.8\n    gate_rise: 3h\n"
"""The rule's second stage (alerting/rules/forecast.py), read from the observed hours the
stored forecast carries."""
OWN_GATE = "    gate_probability: 0.1\n    gate_quantile: 0.9\n    gate_rise: 3h\n"
"""The second stage with the gate from the queue's own history, read from the rises the
stored forecast carries."""
CASES = {
    **{name: (answers, "") for name, answers in ANSWERS.items()},
    "two-stage rule": ("", TWO_STAGE),
    "own-history gate": ("", OWN_GATE),
}


class TestOnePath:
    @pytest.mark.parametrize("answers,stage", list(CASES.values()), ids=list(CASES))
    def test_daemon_and_backtest_give_the_same_alert_timeline(
        self, store: sa.Engine, tmp_path: Path, answers: str, stage: str
    ) -> None:
        """Through the March 2016 surge the daemon's alerts change at backtest --store's hours."""
        end = datetime(2016, 3, 24, tzinfo=ZONE)
        days = 23
        url = str(store.url).removeprefix("sqlite:///")
        config = tmp_path / "monitor.yaml"
        text = TIMELINE_CONFIG.replace("STORE", url) + stage
        config.write_text(text.replace("forecasts: {", "forecasts: {" + answers))
        clock = FakeClock(end - timedelta(days=days) + timedelta(minutes=5))
        daemon = Daemon(load_settings(config), clock=clock, collectors={}, engine=store)
        daemon.migrate()
        backfill_demo(store, end, days)
        daemon_changes = drive(daemon, clock, days * 24)
        assert ("firing" in {c for _, c in daemon_changes}) and len(daemon_changes) >= 3
        stored = forecast_rows(store)["detail"]  # what the gates read, as the daemon stored it
        assert len(stored["observed"]) == 7
        # the queue's own rises only where a rule reads them (monitor.forecasting.carrying)
        assert len(stored.get("rises", ())) == (4 if "gate_quantile" in stage else 0)
        report = tmp_path / "report.json"
        done = run_cli(
            "backtest",
            "--store",
            "--config",
            config,
            "-o",
            report,
            "--no-progress",
            timeout=5 * PATIENCE,  # about 20 s on an idle machine
        )
        assert done.returncode == 0, done.stderr
        replayed = json.loads(report.read_text())["alerts"]["SurgeAhead"]
        assert {r["queue"] for r in replayed} == {"servicenow-total/all"}
        backtest_changes = [(datetime.fromisoformat(r["at"]), r["transition"]) for r in replayed]
        assert backtest_changes == [(at.astimezone(UTC), what) for at, what in daemon_changes]


class TestRestart:
    @pytest.mark.parametrize(
        "estimation",
        ["", "ets_estimation: joint, ", "calibration_prior: 10, calibration_memory: 1w, "],
        ids=["shipped defaults", "joint ETS", "calibration memory"],
    )
    def test_a_restart_resumes_the_uninterrupted_forecasts_at_the_next_tick(
        self, tmp_path: Path, estimation: str
    ) -> None:
        """After a crash a new daemon's next forecasts equal those of one that never stopped."""
        end = datetime(2016, 3, 21, 12, tzinfo=ZONE)
        days, stop = 12, 12 * 24 - 30
        rows = {}
        for name in ("steady", "restarted"):
            url = f"sqlite:///{tmp_path}/{name}.db"
            config = tmp_path / f"{name}.yaml"
            text = TIMELINE_CONFIG.replace("sqlite:///STORE", url)
            config.write_text(text.replace("forecasts: {", "forecasts: {" + estimation))
            clock = FakeClock(end - timedelta(days=days) + timedelta(minutes=5))
            daemon = Daemon(load_settings(config), clock=clock, collectors={})
            daemon.migrate()
            backfill_demo(daemon.engine, end, days)
            drive(daemon, clock, stop)
            if name == "restarted":  # a crash: nothing saved beyond the periodic saves
                daemon.engine.dispose()
                daemon = Daemon(load_settings(config), clock=clock, collectors={})
            rows[name] = []
            for _ in range(3):
                drive(daemon, clock, 1)
                rows[name].append(forecast_rows(daemon.engine))
            daemon.close()
        assert rows["restarted"] == rows["steady"]
        assert rows["steady"][0]["status"] == "ok"


class TestFirstHour:
    def test_forecasts_serve_at_the_first_run_after_backfill_on_start(
        self, store: sa.Engine, tmp_path: Path
    ) -> None:
        """A new installation with ``backfill.since``: the start-up backfill reads the ticket
        store, and the very first forecast run selects a model and serves a forecast."""
        from monitor.demo.ticketstore import ReplayedTicketStore, load_incidents

        clock = FakeClock(datetime(2016, 3, 21, 11, tzinfo=ZONE))
        tickets = ReplayedTicketStore(f"sqlite:///{tmp_path}/tickets.db", load_incidents())
        tickets.advance(clock.now.astimezone(ZONE).replace(tzinfo=None))
        tickets.close()
        settings = load_settings(
            text=CONFIG.replace('"sqlite://"', f'"sqlite:///{tmp_path}/tickets.db"').replace(
                "{table: t, queue: q, status: s, created_at: c, open_statuses: [open]}",
                (
                    "{table: incidents, queue: organisation, status: state, created_at: opened_at,"
                    " resolved_at: resolved_at, open_statuses: [open], timezone: America/Sao_Paulo}"
                ),
            )
            + "backfill: {since: 21d}\n"
        )
        daemon = Daemon(settings, clock=clock, engine=store)
        daemon.migrate()
        try:
            [done] = daemon.backfill()
            assert done.hours == 21 * 24 and done.rows == 2 * 21 * 24
            assert daemon.backfill()[0].rows == 0  # the next start finds nothing to do
            assert daemon.forecast() == 1
            with store.connect() as conn:
                [row] = forecast_store.load_forecasts(conn)
        finally:
            daemon.close()
        assert (row["queue"], row["status"]) == ("all", "ok")
        assert row["detail"]["backfilled_hours"] == 21 * 24  # all of the 21-day history
