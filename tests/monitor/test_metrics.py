"""Self-metrics: every family is catalogued, named and labelled as the catalogue says."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from collectors.base import FigureState
from monitor.daemon import Daemon
from monitor.errors import SourceUnavailable
from monitor.metrics import CATALOGUE
from monitor.workloadmetrics import WORKLOAD_METRICS
from tests.fakes import FakeClock, RecordingReceiver, ScriptedCollector
from tests.monitor.test_daemon import (
    QUEUE,
    RULE,
    SOURCE,
    Backlog,
    make_daemon,
    make_settings,
    registry_for,
    tick,
)


def family_name(spec_name: str) -> str:
    """The name a family is exposed under: counters drop ``_total`` (OpenMetrics)."""
    spec = CATALOGUE[spec_name]
    return spec_name.removesuffix("_total") if spec.type == "counter" else spec_name


BY_FAMILY = {family_name(name): spec for name, spec in CATALOGUE.items()}
NEEDS_CONFIG = {
    name
    for name in BY_FAMILY
    if name.startswith("backlog_forecast_")
    or name
    in {
        "backlog_recommended_agents",
        "backlog_desired_workers",
        "backlog_time_lag_seconds",
        "backlog_drain_time_seconds",
        "backlog_collector_requests",
        "backlog_collector_quota_remaining",
        "backlog_intake_events",  # webhook intake configured: tests/monitor/test_intake.py
        # a mirrored source: tests/collectors/hosted/test_udesk_mirror.py
        "backlog_collector_mirror_drift",
        # a mirror built in slices: tests/collectors/hosted/test_resumable_builds.py
        "backlog_collector_mirror_build_progress",
        # a source with folder_rotation: tests/collectors/hosted/test_helpscout_rotation.py
        "backlog_collector_counts_read_timestamp_seconds",
    }
    or name in WORKLOAD_METRICS
}
"""Emitted only with forecast rules, resourcing, a workload section or a hosted source
configured: see test_forecast_job.py, test_resourcing.py, test_workload_metrics.py and
tests/collectors/hosted/test_daemon_day.py."""


@pytest.fixture
def receivers() -> Iterator[dict[str, RecordingReceiver]]:
    """ops answers 204, audit 503 (down), legacy 400 (refuses)."""
    servers = {
        "ops": RecordingReceiver(),
        "audit": RecordingReceiver(status=503),
        "legacy": RecordingReceiver(status=400),
    }
    yield servers
    for server in servers.values():
        server.close()


@pytest.fixture
def busy(
    clock: FakeClock,
    store: sa.Engine,
    receivers: dict[str, RecordingReceiver],
) -> Iterator[tuple[Daemon, Backlog]]:
    """A daemon that has polled, failed once, fired, delivered, retried and dead-lettered."""
    breakdown = {("open", "P1"): 300, ("open", "P3"): 250, ("in_progress", "P1"): 100}
    backlog = Backlog(
        open=sum(breakdown.values()),
        breakdown=breakdown,
        created_at=[clock.now - timedelta(minutes=m) for m in range(30)],
        resolved_at=[clock.now - timedelta(minutes=m) for m in range(0, 30, 3)],
        extras={
            "age_quantiles": {"0.5": 600.0, "0.9": 3000.0, "0.99": 3500.0},
            "unassigned": 40,
            "sla_breached_open": {"first_response": 3, "resolution": 7},
            "sla_at_risk": {"first_response": 1, "resolution": 2},
            "sla_breached_window": {"first_response": 0, "resolution": 1},
            "avg_first_response_s": 1800.0,
            "avg_resolution_s": 7200.0,
            "reopened": 2,
        },
        total=True,
        figures=(FigureState("priority", True), FigureState("reopened", False, "not readable")),
    )
    collector = ScriptedCollector(SOURCE, backlog)
    settings = make_settings({name: s.url for name, s in receivers.items()}, for_="0s")
    daemon = make_daemon(settings, clock, collector, store)
    collector.error = SourceUnavailable("helpdesk: timeout")
    clock.advance(timedelta(minutes=1))
    daemon.poll(SOURCE)
    collector.error = None
    tick(daemon, clock)
    daemon.stats.count_missed("evaluate")
    yield daemon, backlog
    daemon.close()


class TestCatalogue:
    def test_every_family_is_catalogued_with_its_type_and_labels(
        self, busy: tuple[Daemon, Backlog]
    ) -> None:
        """Each emitted family matches its catalogue entry (counters exposed without _total)."""
        daemon, _ = busy
        families = list(registry_for(daemon).collect())
        assert families
        for family in families:
            assert family.name in BY_FAMILY, family.name
            spec = BY_FAMILY[family.name]
            assert family.type == spec.type
            assert family.documentation == spec.help
            for sample in family.samples:
                expected = spec.name if spec.type == "counter" else family.name
                assert sample.name == expected
                assert tuple(sorted(sample.labels)) == tuple(sorted(spec.labels)), sample

    def test_every_catalogued_metric_is_emitted_once_there_is_data(
        self, busy: tuple[Daemon, Backlog]
    ) -> None:
        """A daemon that has done every kind of work exposes every catalogued metric."""
        daemon, _ = busy
        emitted = {f.name for f in registry_for(daemon).collect() if f.samples}
        assert emitted == set(BY_FAMILY) - NEEDS_CONFIG

    def test_exposition_round_trips_through_the_text_parser(
        self, busy: tuple[Daemon, Backlog]
    ) -> None:
        """/metrics text parses back to the same families, with counter samples ending _total."""
        daemon, _ = busy
        text = generate_latest(registry_for(daemon)).decode()
        assert "# TYPE backlog_tickets_created_total counter" in text
        parsed = {f.name: f for f in text_string_to_metric_families(text)}
        assert set(parsed) == set(BY_FAMILY)
        created = parsed["backlog_tickets_created"]
        assert [s.name for s in created.samples] == ["backlog_tickets_created_total"]

    def test_catalogue_names_follow_prometheus_conventions(self) -> None:
        """Counters end in _total, nothing else does; every name has the backlog_ prefix."""
        for name, spec in CATALOGUE.items():
            assert name.startswith("backlog_")
            assert spec.type in ("counter", "gauge")
            assert name.endswith("_total") == (spec.type == "counter"), name
            assert spec.help


class TestValues:
    def test_the_queue_s_alert_and_limit_are_labelled_with_the_queue(
        self, busy: tuple[Daemon, Backlog]
    ) -> None:
        """The firing rule shows per queue, and its threshold is the queue's backlog limit."""
        daemon, _ = busy
        registry = registry_for(daemon)
        key = {"source": SOURCE, "queue": QUEUE}
        alert = {**key, "alertname": RULE, "severity": "critical", "state": "firing"}
        assert registry.get_sample_value("backlog_queue_alerts", alert) == 1
        limit = registry.get_sample_value("backlog_rule_threshold", {**key, "rule": RULE})
        assert limit == 500

    def test_open_tickets_are_broken_down_by_status_and_priority(
        self, busy: tuple[Daemon, Backlog]
    ) -> None:
        """backlog_open_tickets has one sample per (source, queue, status, priority)."""
        daemon, backlog = busy
        registry = registry_for(daemon)
        assert backlog.breakdown is not None
        for (status, priority), n in backlog.breakdown.items():
            labels = {"source": SOURCE, "queue": QUEUE, "status": status, "priority": priority}
            assert registry.get_sample_value("backlog_open_tickets", labels) == n
        [family] = [f for f in registry.collect() if f.name == "backlog_open_tickets"]
        assert len(family.samples) == len(backlog.breakdown)

    def test_queue_figures_come_from_the_latest_poll(
        self, busy: tuple[Daemon, Backlog], clock: FakeClock
    ) -> None:
        """Snapshot time, aging and counters describe the latest successful poll."""
        daemon, backlog = busy
        registry = registry_for(daemon)
        key = {"source": SOURCE, "queue": QUEUE}
        assert registry.get_sample_value("backlog_snapshot_timestamp_seconds", key) == (
            clock.now.timestamp()
        )
        assert registry.get_sample_value("backlog_oldest_ticket_age_seconds", key) == 3600
        assert (
            registry.get_sample_value("backlog_open_tickets_older_than", {**key, "age": "7d"}) == 0
        )
        assert registry.get_sample_value("backlog_tickets_created_total", key) == len(
            backlog.created_at
        )
        assert registry.get_sample_value("backlog_tickets_resolved_total", key) == len(
            backlog.resolved_at
        )

    def test_collector_health(self, busy: tuple[Daemon, Backlog], clock: FakeClock) -> None:
        """One failure then a success: up=1, one error counted, last success is now."""
        daemon, _ = busy
        registry = registry_for(daemon)
        source = {"source": SOURCE}
        assert registry.get_sample_value("backlog_collector_up", source) == 1
        assert (
            registry.get_sample_value(
                "backlog_collector_errors_total", {**source, "reason": "unavailable"}
            )
            == 1
        )
        assert registry.get_sample_value(
            "backlog_collector_last_success_timestamp_seconds", source
        ) == (clock.now.timestamp())
        duration = registry.get_sample_value("backlog_collector_duration_seconds", source)
        assert duration is not None and duration >= 0

    def test_alerts_and_delivery_outcomes(self, busy: tuple[Daemon, Backlog]) -> None:
        """A firing alert; one success, one retry (pending) and one dead letter."""
        daemon, _ = busy
        registry = registry_for(daemon)

        def value(name: str, **labels: str) -> float | None:
            return registry.get_sample_value(name, labels)

        assert value("backlog_alerts", alertname=RULE, state="firing", severity="critical") == 1
        assert (
            value("backlog_notifications_total", receiver="ops", outcome="success", reason="ok")
            == 1
        )
        assert (
            value(
                "backlog_notifications_total", receiver="audit", outcome="retry", reason="http_503"
            )
            == 1
        )
        assert (
            value(
                "backlog_notifications_total", receiver="legacy", outcome="dead", reason="http_400"
            )
            == 1
        )
        assert value("backlog_outbox_pending", receiver="audit") == 1
        assert value("backlog_outbox_pending", receiver="ops") == 0  # delivered: 0, not absent
        assert value("backlog_outbox_dead", receiver="legacy") == 1
        assert value("backlog_outbox_dead", receiver="ops") == 0
        assert value("backlog_scheduler_missed_runs_total", job="evaluate") == 1
        duration = value("backlog_rule_evaluation_duration_seconds")
        assert duration is not None and duration >= 0

    def test_a_source_never_polled_is_down(
        self, clock: FakeClock, store: sa.Engine, receiver: RecordingReceiver
    ) -> None:
        """Before any poll a configured source is exposed as up=0 without a last success."""
        collector = ScriptedCollector(SOURCE, Backlog())
        daemon = make_daemon(make_settings({"ops": receiver.url}), clock, collector, store)
        registry = registry_for(daemon)
        assert registry.get_sample_value("backlog_collector_up", {"source": SOURCE}) == 0
        assert (
            registry.get_sample_value(
                "backlog_collector_last_success_timestamp_seconds", {"source": SOURCE}
            )
            is None
        )
        daemon.close()

    def test_counters_survive_a_restart(
        self, clock: FakeClock, store: sa.Engine, receiver: RecordingReceiver
    ) -> None:
        """created/resolved totals come from the store, so a new daemon continues them."""
        backlog = Backlog(open=5, created_at=[clock.now + timedelta(minutes=m) for m in range(20)])
        settings = make_settings({"ops": receiver.url})
        key = {"source": SOURCE, "queue": QUEUE}
        first = make_daemon(settings, clock, ScriptedCollector(SOURCE, backlog), store)
        clock.advance(timedelta(minutes=10))
        first.poll(SOURCE)
        assert registry_for(first).get_sample_value("backlog_tickets_created_total", key) == 10
        first.close()
        second = make_daemon(settings, clock, ScriptedCollector(SOURCE, backlog), store)
        registry = registry_for(second)
        assert registry.get_sample_value("backlog_tickets_created_total", key) == 10
        clock.advance(timedelta(minutes=10))
        second.poll(SOURCE)
        assert registry.get_sample_value("backlog_tickets_created_total", key) == 20
        second.close()

    def test_collector_registers_on_an_injected_registry_only(
        self, busy: tuple[Daemon, Backlog]
    ) -> None:
        """Two registries can hold two collectors side by side; the global one stays clean."""
        from prometheus_client import REGISTRY

        daemon, _ = busy
        assert registry_for(daemon) is not registry_for(daemon)
        assert REGISTRY.get_sample_value("backlog_collector_up", {"source": SOURCE}) is None
        assert isinstance(registry_for(daemon), CollectorRegistry)


class TestEmptyQueue:
    def test_drained_queue_shows_zero(
        self, clock: FakeClock, store: sa.Engine, receiver: RecordingReceiver
    ) -> None:
        """A queue with nothing open exports backlog_open_tickets 0, not a missing series."""
        backlog = Backlog(open=5)
        settings = make_settings({"ops": receiver.url})
        daemon = make_daemon(settings, clock, ScriptedCollector(SOURCE, backlog), store)
        tick(daemon, clock)
        backlog.open = 0
        tick(daemon, clock)
        labels = {"source": SOURCE, "queue": QUEUE, "status": "", "priority": ""}
        assert registry_for(daemon).get_sample_value("backlog_open_tickets", labels) == 0
        daemon.close()
