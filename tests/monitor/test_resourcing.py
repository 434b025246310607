"""Resourcing in the daemon: suggestions in alerts, recommendation webhooks, the KEDA endpoint."""

from __future__ import annotations

import math
import warnings
from datetime import datetime, timedelta

import sqlalchemy as sa
from prometheus_client import CollectorRegistry

from config.loader import load_settings
from monitor.daemon import Daemon
from monitor.errors import SourceUnavailable
from monitor.http import build_app
from monitor.store import forecasting as forecast_store
from tests.fakes import FakeClock, RecordingReceiver, ScriptedCollector
from tests.monitor.test_daemon import (
    API_TOKEN,
    QUEUE,
    SOURCE,
    Backlog,
    config_yaml,
    make_daemon,
    registry_for,
    tick,
    verify,
)

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

TOKEN = "s3cret-token"
RESOURCING = f"""
resourcing:
  - name: billing
    match: {{source: {SOURCE}}}
    resource: humans
    objective: backlog_below
    target: 500
    within: 6h
    agents: 12
    throughput_per_agent_hour: 8
    shrinkage: 0.2
    stale_after: 15m
"""


def build(
    clock: FakeClock, store: sa.Engine, receiver: RecordingReceiver, backlog: Backlog
) -> tuple[Daemon, ScriptedCollector]:
    text = config_yaml({"ops": receiver.url}, for_="0s") + RESOURCING
    text = text.replace(f'api_tokens: ["{API_TOKEN}"]', f'api_tokens: ["{TOKEN}"]')
    collector = ScriptedCollector(SOURCE, backlog)
    return make_daemon(load_settings(text=text), clock, collector, store), collector


def billing(clock: FakeClock) -> Backlog:
    """The reference's Billing queue: 670 open, 90 arrivals an hour."""
    arrivals = [clock.now - timedelta(minutes=m * 2 / 3) for m in range(0, 240)]
    return Backlog(open=670, created_at=arrivals)


class TestSuggestions:
    def test_firing_alert_carries_the_suggestion_and_a_recommendation_is_sent(
        self, clock: FakeClock, store: sa.Engine, receiver: RecordingReceiver
    ) -> None:
        """The alert names the staffing change; a signed resourcing.recommendation follows."""
        backlog = billing(clock)
        daemon, _ = build(clock, store, receiver, backlog)
        for _ in range(3):
            tick(daemon, clock, timedelta(minutes=1))
        daemon.deliver()
        bodies = [verify(r) for r in receiver.received]
        [alert_body] = [b for b in bodies if b.get("status") == "firing"]
        alert = alert_body["alerts"][0]
        assert alert["annotations"]["suggestion"].startswith("Add ")
        assert alert["suggestion"]["desired_capacity"] > 12
        recommendations = [b for b in bodies if b.get("type") == "resourcing.recommendation"]
        assert recommendations, bodies
        data = recommendations[0]["data"]
        assert data["queue"] == QUEUE and data["current_capacity"] == 12
        assert data["desired_capacity"] > 12

    def test_gauges_expose_the_recommendation(
        self, clock: FakeClock, store: sa.Engine, receiver: RecordingReceiver
    ) -> None:
        """backlog_recommended_agents and backlog_time_lag_seconds are set per queue."""
        daemon, _ = build(clock, store, receiver, billing(clock))
        tick(daemon, clock, timedelta(minutes=1))
        registry = registry_for(daemon)
        labels = {"source": SOURCE, "queue": QUEUE}
        assert registry.get_sample_value("backlog_recommended_agents", labels) is not None
        assert registry.get_sample_value("backlog_time_lag_seconds", labels) > 0


class TestScalingEndpoint:
    def client(self, daemon: Daemon) -> TestClient:
        return TestClient(build_app(daemon, CollectorRegistry()))

    def test_refuses_without_a_token(
        self, clock: FakeClock, store: sa.Engine, receiver: RecordingReceiver
    ) -> None:
        """No token, or a wrong one: 401."""
        daemon, _ = build(clock, store, receiver, billing(clock))
        tick(daemon, clock, timedelta(minutes=1))
        client = self.client(daemon)
        assert client.get(f"/api/v1/queues/{QUEUE}/scaling").status_code == 401
        wrong = {"Authorization": "Bearer nope"}
        assert client.get(f"/api/v1/queues/{QUEUE}/scaling", headers=wrong).status_code == 401

    def test_serves_the_document_with_bearer_or_api_key(
        self, clock: FakeClock, store: sa.Engine, receiver: RecordingReceiver
    ) -> None:
        """Bearer and X-API-KEY both work; desired.workers is a number for KEDA."""
        daemon, _ = build(clock, store, receiver, billing(clock))
        tick(daemon, clock, timedelta(minutes=1))
        client = self.client(daemon)
        for headers in ({"Authorization": f"Bearer {TOKEN}"}, {"X-API-KEY": TOKEN}):
            answer = client.get(f"/api/v1/queues/{QUEUE}/scaling", headers=headers)
            assert answer.status_code == 200, answer.text
            document = answer.json()
            assert document["backlog"] == 670
            assert isinstance(document["desired"]["workers"], int)
            assert document["desired"]["workers"] >= 12

    def test_stale_data_answers_503(
        self, clock: FakeClock, store: sa.Engine, receiver: RecordingReceiver
    ) -> None:
        """Data older than stale_after, or a source that is down, gives 503 (KEDA falls back)."""
        daemon, collector = build(clock, store, receiver, billing(clock))
        tick(daemon, clock, timedelta(minutes=1))
        client = self.client(daemon)
        headers = {"X-API-KEY": TOKEN}
        clock.advance(timedelta(minutes=20))
        assert client.get(f"/api/v1/queues/{QUEUE}/scaling", headers=headers).status_code == 503
        tick(daemon, clock, timedelta(minutes=1))
        assert client.get(f"/api/v1/queues/{QUEUE}/scaling", headers=headers).status_code == 200
        collector.error = SourceUnavailable("helpdesk: down")
        daemon.poll(SOURCE)
        answer = client.get(f"/api/v1/queues/{QUEUE}/scaling", headers=headers)
        assert answer.status_code == 503 and "down" in answer.json()["error"]


class TestArrivalsForecast:
    """λ comes from the forecast job's arrivals forecast when one is fresh."""

    def document(self, daemon: Daemon) -> dict[str, object]:
        client = TestClient(build_app(daemon, CollectorRegistry()))
        answer = client.get(f"/api/v1/queues/{QUEUE}/scaling", headers={"X-API-KEY": TOKEN})
        assert answer.status_code == 200, answer.text
        body: dict[str, object] = answer.json()
        return body

    def store_forecast(self, daemon: Daemon, made_at: datetime, arrivals: list[float]) -> None:
        with daemon.engine.begin() as conn:
            forecast_store.save_forecast(
                conn,
                SOURCE,
                QUEUE,
                made_at=made_at,
                model="naive",
                status="ok",
                level=0.8,
                point=[670.0] * 24,
                lower=[660.0] * 24,
                upper=[680.0] * 24,
                backtest_mase=None,
                detail={"arrivals": arrivals, "resolutions": [90.0] * 24},
            )

    def test_forecast_arrivals_over_the_objective_window(
        self, clock: FakeClock, store: sa.Engine, receiver: RecordingReceiver
    ) -> None:
        """The mean forecast rate over [now, now + 6 h) replaces the measured 90 an hour."""
        daemon, _ = build(clock, store, receiver, billing(clock))
        tick(daemon, clock, timedelta(minutes=1))
        measured = self.document(daemon)["arrival_rate_per_hour"]
        assert 80 <= measured <= 100  # type: ignore[operator]
        hour = clock.now.replace(minute=0, second=0, microsecond=0)
        self.store_forecast(daemon, hour, [300.0] * 6 + [0.0] * 18)
        tick(daemon, clock, timedelta(minutes=1))
        # hourly steps: the six hours from the current one hold the 300s
        assert self.document(daemon)["arrival_rate_per_hour"] == 300.0

    def test_stale_forecast_or_measured_setting_uses_the_measured_rate(
        self, clock: FakeClock, store: sa.Engine, receiver: RecordingReceiver
    ) -> None:
        daemon, _ = build(clock, store, receiver, billing(clock))
        self.store_forecast(daemon, clock.now - timedelta(hours=3), [300.0] * 24)
        tick(daemon, clock, timedelta(minutes=1))
        assert self.document(daemon)["arrival_rate_per_hour"] < 100  # type: ignore[operator]
        text = config_yaml({"ops": receiver.url}, for_="0s") + RESOURCING.replace(
            "    stale_after: 15m", "    stale_after: 15m\n    arrivals: measured"
        )
        text = text.replace(f'api_tokens: ["{API_TOKEN}"]', f'api_tokens: ["{TOKEN}"]')
        measured = make_daemon(
            load_settings(text=text), clock, ScriptedCollector(SOURCE, billing(clock)), store
        )
        self.store_forecast(measured, clock.now, [300.0] * 24)
        tick(measured, clock, timedelta(minutes=1))
        assert self.document(measured)["arrival_rate_per_hour"] < 100  # type: ignore[operator]


class TestPods:
    def test_pods_scale_on_backlog_per_worker_and_arrivals(
        self, clock: FakeClock, store: sa.Engine, receiver: RecordingReceiver
    ) -> None:
        """resource: pods with backlog_per_worker: desired.workers = ceil(max(B/b, λ/μ))."""
        pods = RESOURCING.replace("resource: humans", "resource: pods").replace(
            "    stale_after: 15m",
            "    stale_after: 15m\n    backlog_per_worker: 50\n    arrivals: measured",
        )
        text = config_yaml({"ops": receiver.url}, for_="0s") + pods
        text = text.replace(f'api_tokens: ["{API_TOKEN}"]', f'api_tokens: ["{TOKEN}"]')
        collector = ScriptedCollector(SOURCE, billing(clock))
        daemon = make_daemon(load_settings(text=text), clock, collector, store)
        tick(daemon, clock, timedelta(minutes=1))
        client = TestClient(build_app(daemon, CollectorRegistry()))
        answer = client.get(f"/api/v1/queues/{QUEUE}/scaling", headers={"X-API-KEY": TOKEN})
        assert answer.status_code == 200, answer.text
        document = answer.json()
        rate = document["arrival_rate_per_hour"]
        expected = max(670 / 50, rate / 8)
        assert document["desired"]["workers_raw"] == round(expected, 2)
        assert document["desired"]["workers"] == math.ceil(expected)
