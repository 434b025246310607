"""Self-metrics: a catalogue, and one custom collector that reads the store at scrape time.

Registered on an injected :class:`CollectorRegistry`, never the global one.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from alerting.limits import backlog_limits
from alerting.state import AlertInstance, AlertState
from monitor.resourcing import load_documents
from monitor.sourcemetrics import per_queue, source_metrics
from monitor.store import alerts as alert_store
from monitor.store import forecasting as forecast_store
from monitor.store import history
from monitor.store import outbox as outbox_store
from monitor.workloadmetrics import workload_metrics


@dataclass(frozen=True)
class MetricSpec:
    """One catalogued metric."""

    name: str
    type: str
    labels: tuple[str, ...]
    help: str


CATALOGUE: dict[str, MetricSpec] = {
    m.name: m
    for m in (
        MetricSpec(
            "backlog_open_tickets",
            "gauge",
            ("source", "queue", "status", "priority"),
            "Open tickets at the latest successful poll.",
        ),
        MetricSpec(
            "backlog_tickets_created_total",
            "counter",
            ("source", "queue"),
            "Tickets created, counted over consecutive half-open poll windows.",
        ),
        MetricSpec(
            "backlog_tickets_resolved_total",
            "counter",
            ("source", "queue"),
            "Tickets resolved, counted over consecutive half-open poll windows.",
        ),
        MetricSpec(
            "backlog_source_open_tickets",
            "gauge",
            ("source",),
            "Open tickets of the whole source, each counted once (not the sum of its queues"
            " when a ticket can be in several).",
        ),
        MetricSpec(
            "backlog_source_tickets_created_total",
            "counter",
            ("source",),
            "Tickets created in the whole source, each counted once.",
        ),
        MetricSpec(
            "backlog_source_tickets_resolved_total",
            "counter",
            ("source",),
            "Tickets resolved in the whole source, each counted once.",
        ),
        MetricSpec(
            "backlog_oldest_ticket_age_seconds",
            "gauge",
            ("source", "queue"),
            "Age of the oldest open ticket.",
        ),
        MetricSpec(
            "backlog_open_tickets_older_than",
            "gauge",
            ("source", "queue", "age"),
            "Open tickets older than 7, 14 and 30 days.",
        ),
        MetricSpec(
            "backlog_ticket_age_seconds",
            "gauge",
            ("source", "queue", "quantile"),
            "Open-ticket age quantiles (nearest rank).",
        ),
        MetricSpec(
            "backlog_unassigned_open_tickets",
            "gauge",
            ("source", "queue"),
            "Open tickets with no assignee.",
        ),
        MetricSpec(
            "backlog_sla_breached_open_tickets",
            "gauge",
            ("source", "queue", "sla"),
            "Open tickets already past their SLA deadline.",
        ),
        MetricSpec(
            "backlog_sla_at_risk_tickets",
            "gauge",
            ("source", "queue", "sla"),
            "Open tickets whose SLA deadline falls within the at-risk margin.",
        ),
        MetricSpec(
            "backlog_sla_missed_last_poll",
            "gauge",
            ("source", "queue", "sla"),
            "SLA deadlines that fell in the latest poll window and were missed.",
        ),
        MetricSpec(
            "backlog_first_response_time_avg_seconds",
            "gauge",
            ("source", "queue"),
            "Mean first-response time of the tickets resolved in the latest window.",
        ),
        MetricSpec(
            "backlog_resolution_time_avg_seconds",
            "gauge",
            ("source", "queue"),
            "Mean resolution time of the tickets resolved in the latest window.",
        ),
        MetricSpec(
            "backlog_tickets_reopened_last_poll",
            "gauge",
            ("source", "queue"),
            "Tickets reopened in the latest poll window.",
        ),
        MetricSpec(
            "backlog_forecast_open_tickets",
            "gauge",
            ("source", "queue", "horizon", "bound"),
            "Forecast open tickets 1h, 6h and 24h ahead: point, lower and upper band.",
        ),
        MetricSpec(
            "backlog_forecast_breach_eta_seconds",
            "gauge",
            ("source", "queue", "rule"),
            "Time until the forecast band crosses the rule's limit (absent: no breach).",
        ),
        MetricSpec(
            "backlog_forecast_breach_probability",
            "gauge",
            ("source", "queue", "rule"),
            "Probability that the queue crosses the rule's limit within its horizon.",
        ),
        MetricSpec(
            "backlog_forecast_model",
            "gauge",
            ("source", "queue", "model", "status"),
            "The model forecasting each queue (value 1).",
        ),
        MetricSpec(
            "backlog_forecast_backtest_mase",
            "gauge",
            ("source", "queue"),
            "Backtest MASE of the selected model at the alert horizon.",
        ),
        MetricSpec(
            "backlog_recommended_agents",
            "gauge",
            ("source", "queue"),
            "Stabilised agents recommended for the queue's objective (humans).",
        ),
        MetricSpec(
            "backlog_desired_workers",
            "gauge",
            ("source", "queue"),
            "Workers the autoscaler should run (desired.workers of the KEDA document).",
        ),
        MetricSpec(
            "backlog_time_lag_seconds",
            "gauge",
            ("source", "queue"),
            "Expected wait of a ticket arriving now, at the current throughput.",
        ),
        MetricSpec(
            "backlog_drain_time_seconds",
            "gauge",
            ("source", "queue"),
            "Time to empty the backlog at the current rates (absent: it grows).",
        ),
        MetricSpec(
            "backlog_snapshot_timestamp_seconds",
            "gauge",
            ("source", "queue"),
            "When the figures of the queue were measured (the poll's as-of time).",
        ),
        MetricSpec(
            "backlog_collector_up",
            "gauge",
            ("source",),
            "1 when the latest poll of the source succeeded, else 0.",
        ),
        MetricSpec(
            "backlog_collector_duration_seconds",
            "gauge",
            ("source",),
            "Duration of the latest poll of the source.",
        ),
        MetricSpec(
            "backlog_collector_figure_available",
            "gauge",
            ("source", "figure"),
            "1 when the source gave the optional figure at its latest successful poll, 0 when"
            " it cannot (not mapped, a table missing or not readable: see the logs).",
        ),
        MetricSpec(
            "backlog_collector_errors_total",
            "counter",
            ("source", "reason"),
            "Failed polls since the daemon started, by reason.",
        ),
        MetricSpec(
            "backlog_collector_last_success_timestamp_seconds",
            "gauge",
            ("source",),
            "When the source was last polled successfully.",
        ),
        MetricSpec(
            "backlog_alerts",
            "gauge",
            ("alertname", "state", "severity"),
            "Alert instances by rule, state and severity.",
        ),
        MetricSpec(
            "backlog_queue_alerts",
            "gauge",
            ("alertname", "source", "queue", "severity", "state"),
            "Pending and firing alert instances per queue (Grafana annotations).",
        ),
        MetricSpec(
            "backlog_rule_threshold",
            "gauge",
            ("rule", "source", "queue"),
            "The limit a rule puts on the queue's open tickets (threshold and forecast rules).",
        ),
        MetricSpec(
            "backlog_notifications_total",
            "counter",
            ("receiver", "outcome", "reason"),
            "Delivery attempts since the daemon started, by outcome.",
        ),
        MetricSpec(
            "backlog_outbox_pending", "gauge", ("receiver",), "Notifications waiting in the outbox."
        ),
        MetricSpec(
            "backlog_outbox_dead",
            "gauge",
            ("receiver",),
            "Notifications given up on (dead letters).",
        ),
        MetricSpec(
            "backlog_scheduler_missed_runs_total",
            "counter",
            ("job",),
            "Scheduled runs skipped because the previous run was still going or late.",
        ),
        MetricSpec(
            "backlog_intake_events_total",
            "counter",
            ("source", "result"),
            "Webhook deliveries received per source, by result (accepted, coalesced, ping, "
            "replayed, missing_signature, bad_signature, too_large).",
        ),
        MetricSpec(
            "backlog_rule_evaluation_duration_seconds",
            "gauge",
            (),
            "Duration of the latest rule evaluation tick.",
        ),
        # -- workload (monitor.workloadmetrics) --
        MetricSpec(
            "backlog_agent_open_tickets",
            "gauge",
            ("source", "queue", "agent"),
            "Open tickets per agent (bounded: every agent up to max_agents, else top + other).",
        ),
        MetricSpec(
            "backlog_agent_oldest_ticket_age_seconds",
            "gauge",
            ("source", "queue", "agent"),
            "Age of each agent's oldest open ticket.",
        ),
        MetricSpec(
            "backlog_queue_agents_with_work",
            "gauge",
            ("source", "queue"),
            "Agents with at least one open ticket in the queue.",
        ),
        MetricSpec(
            "backlog_queue_agent_load_max",
            "gauge",
            ("source", "queue"),
            "Open tickets of the busiest agent of the queue.",
        ),
        MetricSpec(
            "backlog_queue_agent_load_median",
            "gauge",
            ("source", "queue"),
            "Median open tickets of the agents with work in the queue.",
        ),
        MetricSpec(
            "backlog_queue_busiest_agents_share",
            "gauge",
            ("source", "queue"),
            "Share of the queue's assigned open tickets held by its busiest 10 % of agents.",
        ),
        MetricSpec(
            "backlog_stale_open_tickets",
            "gauge",
            ("source", "queue", "age"),
            "Open tickets with no update for longer than each configured age.",
        ),
        MetricSpec(
            "backlog_oldest_update_age_seconds",
            "gauge",
            ("source", "queue"),
            "Time since the least recently updated open ticket was updated.",
        ),
        MetricSpec(
            "backlog_waiting_tickets",
            "gauge",
            ("source", "queue", "status", "age_from"),
            "Open tickets in each configured waiting status.",
        ),
        MetricSpec(
            "backlog_waiting_oldest_age_seconds",
            "gauge",
            ("source", "queue", "status", "age_from"),
            "Longest time in the waiting status (age_from: status_history or last_update).",
        ),
        MetricSpec(
            "backlog_routing_reassignments_last_poll",
            "gauge",
            ("source", "queue"),
            "Reassignments of the tickets resolved in the latest poll window.",
        ),
        MetricSpec(
            "backlog_routing_reopened_last_poll",
            "gauge",
            ("source", "queue"),
            "Tickets resolved in the latest poll window that had been reopened.",
        ),
        MetricSpec(
            "backlog_routing_misrouted_last_poll",
            "gauge",
            ("source", "queue"),
            "Tickets resolved in the latest poll window moved to another queue after their"
            " first assignment (only where a status history records moves).",
        ),
        MetricSpec(
            "backlog_routing_first_assigned_last_poll",
            "gauge",
            ("source", "queue"),
            "Tickets resolved in the latest poll window whose first assignment the store"
            " records (Zendesk's initially_assigned_at).",
        ),
        MetricSpec(
            "backlog_routing_first_assignment_seconds_last_poll",
            "gauge",
            ("source", "queue"),
            "Their times from creation to first assignment, summed: divided by"
            " backlog_routing_first_assigned_last_poll, the mean wait for an agent.",
        ),
        MetricSpec(
            "backlog_category_open_tickets",
            "gauge",
            ("source", "queue", "category"),
            "Open tickets of the top N categories, the rest as other.",
        ),
        MetricSpec(
            "backlog_category_created_last_poll",
            "gauge",
            ("source", "queue", "category"),
            "Tickets created in the latest poll window, top N categories and other.",
        ),
        MetricSpec(
            "backlog_collector_requests_total",
            "counter",
            ("source", "endpoint", "code"),
            "HTTP requests a hosted source's collector sent, by endpoint and answer (status"
            " code, or timeout/error).",
        ),
        MetricSpec(
            "backlog_collector_quota_remaining",
            "gauge",
            ("source",),
            "API quota left as the hosted store last reported it (daily credits where the"
            " store has them, else requests this minute).",
        ),
        MetricSpec(
            "backlog_collector_exactness",
            "gauge",
            ("source", "exactness"),
            "1 for how exact the source's latest figures are: exact, approximate (Jira's"
            " approximate count), lagging (a search index behind the store) or sampled.",
        ),
        MetricSpec(
            "backlog_collector_mirror_drift",
            "gauge",
            ("source", "queue"),
            "Open tickets in the source's local mirror minus the store's own count, per"
            " queue, at the latest reconciliation (the mirror's age figures are not to be"
            " trusted while it is far from 0).",
        ),
        MetricSpec(
            "backlog_collector_mirror_build_progress",
            "gauge",
            ("source",),
            "Fraction of the source's local mirror built (1: built). While it is below 1,"
            " the figures read from the mirror (ages; Udesk's rotating and Fxiaoke's open"
            " counts) are absent.",
        ),
        MetricSpec(
            "backlog_collector_counts_read_timestamp_seconds",
            "gauge",
            ("source", "queue"),
            "When the queue's open counts were last read from the store (Unix time), for a"
            " source that may read a slice of its queues each poll (Help Scout, with"
            " folder_rotation): time() minus it is how old the counts are.",
        ),
        MetricSpec(
            "backlog_leader",
            "gauge",
            (),
            "1 on the replica that evaluates rules and sends notifications, 0 on the others.",
        ),
    )
}


class RuntimeStats:
    """Counters kept in memory by the daemon (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.collector_errors: dict[tuple[str, str], int] = defaultdict(int)
        self.collector_duration: dict[str, float] = {}
        self.notifications: dict[tuple[str, str, str], int] = defaultdict(int)
        self.missed_runs: dict[str, int] = defaultdict(int)
        self.intake_events: dict[tuple[str, str], int] = defaultdict(int)
        self.evaluation_duration: float | None = None
        self.http: dict[str, Any] = {}
        """Each hosted source's ``collectors.hosted.HttpStats``, by source."""
        self.exactness: dict[str, str] = {}
        """The exactness of each source's latest snapshot."""
        self.mirror_drift: dict[str, tuple[tuple[str, int], ...]] = {}
        """Each mirrored source's drift per queue at its latest reconciliation."""
        self.build_progress: dict[str, float] = {}
        """How much of each mirrored source's mirror is built (1: built)."""
        self.counts_read: dict[str, tuple[tuple[str, float], ...]] = {}
        """When each rotating source's queues' counts were read (Unix time), by source."""
        self.leader: bool | None = None
        self._changes = 0

    def touch(self) -> None:
        """Something ``/metrics`` shows has changed (the store engine calls this on every
        commit): the cached exposition is rendered again at the next scrape."""
        with self._lock:
            self._changes += 1

    def version(self) -> Hashable:
        """Changes whenever a figure of ``/metrics`` may have: the commits and counts seen,
        and the figures set directly (durations, exactness, role, hosted sources' requests
        and quota). Cheap: one tuple of a few numbers per source."""
        http = tuple(
            (source, sum(dict(stats.requests).values()), stats.quota_remaining)
            for source, stats in sorted(dict(self.http).items())
        )
        return (
            self._changes,
            self.evaluation_duration,
            self.leader,
            tuple(sorted(dict(self.collector_duration).items())),
            tuple(sorted(dict(self.exactness).items())),
            tuple(sorted(dict(self.mirror_drift).items())),
            tuple(sorted(dict(self.build_progress).items())),
            tuple(sorted(dict(self.counts_read).items())),
            http,
        )

    def set_drift(self, source: str, drift: Mapping[str, int]) -> None:
        """A mirrored source's drift per queue (mirror minus store) as just reconciled."""
        self.mirror_drift[source] = tuple(sorted(drift.items()))

    def set_counts_read(self, source: str, read_at: Mapping[str, datetime]) -> None:
        """When a rotating source's queues' counts were read, as of its latest poll."""
        self.counts_read[source] = tuple(sorted((q, t.timestamp()) for q, t in read_at.items()))

    def set_role(self, role: str) -> None:
        """This replica's role as the leader lease last said (``leader`` or ``follower``)."""
        self.leader = role == "leader"

    def count_error(self, source: str, reason: str) -> None:
        with self._lock:
            self.collector_errors[(source, reason)] += 1
            self._changes += 1

    def count_notification(self, receiver: str, outcome: str, reason: str) -> None:
        with self._lock:
            self.notifications[(receiver, outcome, reason)] += 1
            self._changes += 1

    def count_missed(self, job: str) -> None:
        with self._lock:
            self.missed_runs[job] += 1
            self._changes += 1

    def count_intake(self, source: str, result: str) -> None:
        with self._lock:
            self.intake_events[(source, result)] += 1


def _family(name: str) -> GaugeMetricFamily | CounterMetricFamily:
    spec = CATALOGUE[name]
    cls = CounterMetricFamily if spec.type == "counter" else GaugeMetricFamily
    base = name.removesuffix("_total") if spec.type == "counter" else name
    return cls(base, spec.help, labels=list(spec.labels))


def _http_metrics(stats: RuntimeStats) -> Iterator[Metric]:
    """Hosted sources' requests and quota, and every source's exactness."""
    requests = _family("backlog_collector_requests_total")
    quota = _family("backlog_collector_quota_remaining")
    for source, http in sorted(stats.http.items()):
        for (endpoint, code), n in sorted(dict(http.requests).items()):
            requests.add_metric([source, endpoint, code], n)
        if http.quota_remaining is not None:
            quota.add_metric([source], http.quota_remaining)
    exactness = _family("backlog_collector_exactness")
    for source, value in sorted(stats.exactness.items()):
        exactness.add_metric([source, value], 1.0)
    drift = _family("backlog_collector_mirror_drift")
    for source, queues in sorted(dict(stats.mirror_drift).items()):
        for queue, n in queues:
            drift.add_metric([source, queue], n)
    building = _family("backlog_collector_mirror_build_progress")
    for source, progress in sorted(dict(stats.build_progress).items()):
        building.add_metric([source], progress)
    read = _family("backlog_collector_counts_read_timestamp_seconds")
    for source, read_at in sorted(dict(stats.counts_read).items()):
        for queue, at in read_at:
            read.add_metric([source, queue], at)
    yield from (requests, quota, exactness, drift, building, read)


def _resourcing_metrics(states: dict[tuple[str, str], dict[str, Any]]) -> Iterator[Metric]:
    agents = _family("backlog_recommended_agents")
    workers = _family("backlog_desired_workers")
    lag = _family("backlog_time_lag_seconds")
    drain = _family("backlog_drain_time_seconds")
    for (source, queue), state in sorted(states.items()):
        key = [source, queue]
        document = state.get("document", {})
        desired = document.get("desired", {}).get("workers")
        value = state.get("stabiliser", {}).get("value")
        if state.get("resource") == "humans" and value is not None:
            agents.add_metric(key, value)
        if desired is not None:
            workers.add_metric(key, desired)
        if document.get("time_lag_seconds") is not None:
            lag.add_metric(key, document["time_lag_seconds"])
        if document.get("drain_time_seconds") is not None:
            drain.add_metric(key, document["drain_time_seconds"])
    yield from (agents, workers, lag, drain)


def _forecast_metrics(rows: list[dict[str, Any]], rules: list[Any]) -> Iterator[Metric]:
    values = _family("backlog_forecast_open_tickets")
    eta = _family("backlog_forecast_breach_eta_seconds")
    probability = _family("backlog_forecast_breach_probability")
    model = _family("backlog_forecast_model")
    mase = _family("backlog_forecast_backtest_mase")
    for row in rows:
        key = [row["source"], row["queue"]]
        for hours in (1, 6, 24):
            for bound in ("point", "lower", "upper"):
                series = row[bound]
                if len(series) >= hours:
                    values.add_metric([*key, f"{hours}h", bound], series[hours - 1])
        model.add_metric([*key, row["model"], row["status"]], 1)
        if row["backtest_mase"] is not None:
            mase.add_metric(key, row["backtest_mase"])
        detail = row.get("detail") or {}
        for rule in rules:
            if rule.name in detail.get("eta_seconds", {}):
                seconds = detail["eta_seconds"][rule.name]
                if seconds is not None:
                    eta.add_metric([*key, rule.name], seconds)
            steps = max(1, int(rule.horizon.total_seconds() // 3600))
            found = detail.get("breach", {}).get(f"{rule.threshold:g}@{steps}")
            if found is not None:
                probability.add_metric([*key, rule.name], found)
    yield from (values, eta, probability, model, mase)


def _queue_alert_metrics(instances: Iterable[AlertInstance]) -> Metric:
    per_queue = _family("backlog_queue_alerts")
    counts: dict[tuple[str, ...], int] = defaultdict(int)
    for inst in instances:
        if inst.state in (AlertState.PENDING, AlertState.FIRING):
            get = inst.labels.get
            key = (get("source", ""), get("queue", ""), get("severity", ""), inst.state.value)
            counts[(inst.rule, *key)] += 1
    for labels, n in sorted(counts.items()):
        per_queue.add_metric(list(labels), n)
    return per_queue


def _limit_metrics(rules: Sequence[Any], keys: list[tuple[str, str]]) -> Iterator[Metric]:
    threshold = _family("backlog_rule_threshold")
    for (source, queue), found in sorted(backlog_limits(rules, keys).items()):
        for limit in found:
            threshold.add_metric([limit.rule, source, queue], limit.limit)
    yield threshold


class _QueueExtras:
    """The figures only some sources give (quantiles, SLA, durations): absent, never 0."""

    KEYED = (
        ("age_quantiles", "backlog_ticket_age_seconds"),
        ("sla_breached_open", "backlog_sla_breached_open_tickets"),
        ("sla_at_risk", "backlog_sla_at_risk_tickets"),
        ("sla_breached_window", "backlog_sla_missed_last_poll"),
    )
    PLAIN = (
        ("unassigned", "backlog_unassigned_open_tickets"),
        ("avg_first_response_s", "backlog_first_response_time_avg_seconds"),
        ("avg_resolution_s", "backlog_resolution_time_avg_seconds"),
        ("reopened", "backlog_tickets_reopened_last_poll"),
    )

    def __init__(self) -> None:
        self._families = {name: _family(name) for _, name in (*self.KEYED, *self.PLAIN)}

    def add(self, row: history.Row) -> None:
        key = [row["source"], row["queue"]]
        for column, name in self.KEYED:
            for label, value in (row.get(column) or {}).items():
                self._families[name].add_metric([*key, label], value)
        for column, name in self.PLAIN:
            if row.get(column) is not None:
                self._families[name].add_metric(key, row[column])

    def families(self) -> list[Metric]:
        return list(self._families.values())


class BacklogCollector(Collector):
    """Exposes the store's latest figures and the daemon's runtime stats."""

    def __init__(
        self,
        engine: sa.Engine,
        stats: RuntimeStats,
        sources: Callable[[], list[str]],
        clock: Callable[[], datetime],
        rules: Sequence[Any] = (),
    ) -> None:
        self._engine = engine
        self._stats = stats
        self._sources = sources
        self._clock = clock
        self._rules = rules

    def _forecast_rules(self) -> list[Any]:
        return [r for r in self._rules if getattr(r, "kind", "") == "forecast"]

    def collect(self) -> Iterator[Metric]:
        with self._engine.connect() as conn:
            latest = history.latest(conn)
            counters = history.counters(conn)
            health = history.source_health(conn)
            instances = alert_store.load_instances(conn)
            outbox = outbox_store.pending_counts(conn)
            forecasts = forecast_store.load_forecasts(conn)
            resourcing = load_documents(conn)
        yield from self._queue_metrics(per_queue(latest), per_queue(counters))
        yield from source_metrics(latest, counters, health, self._sources(), _family)
        yield from _limit_metrics(self._rules, [(r["source"], r["queue"]) for r in latest])
        yield from self._collector_metrics(health)
        yield from self._alert_metrics(instances.values(), outbox)
        yield _queue_alert_metrics(instances.values())
        yield from _forecast_metrics(forecasts, self._forecast_rules())
        yield from _resourcing_metrics(resourcing)
        yield from workload_metrics(per_queue(latest), _family)

    def _queue_metrics(
        self, latest: list[history.Row], counters: list[history.Row]
    ) -> Iterator[Metric]:
        open_ = _family("backlog_open_tickets")
        oldest = _family("backlog_oldest_ticket_age_seconds")
        older = _family("backlog_open_tickets_older_than")
        stamp = _family("backlog_snapshot_timestamp_seconds")
        extra = _QueueExtras()
        for row in latest:
            extra.add(row)
            key = [row["source"], row["queue"]]
            for status, priority, n in row["open_breakdown"]:
                open_.add_metric([*key, status, priority], n)
            if not row["open_breakdown"]:  # an empty queue is 0, not a vanished series
                open_.add_metric([*key, "", ""], 0)
            if row["oldest_age_s"] is not None:
                oldest.add_metric(key, row["oldest_age_s"])
            for age, n in (row["older_than"] or {}).items():
                older.add_metric([*key, age], n)
            stamp.add_metric(key, row["ts"].timestamp())
        created = _family("backlog_tickets_created_total")
        resolved = _family("backlog_tickets_resolved_total")
        for row in counters:
            key = [row["source"], row["queue"]]
            created.add_metric(key, row["created_total"])
            resolved.add_metric(key, row["resolved_total"])
        yield from (open_, oldest, older, stamp, created, resolved, *extra.families())

    def _collector_metrics(self, health: dict[str, history.SourceHealth]) -> Iterator[Metric]:
        up = _family("backlog_collector_up")
        duration = _family("backlog_collector_duration_seconds")
        last_ok = _family("backlog_collector_last_success_timestamp_seconds")
        for source in self._sources():
            state = health.get(source)
            up.add_metric([source], 1.0 if state is not None and state.up else 0.0)
            if state is not None and state.last_success_at is not None:
                last_ok.add_metric([source], state.last_success_at.timestamp())
            if source in self._stats.collector_duration:
                duration.add_metric([source], self._stats.collector_duration[source])
        errors = _family("backlog_collector_errors_total")
        for (source, reason), n in sorted(self._stats.collector_errors.items()):
            errors.add_metric([source, reason], n)
        missed = _family("backlog_scheduler_missed_runs_total")
        for job, n in sorted(self._stats.missed_runs.items()):
            missed.add_metric([job], n)
        intake = _family("backlog_intake_events_total")
        for (source, result), n in sorted(self._stats.intake_events.items()):
            intake.add_metric([source, result], n)
        yield from (up, duration, last_ok, errors, missed, intake)
        yield from _http_metrics(self._stats)

    def _alert_metrics(
        self, instances: object, outbox: dict[tuple[str, str], int]
    ) -> Iterator[Metric]:
        alerts = _family("backlog_alerts")
        counts: dict[tuple[str, str, str], int] = defaultdict(int)
        for inst in instances:  # type: ignore[attr-defined]
            if inst.state is not AlertState.INACTIVE:
                counts[(inst.rule, inst.state.value, inst.labels.get("severity", ""))] += 1
        for labels, n in sorted(counts.items()):
            alerts.add_metric(list(labels), n)
        notifications = _family("backlog_notifications_total")
        for labels3, n in sorted(self._stats.notifications.items()):
            notifications.add_metric(list(labels3), n)
        pending = _family("backlog_outbox_pending")
        dead = _family("backlog_outbox_dead")
        # Every receiver the outbox has seen gets both gauges, 0 included: an empty outbox
        # is a value to graph, not a series that vanishes.
        for receiver in sorted({r for r, _ in outbox}):
            pending.add_metric([receiver], outbox.get((receiver, outbox_store.PENDING), 0))
            dead.add_metric([receiver], outbox.get((receiver, outbox_store.DEAD), 0))
        evaluation = _family("backlog_rule_evaluation_duration_seconds")
        if self._stats.evaluation_duration is not None:
            evaluation.add_metric([], self._stats.evaluation_duration)
        leader = _family("backlog_leader")
        if self._stats.leader is not None:
            leader.add_metric([], 1.0 if self._stats.leader else 0.0)
        yield from (alerts, notifications, pending, dead, evaluation, leader)
