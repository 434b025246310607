"""A source's total and its optional figures' states: stored, exported, selected by rules."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
import sqlalchemy as sa
from prometheus_client import CollectorRegistry

from collectors.base import TOTAL_QUEUE, FigureState, QueueStats, Snapshot, Window
from config.loader import load_settings
from monitor.metrics import BacklogCollector, RuntimeStats
from monitor.store import alerts as alert_store
from monitor.store import history
from tests.fakes import T0, FakeClock, ScriptedCollector
from tests.monitor.test_daemon import QUEUE, RULE, SOURCE, Backlog, config_yaml, make_daemon

RECEIVERS = {"ops": "http://127.0.0.1:9/hook"}
"""Never called: these tests poll and evaluate, they do not deliver."""

GONE = FigureState("first_response", False, "table article does not exist")
UNMAPPED = FigureState("reopened", False, "not mapped (reopened_at is not set)", mapped=False)


def stats(queue: str, open_: int, created: int = 0, resolved: int = 0) -> QueueStats:
    return QueueStats(
        queue=queue,
        open_by_status_priority={("open", "P1"): open_},
        created=created,
        resolved=resolved,
        oldest_age_s=60.0,
        older_than={"7d": 0, "14d": 0, "30d": 0},
    )


def overlapping(end_minute: int = 1, with_total: bool = True) -> Snapshot:
    """Two queues sharing a ticket (3 + 2 open, 4 tickets in all), with a total."""
    window = Window(T0 + timedelta(minutes=end_minute - 1), T0 + timedelta(minutes=end_minute))
    return Snapshot(
        source="s",
        window=window,
        queues=(stats("a", 3, created=2, resolved=1), stats("b", 2, created=1)),
        total=stats(TOTAL_QUEUE, 4, created=2, resolved=1) if with_total else None,
        figures=(FigureState("priority", True), GONE, UNMAPPED),
    )


def scrape(engine: sa.Engine) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(BacklogCollector(engine, RuntimeStats(), lambda: ["s"], lambda: T0))
    return registry


class TestStoredTotal:
    def test_total_is_stored_as_its_own_queue_with_counters(self, engine: sa.Engine) -> None:
        """The total is a __total__ row with its own counters, not the sum of the queues."""
        with engine.begin() as conn:
            history.record_snapshot(conn, overlapping(1))
            history.record_snapshot(conn, overlapping(2))
        with engine.connect() as conn:
            latest = {r["queue"]: r for r in history.latest(conn)}
            counters = {r["queue"]: r for r in history.counters(conn)}
        assert latest[TOTAL_QUEUE]["open_total"] == 4
        assert latest["a"]["open_total"] + latest["b"]["open_total"] == 5
        assert counters[TOTAL_QUEUE]["created_total"] == 4
        assert counters[TOTAL_QUEUE]["resolved_total"] == 2

    def test_a_poll_without_total_stores_no_empty_total(self, engine: sa.Engine) -> None:
        """A later snapshot without a total leaves the total unknown, never 0."""
        with engine.begin() as conn:
            history.record_snapshot(conn, overlapping(1))
            history.record_snapshot(conn, overlapping(2, with_total=False))
        with engine.connect() as conn:
            rows = history.series(conn, T0, T0 + timedelta(minutes=2))
        assert [r["open_total"] for r in rows[("s", TOTAL_QUEUE)]] == [4]
        assert [r["open_total"] for r in rows[("s", "b")]] == [2, 2]

    def test_figures_are_kept_with_the_source(self, engine: sa.Engine) -> None:
        """source_health returns each optional figure's state of the latest poll, with why."""
        with engine.begin() as conn:
            history.record_snapshot(conn, overlapping(1))
        with engine.connect() as conn:
            figures = history.source_health(conn)["s"].figures
        assert figures is not None
        assert figures["priority"]["available"] is True
        assert figures["first_response"] == {
            "available": False,
            "mapped": True,
            "reason": "table article does not exist",
        }
        assert figures["reopened"]["mapped"] is False

    def test_total_is_rolled_up_like_a_queue(self, engine: sa.Engine) -> None:
        """The hourly rollups, which the forecasts read, have the total as a queue."""
        with engine.begin() as conn:
            history.record_snapshot(conn, overlapping(1))
            history.roll_up(conn, T0, T0 + timedelta(hours=1))
            rollups = history.rollup_series(conn, T0, T0 + timedelta(hours=1))
        assert [r["open_last"] for r in rollups[("s", TOTAL_QUEUE)]] == [4]


class TestSourceMetrics:
    def test_total_metrics_count_each_ticket_once(self, store: sa.Engine) -> None:
        """backlog_source_* give the total; no per-queue metric has queue="__total__"."""
        with store.begin() as conn:
            history.record_snapshot(conn, overlapping(1))
        registry = scrape(store)
        assert registry.get_sample_value("backlog_source_open_tickets", {"source": "s"}) == 4
        created = registry.get_sample_value("backlog_source_tickets_created_total", {"source": "s"})
        assert created == 2
        resolved = "backlog_source_tickets_resolved_total"
        assert registry.get_sample_value(resolved, {"source": "s"}) == 1
        queues = {
            s.labels.get("queue")
            for family in registry.collect()
            for s in family.samples
            if "queue" in s.labels
        }
        assert queues == {"a", "b"}

    def test_figure_availability_is_exported(self, store: sa.Engine) -> None:
        """1 for a figure the source gave, 0 for one it cannot give (unreadable or unmapped)."""
        with store.begin() as conn:
            history.record_snapshot(conn, overlapping(1))
        registry = scrape(store)

        def available(figure: str) -> float | None:
            labels = {"source": "s", "figure": figure}
            return registry.get_sample_value("backlog_collector_figure_available", labels)

        assert (available("priority"), available("first_response"), available("reopened")) == (
            1.0,
            0.0,
            0.0,
        )


TOTAL_RULE = f"""
  - name: TotalHigh
    metric: open_tickets
    match: {{queue: {TOTAL_QUEUE}}}
    op: ">"
    threshold: 500
"""


class TestDaemonWithTotals:
    def test_rules_see_the_total_only_by_name(self, clock: FakeClock, store: sa.Engine) -> None:
        """A rule over every queue fires for the queue alone; match queue __total__ fires once
        for the source."""
        yaml = config_yaml(RECEIVERS, for_="0s").replace(
            "receivers:\n", TOTAL_RULE + "receivers:\n"
        )
        backlog = Backlog(open=600, total=True)
        daemon = make_daemon(
            load_settings(text=yaml), clock, ScriptedCollector(SOURCE, backlog), store
        )
        clock.advance(timedelta(minutes=1))
        daemon.poll(SOURCE)
        daemon.evaluate()
        with store.connect() as conn:
            firing = {
                (i.rule, i.labels["queue"])
                for i in alert_store.load_instances(conn).values()
                if i.rule != "CollectorDown"
            }
        daemon.close()
        assert firing == {(RULE, QUEUE), ("TotalHigh", TOTAL_QUEUE)}

    def test_a_queue_named_like_the_total_refuses_the_poll(
        self, clock: FakeClock, store: sa.Engine
    ) -> None:
        """A help-desk queue literally named __total__ would merge with the source's
        total: the poll fails as a mapping error with reason reserved_queue, names the
        remedy, and stores nothing; the source reads as down, not as a wrong total."""
        settings = load_settings(text=config_yaml(RECEIVERS))

        def clash(window: Window) -> Snapshot:
            queues = (stats("a", 3), stats(TOTAL_QUEUE, 5))
            return Snapshot(
                source=SOURCE, window=window, queues=queues, total=stats(TOTAL_QUEUE, 8)
            )

        daemon = make_daemon(settings, clock, ScriptedCollector(SOURCE, clash), store)
        clock.advance(timedelta(minutes=1))
        assert daemon.poll(SOURCE) is False
        daemon.close()
        assert daemon.stats.collector_errors == {(SOURCE, "reserved_queue"): 1}
        with store.connect() as conn:
            assert history.latest(conn) == []
            health = history.source_health(conn)[SOURCE]
        assert not health.up
        assert "named '__total__'" in (health.last_error or "")
        assert "rename that queue" in (health.last_error or "")

    def test_an_absent_figure_is_warned_once(
        self, clock: FakeClock, store: sa.Engine, caplog: pytest.LogCaptureFixture
    ) -> None:
        """The first poll without a figure warns with the reason; the next ones stay quiet;
        an unmapped figure is never warned about."""
        backlog = Backlog(open=1, figures=(GONE, UNMAPPED))
        settings = load_settings(text=config_yaml(RECEIVERS))
        daemon = make_daemon(settings, clock, ScriptedCollector(SOURCE, backlog), store)
        with caplog.at_level(logging.INFO, logger="monitor.daemon"):
            for _ in range(3):
                clock.advance(timedelta(minutes=1))
                daemon.poll(SOURCE)
            backlog.figures = (FigureState("first_response", True), UNMAPPED)
            clock.advance(timedelta(minutes=1))
            daemon.poll(SOURCE)
        daemon.close()
        messages = [r.getMessage() for r in caplog.records if "first_response" in r.getMessage()]
        assert messages == [
            f"source {SOURCE} cannot give first_response; it is absent (not 0) until fixed:"
            " table article does not exist",
            f"source {SOURCE} gives first_response again",
        ]
        assert not [r for r in caplog.records if "reopened" in r.getMessage()]
