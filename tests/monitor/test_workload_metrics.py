"""Workload figures go through the history store to Prometheus with bounded labels."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from prometheus_client import CollectorRegistry

from collectors.base import Window
from collectors.sql import SqlCollector
from collectors.workload import QueueWorkload, Routing
from monitor.metrics import BacklogCollector, RuntimeStats, _family
from monitor.store import history
from monitor.store.history import workload_json
from monitor.workloadmetrics import WORKLOAD_METRICS, workload_metrics
from tests.collectors import workload_data as data
from tests.collectors.test_workload import config

AS_OF = datetime(2016, 4, 1, tzinfo=UTC)


class TestWorkloadMetrics:
    def test_stored_figures_are_scraped_as_collected(
        self, tmp_path: Path, store: sa.Engine
    ) -> None:
        """Every workload family is emitted, equal to the snapshot's figures, agents bounded."""
        url = f"sqlite:///{tmp_path}/tickets.db"
        writer = sa.create_engine(url)
        data.load(writer, AS_OF.replace(tzinfo=None))
        writer.dispose()
        collector = SqlCollector(config(url, agents={"max_agents": 10, "top": 4}))
        snapshot = collector.collect(Window(AS_OF - timedelta(days=7), AS_OF))
        collector.close()
        with store.begin() as conn:
            history.record_snapshot(conn, snapshot)
        registry = CollectorRegistry()
        registry.register(BacklogCollector(store, RuntimeStats(), lambda: ["sn"], lambda: AS_OF))
        emitted = {m.name for m in registry.collect()}
        assert set(WORKLOAD_METRICS) <= emitted
        agents = set()
        for q in snapshot.queues:
            w = q.workload
            assert w is not None and w.agents is not None
            for a in w.agents:
                agents.add(a.agent)
                labels = {"source": "sn", "queue": q.queue, "agent": a.agent}
                got = registry.get_sample_value("backlog_agent_open_tickets", labels)
                assert got == a.open
            for age, n in (w.stale or {}).items():
                labels = {"source": "sn", "queue": q.queue, "age": age}
                assert registry.get_sample_value("backlog_stale_open_tickets", labels) == n
            for x in w.waiting or ():
                labels = {
                    "source": "sn",
                    "queue": q.queue,
                    "status": x.status,
                    "age_from": x.age_from,
                }
                assert registry.get_sample_value("backlog_waiting_tickets", labels) == x.count
            assert w.routing is not None
            assert (
                registry.get_sample_value(
                    "backlog_routing_misrouted_last_poll", {"source": "sn", "queue": q.queue}
                )
                == w.routing.misrouted
            )
        assert len(agents) == 5 and "other" in agents


class TestFirstAssignment:
    def test_recorded_first_assignment_is_exported_and_absent_stays_absent(self) -> None:
        """A store recording first assignments (Zendesk) gives both series, the mean being
        their ratio; a store that does not (None) gives neither, not a 0."""
        recorded = Routing(12, 3, 1, 2, assigned=10, first_assignment_s=5400.0)
        rows = [
            {"source": source, "queue": queue, "workload": workload_json(QueueWorkload(routing=r))}
            for source, queue, r in (("zd", "L1", recorded), ("sn", "L2", Routing(4, 1, 0)))
        ]
        families = {m.name: m for m in workload_metrics(rows, _family)}
        samples = {
            name: {s.labels["queue"]: s.value for s in families[name].samples}
            for name in (
                "backlog_routing_first_assigned_last_poll",
                "backlog_routing_first_assignment_seconds_last_poll",
            )
        }
        assert samples == {
            "backlog_routing_first_assigned_last_poll": {"L1": 10},
            "backlog_routing_first_assignment_seconds_last_poll": {"L1": 5400.0},
        }
        assert recorded.first_assignment_mean_s == 540.0
        assert Routing(4, 1, 0).first_assignment_mean_s is None
        assert Routing(0, assigned=0, first_assignment_s=0.0).first_assignment_mean_s is None
