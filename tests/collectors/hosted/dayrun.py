"""A hosted collector through the daemon for a simulated day: the shared harness.

A store's day test gives its fake server, its source's configuration, the rule on one
queue and which requests count as the store's API; :func:`run_day` runs the daemon's own
jobs in simulated time (``monitor/stepped.py``) and returns what the day left: polls
(instant, succeeded, API requests sent), the rule's states, counters, metrics, the
status page, stored errors and every log line.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml
from prometheus_client import CollectorRegistry, generate_latest

from collectors import REGISTRY
from config.loader import load_settings
from monitor.clock import FakeClock
from monitor.daemon import Daemon
from monitor.http import build_app
from monitor.metrics import BacklogCollector
from monitor.scheduler import daemon_jobs
from monitor.stepped import SteppedScheduler
from monitor.store import alerts as alert_store
from monitor.store import history
from monitor.store.engine import open_store
from tests.collectors.fakeserver import Call, FakeServer

with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)
    from starlette.testclient import TestClient


@dataclass(frozen=True)
class Day:
    """The day's plan: its start, the storm's hours, the source and the rule's queue."""

    start: datetime
    storm: tuple[datetime, datetime]
    source: str
    queue: str
    rule: str
    threshold: float
    recover: float

    @property
    def end(self) -> datetime:
        return self.start + timedelta(days=1)

    def in_storm(self, instant: datetime) -> bool:
        return self.storm[0] <= instant < self.storm[1]


@contextmanager
def captured_logs() -> Iterator[list[logging.LogRecord]]:
    """Every log record of the day, DEBUG included."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield records
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)


def day_settings(day: Day, source: dict[str, Any]) -> Any:
    """Polls, rules and delivery every 5 minutes; one threshold rule on the day's queue."""
    document = {
        "forecasts": {"enabled": False},
        "delivery": {"interval": "5m"},  # no receiver: nothing to deliver
        "store": {"url": "sqlite://", "maintenance_interval": "1h"},
        # the status page is read without a token, so the secrets check sees the page
        # itself, not a 401's body
        "http": {"status_page_auth": "none"},
        "evaluation": {"interval": "5m", "collector_down": {"for": "5m"}},
        "sources": [{**source, "name": day.source, "interval": "5m"}],
        "rules": [
            {
                "name": day.rule,
                "metric": "open_tickets",
                "match": {"source": day.source, "queue": day.queue},
                "reduce": "avg",
                "window": "30m",
                "threshold": day.threshold,
                "recover_threshold": day.recover,
            }
        ],
    }
    return load_settings(text=yaml.safe_dump(document))


def stepped(
    settings: Any, clock: FakeClock, collector: Any, tmp: Path
) -> tuple[Daemon, SteppedScheduler]:
    """A daemon over ``settings``' first source with ``collector``, on a SQLite store in
    ``tmp`` and the fake ``clock``, migrated, and its jobs on a stepped scheduler."""
    daemon = Daemon(
        settings,
        clock=clock,
        collectors={settings.sources[0].name: collector},
        engine=open_store(f"sqlite:///{tmp}/history.db"),
        monotonic=lambda: clock().timestamp(),
    )
    daemon.migrate()
    return daemon, SteppedScheduler(daemon_jobs(daemon), clock)


def run_day(
    day: Day,
    tmp: Path,
    clock: FakeClock,
    server: FakeServer,
    records: list[logging.LogRecord],
    settings: Any,
    make_collector: Callable[[Any, Callable[[], float], Callable[[float], None]], Any],
    is_api: Callable[[Call], bool],
    on_poll: Callable[[datetime, bool], None] | None = None,
) -> dict[str, Any]:
    """Run the daemon through ``day`` against ``server``; what it left (see the module).
    ``on_poll(instant, succeeded)`` runs after each poll (a store's own checks)."""
    slept: list[float] = []
    collector = make_collector(
        settings.sources[0], lambda: clock().timestamp() + sum(slept), slept.append
    )
    daemon, scheduler = stepped(settings, clock, collector, tmp)
    engine = daemon.engine
    states: list[tuple[datetime, str]] = []
    polls: list[tuple[datetime, bool, int]] = []  # instant, succeeded, API requests sent
    while scheduler.next_instant < day.end:
        before = len(server.calls)
        ran = scheduler.run_due()
        if f"poll:{day.source}" in ran:
            with engine.connect() as conn:
                health = history.source_health(conn).get(day.source)
            up = health is not None and health.up  # none yet while a mirror is built
            sent = [c for c in server.calls[before:] if is_api(c)]
            polls.append((clock.now, up and bool(sent), len(sent)))
            if on_poll is not None:
                on_poll(clock.now, up and bool(sent))
        if "evaluate" in ran:
            with engine.connect() as conn:
                for instance in alert_store.load_instances(conn).values():
                    if instance.rule == day.rule:
                        states.append((clock.now, instance.state.value))
    registry = CollectorRegistry(auto_describe=False)
    registry.register(
        BacklogCollector(engine, daemon.stats, lambda: daemon.source_names, clock, daemon.rules)
    )
    with TestClient(build_app(daemon, registry)) as client:
        answer = client.get("/")
        assert answer.status_code == 200, answer.text
        page = answer.text
    with engine.connect() as conn:
        counters = {r["queue"]: r for r in history.counters(conn)}
        errors = [
            str(v)
            for v in conn.execute(sa.text("SELECT * FROM source_state")).mappings().one().values()
        ]
    result = {
        "daemon": daemon,
        "calls": list(server.calls),
        "states": states,
        "polls": polls,
        "counters": counters,
        "metrics": generate_latest(registry).decode(),
        "page": page,
        "errors": errors,
        "logs": "\n".join(r.getMessage() for r in records),
    }
    daemon.close()
    return result


def check_rule_and_storm(
    day: Day, result: dict[str, Any], per_poll: int, paged: bool = False
) -> None:
    """The rule fires before the storm and resolves after it, firing throughout; the
    storm costs one request in all, every poll in it fails as rate limited, every other
    one succeeds with ``per_poll`` requests (at least, when ``paged``: a listing's
    further pages come on top)."""
    states = result["states"]
    fired = min(t for t, s in states if s == "firing")
    resolved = min(t for t, s in states if s == "resolved")
    assert fired < day.storm[0] < day.storm[1] < resolved < day.end
    assert not [t for t, s in states if day.in_storm(t) and s != "firing"]
    storm = [(ok, sent) for t, ok, sent in result["polls"] if day.in_storm(t)]
    normal = [(ok, sent) for t, ok, sent in result["polls"] if not day.in_storm(t)]
    assert len(storm) >= 3 and not any(ok for ok, _ in storm)
    assert sum(sent for _, sent in storm) == 1
    assert all(ok and (sent >= per_poll if paged else sent == per_poll) for ok, sent in normal)
    errors = result["daemon"].stats.collector_errors
    assert errors == {(day.source, "rate_limited"): len(storm)}


def stepped_daemon(
    kit: Any,
    url: str,
    clock: FakeClock,
    tmp: Path,
    until: datetime,
    *,
    interval: str,
    rules: list[dict[str, Any]] | None = None,
    **source: Any,
) -> tuple[Daemon, Any, list[datetime]]:
    """The kit's source (10 queues, ``source``'s fields added) over its fake at ``url``
    in a daemon whose jobs run stepped until ``until``; polls, rules and delivery every
    ``interval``. Returns the daemon (open, the caller closes it), the source's
    configuration and the instants of its polls."""
    document: dict[str, Any] = {
        "store": {"url": "sqlite://", "maintenance_interval": "1h"},
        "forecasts": {"enabled": False},
        "delivery": {"interval": interval},
        "evaluation": {"interval": interval},
        "sources": [{**kit.config(url, {"queues": 10}), "interval": interval, **source}],
    }
    if rules is not None:
        document["rules"] = rules
    settings = load_settings(text=yaml.safe_dump(document))
    config = settings.sources[0]
    collector = REGISTRY[config.kind](config, clock=lambda: clock().timestamp())  # type: ignore[call-arg]
    daemon, scheduler = stepped(settings, clock, collector, tmp)
    polls = []
    while scheduler.next_instant < until:
        if f"poll:{config.name}" in scheduler.run_due():
            polls.append(clock.now)
    return daemon, config, polls
