"""The daemon's work, one method per scheduled job: poll, evaluate, deliver, maintain.

Each method is a short wrapper: read the clock once, call pure code, write the store
in one transaction. Tests call them directly with a fake clock; the scheduler calls
them on intervals. This module is the only broad error boundary for jobs.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from alerting import engine as alert_engine
from alerting.delivery import STANDARD_WEBHOOKS_SCHEDULE, RetryPolicy, Verdict, after_failure
from alerting.destinations import AllowList, guarded_session
from alerting.notifiers import REGISTRY as NOTIFIERS
from alerting.notifiers.base import Notifier
from alerting.rules import CollectorDownRule, EvalContext, RuleBase, expand_tiers
from collectors import REGISTRY as COLLECTORS
from collectors.base import Collector, Snapshot, Window, reserved_queue_names
from collectors.hosted.build import BuildingMirror, MirrorBuilding
from collectors.hosted.mirror import Mirror, MirrorUser
from collectors.hosted.rotation import RotatingCounts
from config.settings import Settings
from monitor import backfill, notifying, resourcing
from monitor.clock import Clock, utcnow
from monitor.errors import (
    CollectorError,
    LeaseLost,
    NotifierError,
    ReservedQueueName,
    StoreError,
)
from monitor.forecasting import ForecastJob
from monitor.leadership import Leadership, build_leadership
from monitor.lease import Fence, Role
from monitor.metrics import RuntimeStats
from monitor.report.mail import REPORT_EMAIL, ReportEmailNotifier
from monitor.store import alerts as alert_store
from monitor.store import forecasting as forecast_store
from monitor.store import history
from monitor.store import leases as lease_store
from monitor.store import notifying as notify_store
from monitor.store import outbox as outbox_store
from monitor.store.engine import describe, migrate, open_store

log = logging.getLogger(__name__)

MAX_GAP = timedelta(minutes=15)
"""The least of :func:`max_gap`: NTP steps and short stops count in full."""


@dataclass
class _Backoff:
    """When a failing source may be polled again (wall-clock seconds, monotonic)."""

    failures: int = 0
    not_before: float = 0.0


@dataclass
class Readiness:
    """Why the daemon is or is not ready to serve."""

    migrated: bool = False
    polled: set[str] = field(default_factory=set)

    def reasons(self, sources: list[str]) -> list[str]:
        out = [] if self.migrated else ["the history store is not migrated yet"]
        out += [
            f"source {s!r} has not been polled successfully yet"
            for s in sources
            if s not in self.polled
        ]
        return out


class Daemon:
    """Wires configuration, store, collectors and notifiers; owns no thread of its own."""

    def __init__(
        self,
        settings: Settings,
        clock: Clock = utcnow,
        collectors: Mapping[str, Collector] | None = None,
        notifiers: Mapping[str, Notifier] | None = None,
        engine: sa.Engine | None = None,
        speedup: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
        leadership: Leadership | None = None,
        max_gap: timedelta | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.engine = engine or open_store(settings.store.url)
        self.collectors = dict(collectors) if collectors is not None else build_collectors(settings)
        self.notifiers = dict(notifiers) if notifiers is not None else build_notifiers(settings)
        self.stats = RuntimeStats()
        for name, collector in self.collectors.items():
            if getattr(collector, "http_stats", None) is not None:  # hosted sources
                self.stats.http[name] = collector.http_stats  # type: ignore[attr-defined]
            if isinstance(collector, MirrorUser) and collector.wants_mirror:
                collector.attach_mirror(Mirror(self.engine, name))  # tables of revision 0009
        self.readiness = Readiness()
        self.retry_policy = RetryPolicy(
            initial=settings.delivery.initial_backoff,
            maximum=settings.delivery.max_backoff,
            give_up_after=settings.delivery.give_up_after,
            schedule=STANDARD_WEBHOOKS_SCHEDULE
            if settings.delivery.schedule == "standard_webhooks"
            else None,
        )
        self._last_sent: dict[str, float] = {}
        self._delivering = threading.Lock()
        self._backoff: dict[str, _Backoff] = {}
        self._monotonic = monotonic  # when a failing source may be polled again
        self._speedup = speedup  # the demo runs configured intervals faster than real time
        self._intervals = {s.name: s.interval for s in settings.sources}
        self.rules: list[RuleBase] = [*expand_tiers(settings.rules), *builtin_rules(settings)]
        self.forecaster = ForecastJob(settings.forecasts)
        # The evaluation horizon's snapshot rows, kept between evaluations (only the
        # evaluate job uses it; the scheduler runs that job one at a time).
        self._rows = history.SeriesCache()
        # None where a test or a replay drives the clock by hand in big steps on purpose.
        self.max_gap = max_gap
        self.early_poll: Callable[[str, datetime], None] | None = None
        """Brings a source's next poll forward to a time (set by whoever schedules the
        polls; webhook intake calls it)."""
        self.leadership = leadership or build_leadership(
            self.engine, settings.lease, self.stats.set_role
        )

    # -- lifecycle ------------------------------------------------------------------------

    def migrate(self) -> str:
        revision = migrate(self.engine)
        self.readiness.migrated = True
        return revision

    def close(self) -> None:
        try:
            self.leadership.release()
        except sa.exc.SQLAlchemyError:  # the lease then expires after its ttl
            log.warning("cannot release the leader lease", exc_info=True)
        for collector in self.collectors.values():
            collector.close()
        self.forecaster.close(self.engine)
        self.engine.dispose()

    @property
    def source_names(self) -> list[str]:
        return list(self.collectors)

    # -- jobs -------------------------------------------------------------------------------

    def poll(self, source: str) -> bool:
        """Poll one source once; returns True when a snapshot was stored."""
        backoff = self._backoff.setdefault(source, _Backoff())
        if self._monotonic() < backoff.not_before:
            return False
        collector = self.collectors[source]
        now = self.clock()
        started = time.perf_counter()
        try:
            with self.engine.connect() as conn:
                state = history.source_health(conn).get(source)
            snapshot = collector.collect(self._window(source, state, now))
            reserved = reserved_queue_names(snapshot)
            if reserved is not None:
                raise ReservedQueueName(reserved)
            watermark = state.watermark if state is not None else None
            with self.engine.begin() as conn:
                if not history.window_unclaimed(conn, source, watermark):
                    log.debug("another replica stored this window of %s", source)
                    return True
                history.record_snapshot(conn, snapshot)
            _log_figures(source, state, snapshot)
        except MirrorBuilding as err:  # a slice of the mirror's build: no figures yet
            self.stats.build_progress[source] = err.progress
            backoff.failures, backoff.not_before = 0, 0.0
            self.readiness.polled.add(source)  # the store answered
            log.info("%s", err, extra={"source": source})
            return False
        except CollectorError as err:
            self._poll_failed(source, backoff, err.reason, str(err))
            return False
        except sa.exc.IntegrityError:
            # Two replicas' first polls of a source both inserted its state row: the
            # other one committed first and stored this window.
            log.debug("another replica stored the first window of %s", source)
            self.readiness.polled.add(source)
            return True
        except sa.exc.DBAPIError as err:  # the history store failed, not the source
            self.stats.count_error(source, "store")
            log.error(
                "cannot store the poll of %s (its window is polled again next time): %s",
                source,
                describe(err),
                extra={"source": source, "reason": "store"},
            )
            return False
        except Exception as err:  # the job boundary: anything else is a bug, but keep running
            log.exception("poll of %s failed unexpectedly", source, extra={"source": source})
            self._poll_failed(source, backoff, "internal", type(err).__name__)
            return False
        finally:
            self.stats.collector_duration[source] = time.perf_counter() - started
        backoff.failures, backoff.not_before = 0, 0.0
        self.stats.exactness[source] = snapshot.exactness
        if isinstance(collector, MirrorUser) and collector.mirror_drift is not None:
            self.stats.set_drift(source, collector.mirror_drift)
        if isinstance(collector, BuildingMirror) and collector.mirror_build_progress is not None:
            self.stats.build_progress[source] = collector.mirror_build_progress
        if isinstance(collector, RotatingCounts):
            self.stats.set_counts_read(source, collector.counts_read_at())
        self.readiness.polled.add(source)
        return True

    def evaluate(self) -> alert_engine.TickResult:
        """Evaluate every rule once and persist the outcome with its notifications."""
        fence = self.leadership.fence()
        if fence is None:
            return alert_engine.TickResult()  # a follower: the leader evaluates
        try:
            return self._evaluate(fence)
        except LeaseLost as err:  # rolled back: the new leader evaluates the same tick
            self.leadership.lost(str(err))
            return alert_engine.TickResult()
        except sa.exc.DBAPIError as err:
            raise StoreError(
                "the history store refused the evaluation; nothing changed (alert states "
                f"and their notifications roll back together): {describe(err)}"
            ) from err

    def _evaluate(self, fence: Fence) -> alert_engine.TickResult:
        now = self.clock()
        started = time.perf_counter()
        windows = [getattr(r, "window", timedelta(0)) for r in self.rules]
        windows += [c.rate_window for c in self.settings.resourcing]
        horizon = max([*windows, timedelta(minutes=15)])
        with self.engine.begin() as conn:
            lease_store.check_fence(conn, fence)  # a takeover waits for this commit
            instances = alert_store.load_instances(conn)
            health = history.source_health(conn)
            down = {
                s: (h.last_error_reason or "error")
                for s, h in health.items()
                if not h.up and s in self.collectors
            }
            series = self._rows.series(conn, now - horizon, now)
            context = EvalContext(
                forecasts=forecast_store.views(conn),
                last_seen=history.last_seen(conn),
                sources=tuple(self.collectors),
                max_gap=self.max_gap,
            )
            result = alert_engine.evaluate(
                self.rules,
                series,
                instances,
                down,
                [r.name for r in self.settings.receivers],
                now,
                self.settings.http.external_url,
                context,
            )
            alert_store.save_instances(conn, result.changed)
            rules = {r.name: r for r in self.rules}
            notes = notifying.notifications(conn, self.settings, rules, instances, result, now)
            if self.settings.resourcing:
                webhooks = [r.name for r in self.settings.receivers if r.kind == "webhook"]
                suggestions, advice = resourcing.tick(
                    conn, self.settings.resourcing, series, webhooks, now, context.forecasts
                )
                notes = [*notifying.attach_suggestions(notes, suggestions), *advice]
            notes = notifying.attach_rebalancing(notes, self.rules, series, now)
            outbox_store.enqueue(conn, notes, now)
        for instance, transition in result.transitions:
            log.info(
                "alert %s %s: %s",
                instance.rule,
                transition.value,
                instance.state_reason,
                extra={"rule": instance.rule, "fingerprint": instance.fingerprint},
            )
        self.stats.evaluation_duration = time.perf_counter() - started
        return result

    def deliver(self) -> int:
        """Send due outbox messages, oldest first per receiver, until none is due.

        A receiver whose circuit breaker is open, that answered 410 Gone (disabled), or
        whose ``min_interval`` has not elapsed keeps its messages for a later run. One
        delivery runs at a time: a second caller returns at once (no message twice).
        """
        if not self._delivering.acquire(blocking=False):
            return 0
        try:
            return self._deliver()
        finally:
            self._delivering.release()

    def _deliver(self) -> int:
        delivered, budget = 0, self.settings.delivery.batch
        while budget > 0:
            fence = self.leadership.fence()
            if fence is None:
                break  # a follower, or a leader whose lease ran out: stop sending now
            now = self.clock()
            with self.engine.connect() as conn:
                due = outbox_store.heads(conn, now, budget)
                health = notify_store.receiver_health(conn)
            ready = [m for m in due if self._may_send(m.receiver, health.get(m.receiver), now)]
            if not ready:
                break
            try:
                sent = sum([self._send(message, fence) for message in ready])
            except LeaseLost as err:
                self.leadership.lost(str(err))
                break
            delivered += sent
            budget -= len(ready)
            if sent == 0:
                break
        return delivered

    def _may_send(self, receiver: str, health: dict[str, Any] | None, now: datetime) -> bool:
        notifier = self.notifiers.get(receiver)
        if notifier is None:
            return False  # a receiver removed from the config keeps its messages for later
        if health is not None:
            if health.get("disabled_at") is not None:
                return False
            open_until = health.get("open_until")
            if open_until is not None and now < open_until:
                return False
        gap = getattr(getattr(notifier, "config", None), "min_interval", None)
        if isinstance(gap, timedelta) and receiver in self._last_sent:
            return time.monotonic() - self._last_sent[receiver] >= gap.total_seconds()
        return True

    def _send(self, message: outbox_store.OutboxMessage, fence: Fence) -> bool:
        """Claim, send and record one message; LeaseLost when a newer leader has it."""
        if fence.checked:
            with self.engine.begin() as conn:
                outbox_store.claim(conn, message.id, fence)
        notifier = self.notifiers[message.receiver]
        self._last_sent[message.receiver] = time.monotonic()
        try:
            # The wall clock, not self.clock: receivers check webhook-timestamp (and
            # send Retry-After dates) against real time, also when the demo replays 2016.
            notifier.send(
                message.idempotency_key, message.event, message.payload.encode(), utcnow()
            )
        except NotifierError as err:
            reason = f"http_{err.status}" if err.status else "network"
            self._delivery_failed(message, err, reason, fence)
            return False
        except Exception as err:  # a notifier bug must not hold up the other receivers
            log.exception(
                "notifier %s failed unexpectedly",
                message.receiver,
                extra={"receiver": message.receiver},
            )
            self._delivery_failed(
                message, NotifierError(type(err).__name__, retryable=True), "internal", fence
            )
            return False
        try:
            with self.engine.begin() as conn:
                self._delivered(conn, message, fence)
        except LeaseLost:
            log.warning(
                "sent %s but lost the lease before recording it: the new leader sends it "
                "again with the same idempotency key",
                message.idempotency_key,
                extra={"receiver": message.receiver},
            )
            raise
        self.stats.count_notification(message.receiver, "success", "ok")
        return True

    def _delivered(
        self, conn: sa.Connection, message: outbox_store.OutboxMessage, fence: Fence
    ) -> None:
        outbox_store.mark_delivered(conn, message.id, self.clock(), fence)
        notify_store.set_receiver_health(
            conn, message.receiver, consecutive_failures=0, open_until=None
        )

    def _delivery_failed(
        self, message: outbox_store.OutboxMessage, err: NotifierError, reason: str, fence: Fence
    ) -> None:
        now = self.clock()
        if err.status == 410:  # Gone: the endpoint asks us to stop; keep its messages
            verdict = Verdict(False, message.next_attempt_at, "receiver disabled: HTTP 410 Gone")
        else:
            verdict = after_failure(
                err, message.attempts + 1, message.created_at, now, self.retry_policy
            )
        delivery = self.settings.delivery
        with self.engine.begin() as conn:
            outbox_store.mark_failed(
                conn, message.id, verdict.reason, verdict.next_attempt_at, fence
            )
            failures = (
                notify_store.receiver_health(conn)
                .get(message.receiver, {})
                .get("consecutive_failures", 0)
                + 1
            )
            opened = failures >= delivery.breaker_threshold
            notify_store.set_receiver_health(
                conn,
                message.receiver,
                consecutive_failures=failures,
                open_until=now + delivery.breaker_cooldown if opened else None,
                **(
                    {"disabled_at": now, "disabled_reason": "HTTP 410 Gone"}
                    if err.status == 410
                    else {}
                ),
            )
        outcome = "dead" if verdict.dead else ("disabled" if err.status == 410 else "retry")
        self.stats.count_notification(message.receiver, outcome, reason)
        log.warning(
            "delivery to %s failed (%s): %s",
            message.receiver,
            outcome,
            verdict.reason,
            extra={"receiver": message.receiver},
        )

    def backfill(self) -> list[backfill.Result]:
        """Fill the hourly rollups of ``backfill.since`` back that the store lacks, from each
        source's own times (once on start, before the first forecast; see monitor/backfill.py).
        A source that fails is logged and skipped: the daemon starts anyway."""
        since = self.settings.backfill.since
        if since is None or self.leadership.fence() is None:
            return []  # with replicas, only the leader backfills (as it runs forecasts)
        start, end = backfill.span(self.clock(), since)
        done = []
        for name, reader in backfill.readers(self.collectors).items():
            try:
                result = backfill.backfill_source(
                    self.engine, reader, name, start, end, self.settings.backfill.chunk
                )
            except CollectorError as err:
                log.warning("backfill of %s failed: %s", name, err, extra={"source": name})
                continue
            log.info(
                "backfilled %s: %d hour(s), %d row(s)",
                name,
                result.hours,
                result.rows,
                extra={"source": name},
            )
            done.append(result)
        return done

    def hold_lease(self) -> Role:
        """Renew or take the leader lease (replicas on PostgreSQL), or learn who holds it."""
        return self.leadership.renew()

    def forecast(self) -> int:
        """Refresh every selected queue's forecast from the hourly rollups (the leader only)."""
        if self.leadership.fence() is None:
            return 0
        return self.forecaster.run(self.engine, self.rules, self.clock())

    def maintain(self) -> int:
        """Roll up recent raw rows into hourly aggregates and prune old history (the leader)."""
        if self.leadership.fence() is None:
            return 0
        now = self.clock()
        store = self.settings.store
        with self.engine.begin() as conn:
            history.roll_up(conn, now - store.maintenance_interval - timedelta(hours=1), now)
            return history.prune(conn, now, store.raw_retention, store.rollup_retention)

    # -- helpers --------------------------------------------------------------------------

    def _window(self, source: str, state: history.SourceHealth | None, now: datetime) -> Window:
        """``[watermark, now)``: consecutive polls neither overlap nor leave gaps."""
        watermark = state.watermark if state is not None else None
        if watermark is None:
            config = next((s for s in self.settings.sources if s.name == source), None)
            first = config.first_window if config is not None else timedelta(minutes=1)
            return Window(now - first, now)
        if watermark > now:  # the clock went back: count nothing rather than twice
            log.warning("clock is behind the watermark of %s", source, extra={"source": source})
            return Window(now, now)
        return Window(watermark, now)

    def _poll_failed(self, source: str, backoff: _Backoff, reason: str, message: str) -> None:
        backoff.failures += 1
        interval = self._intervals.get(source, timedelta(minutes=1)).total_seconds()
        cap = self.settings.scheduler.retry_backoff_max.total_seconds()
        delay = min(cap, interval * (2 ** (backoff.failures - 1))) - interval
        backoff.not_before = self._monotonic() + max(0.0, delay) / self._speedup
        self.stats.count_error(source, reason)
        try:
            with self.engine.begin() as conn:
                history.record_failure(conn, source, self.clock(), reason, message)
        except sa.exc.SQLAlchemyError:
            log.exception("cannot record the failure of %s", source)
        log.warning(
            "poll of %s failed (%s): %s",
            source,
            reason,
            message,
            extra={"source": source, "reason": reason},
        )


def max_gap(settings: Settings) -> timedelta:
    """The most one gap between evaluations counts towards ``for``: a clock jumping
    forward (or a daemon stopped) for longer neither fires pending alerts at once nor
    ends ``keep_firing_for`` (alerting.state.bridge)."""
    return max(settings.evaluation.interval * 3, MAX_GAP)


def builtin_rules(settings: Settings) -> list[RuleBase]:
    """The rules that exist without configuration (``CollectorDown``)."""
    down = settings.evaluation.collector_down
    if not down.enabled:
        return []
    return [
        CollectorDownRule(
            for_=down.for_,
            severity=down.severity,
            annotations={
                "summary": "Polling {source} fails",
                "description": "The latest polls of {source} failed; its backlog alerts keep their "
                "state until it answers again.",
            },
        )
    ]


def _log_figures(source: str, before: history.SourceHealth | None, snapshot: Snapshot) -> None:
    """Warn once when an optional figure becomes absent (with why), note when it is back."""
    known = (before.figures if before is not None else None) or {}
    for figure in snapshot.figures:
        was = known.get(figure.name, {}).get("available")
        if not figure.mapped:
            continue  # absent by configuration: nothing to fix
        if not figure.available and was is not False:
            log.warning(
                "source %s cannot give %s; it is absent (not 0) until fixed: %s",
                source,
                figure.name,
                figure.reason,
                extra={"source": source, "figure": figure.name},
            )
        elif figure.available and was is False:
            log.info("source %s gives %s again", source, figure.name, extra={"source": source})


def build_collectors(settings: Settings) -> dict[str, Collector]:
    """Instantiate every configured source (no network access here)."""
    return {s.name: COLLECTORS[s.kind](s) for s in settings.sources}  # type: ignore[call-arg]


def build_notifiers(settings: Settings) -> dict[str, Notifier]:
    """Instantiate every configured receiver, each sending only where the allow-list lets it."""
    allow = AllowList.parse(settings.delivery.allowed_destinations)
    notifiers: dict[str, Notifier] = {
        r.name: NOTIFIERS[r.kind](r, guarded_session(allow))  # type: ignore[call-arg]
        for r in settings.receivers
    }
    if settings.report.email is not None:  # the scheduled report's e-mail, via the outbox
        notifiers[REPORT_EMAIL] = ReportEmailNotifier(settings.report.email)
    return notifiers
