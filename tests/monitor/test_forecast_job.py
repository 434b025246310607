"""The forecast job on real history: stored forecasts, metrics, API and the forecast rule."""

from __future__ import annotations

import warnings
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from prometheus_client import CollectorRegistry

from config.loader import load_settings
from monitor.daemon import Daemon
from monitor.demo.backfill import backfill_rollups
from monitor.demo.ticketstore import load_incidents
from monitor.http import build_app
from monitor.metrics import BacklogCollector
from monitor.store import forecasting as forecast_store
from tests.fakes import FakeClock

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

ZONE = ZoneInfo("America/Sao_Paulo")
CONFIG = """
sources:
  - kind: sql
    name: servicenow-total
    url: "sqlite://"
    mapping: {table: t, queue: q, status: s, created_at: c, open_statuses: [open]}
forecasts: {reselect_every: 7d}
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
    backfill_rollups(store, load_incidents(), clock.now, ZONE, 21, "servicenow-total", "all")
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
                "{reselect_every: 7d}", "{reselect_every: 7d, warning_model: selected}"
            )
        )
        daemon = Daemon(settings, clock=clock, collectors={}, engine=store)
        daemon.migrate()
        backfill_rollups(store, load_incidents(), clock.now, ZONE, 21, "servicenow-total", "all")
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
        client = TestClient(build_app(daemon, registry))
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
        backfill_rollups(store, load_incidents(), clock.now, ZONE, 2, "servicenow-total", "all")
        daemon.forecast()
        with store.connect() as conn:
            [row] = forecast_store.load_forecasts(conn)
        assert row["status"] == "insufficient_history"
        result = daemon.evaluate()
        assert not [t for i, t in result.transitions if i.rule == "SurgeAhead"]


class TestParallelSelection:
    def test_worker_processes_select_the_same_models_as_one_thread(self, store: sa.Engine) -> None:
        """Two queues due at once: selected in a process pool, same forecasts as in-thread."""
        clock = FakeClock(datetime(2016, 3, 21, 11, tzinfo=ZONE))
        stored = {}
        for workers in (1, 2):
            text = CONFIG.replace(
                "{reselect_every: 7d}", f"{{reselect_every: 1h, workers: {workers}}}"
            )
            daemon = Daemon(load_settings(text=text), clock=clock, collectors={}, engine=store)
            daemon.migrate()
            for queue in ("all", "copy"):
                backfill_rollups(
                    store, load_incidents(), clock.now, ZONE, 21, "servicenow-total", queue
                )
            try:
                assert daemon.forecast() == 2
                assert (daemon.forecaster._pool is not None) == (workers == 2)
            finally:
                daemon.forecaster.close()
            with store.connect() as conn:
                stored[workers] = {
                    r["queue"]: (r["model"], r["point"], r["detail"]["breach"])
                    for r in forecast_store.load_forecasts(conn)
                }
            with store.begin() as conn:
                conn.execute(sa.text("DELETE FROM snapshot_rollups"))
                conn.execute(sa.text("DELETE FROM forecasts"))
        assert stored[1] == stored[2]
        assert stored[2]["all"] == stored[2]["copy"]

    def test_first_run_forecasts_every_queue_then_spreads_reselection(
        self, store: sa.Engine
    ) -> None:
        """After a start every queue gets a forecast at once; later runs re-select a share."""
        clock = FakeClock(datetime(2016, 3, 21, 11, tzinfo=ZONE))
        text = CONFIG.replace("{reselect_every: 7d}", "{reselect_every: 3h, workers: 1}")
        daemon = Daemon(load_settings(text=text), clock=clock, collectors={}, engine=store)
        daemon.migrate()
        queues = ("a", "b", "c")
        for queue in queues:
            backfill_rollups(
                store, load_incidents(), clock.now, ZONE, 21, "servicenow-total", queue
            )
        assert daemon.forecast() == 3
        first = dict(daemon.forecaster._selected_at)
        assert set(first) == {("servicenow-total", q) for q in queues}
        clock.advance(timedelta(hours=3))
        assert daemon.forecast() == 3
        reselected = [k for k, at in daemon.forecaster._selected_at.items() if at != first[k]]
        assert len(reselected) == 1  # a third of the queues per 1 h run of a 3 h cycle
