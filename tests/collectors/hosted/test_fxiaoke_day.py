"""Fxiaoke through the daemon for a simulated day, against its fake server.

As ``test_helpscout_day.py`` (8 March 2016 of the ServiceNow log, the busiest group's
work orders climbing past 500 open in the afternoon), three queues polled every
5 minutes with aging: 27 paced queries a poll. Between 13:15 and 14:15 the gateway
answers 429 with ``Retry-After`` up to the end of that hour; the tenant drops corp
access tokens after an hour though it announces two, so a call now and then answers
errorCode 20016 and the token is fetched again.

Checked: the rule fires before the storm and resolves in the evening, never during it;
the storm costs one request; no window is lost (the day's counters equal pandas'); the
dropped tokens fail no poll; the secrets appear in no log, metric, page or stored error.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
import yaml
from prometheus_client import CollectorRegistry, generate_latest

from collectors.fxiaoke import FxiaokeCollector, FxiaokeConfig
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
from tests.collectors.fakeserver import FakeServer
from tests.collectors.stores.fxiaoke import PERMANENT, SECRET, FakeFxiaoke, Kit, fxiaoke_log

with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)
    from starlette.testclient import TestClient

START = datetime(2016, 3, 8, tzinfo=UTC)
END = START + timedelta(days=1)
STORM = (START + timedelta(hours=13, minutes=15), START + timedelta(hours=14, minutes=15))
TOKEN_LIFE = 3600.0
API_TOKEN = "day-api-token-5c1e"


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Run the simulated day once; the tests read what it left."""
    tmp = tmp_path_factory.mktemp("fxiaoke-day")
    clock = FakeClock(START)
    fake = FakeFxiaoke(clock, token_life=TOKEN_LIFE, announced_life=7200.0, storm=STORM)
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logging.getLogger().addHandler(handler)
    previous = logging.getLogger().level
    logging.getLogger().setLevel(logging.DEBUG)
    try:
        with FakeServer(fake) as server:
            yield _run(tmp, clock, fake, server, records)
    finally:
        logging.getLogger().removeHandler(handler)
        logging.getLogger().setLevel(previous)


def _settings(url: str) -> Any:
    source = Kit().config(url, {"queues": 3})
    source.update(
        interval="5m",
        app_secret=SECRET,
        app_secret_env=None,
        permanent_code=PERMANENT,
        permanent_code_env=None,
    )
    queue = source["queues"][0]["name"]
    document = {
        "http": {"api_tokens": [API_TOKEN]},
        "forecasts": {"enabled": False},
        "delivery": {"interval": "5m"},  # no receiver: nothing to deliver
        "store": {"url": "sqlite://", "maintenance_interval": "1h"},
        "evaluation": {"interval": "5m", "collector_down": {"for": "5m"}},
        "sources": [source],
        "rules": [
            {
                "name": "MailboxBacklogHigh",
                "metric": "open_tickets",
                "match": {"source": "fxiaoke", "queue": queue},
                "reduce": "avg",
                "window": "30m",
                "threshold": 450,
                "recover_threshold": 420,
            }
        ],
    }
    return load_settings(text=yaml.safe_dump(document))


def _run(
    tmp: Path, clock: FakeClock, fake: FakeFxiaoke, server: FakeServer, records: list[Any]
) -> dict[str, Any]:
    settings = _settings(server.url)
    slept: list[float] = []
    config = settings.sources[0]
    assert isinstance(config, FxiaokeConfig)
    collector = FxiaokeCollector(
        config, clock=lambda: clock().timestamp() + sum(slept), sleep=slept.append
    )
    engine = open_store(f"sqlite:///{tmp}/history.db")
    daemon = Daemon(
        settings,
        clock=clock,
        collectors={"fxiaoke": collector},
        engine=engine,
        monotonic=lambda: clock().timestamp(),
    )
    daemon.migrate()
    scheduler = SteppedScheduler(daemon_jobs(daemon), clock)
    states: list[tuple[datetime, str]] = []
    polls: list[tuple[datetime, bool, int]] = []  # instant, succeeded, API requests sent
    while scheduler.next_instant < END:
        before = len(server.calls)
        ran = scheduler.run_due()
        if "poll:fxiaoke" in ran:
            with engine.connect() as conn:
                up = history.source_health(conn)["fxiaoke"].up
            sent = [c for c in server.calls[before:] if c.path != "/cgi/corpAccessToken/get/V2"]
            polls.append((clock.now, up and bool(sent), len(sent)))
        if "evaluate" in ran:
            with engine.connect() as conn:
                for instance in alert_store.load_instances(conn).values():
                    if instance.rule == "MailboxBacklogHigh":
                        states.append((clock.now, instance.state.value))
    registry = CollectorRegistry(auto_describe=False)
    registry.register(
        BacklogCollector(engine, daemon.stats, lambda: daemon.source_names, clock, daemon.rules)
    )
    with TestClient(build_app(daemon, registry)) as client:
        page = client.get("/", headers={"Authorization": f"Bearer {API_TOKEN}"})
        assert page.status_code == 200
    with engine.connect() as conn:
        counters = {r["queue"]: r for r in history.counters(conn)}
        errors = [
            str(v)
            for v in conn.execute(sa.text("SELECT * FROM source_state")).mappings().one().values()
        ]
    result = {
        "daemon": daemon,
        "queue": config.queues[0].name,
        "calls": list(server.calls),
        "states": states,
        "polls": polls,
        "counters": counters,
        "metrics": generate_latest(registry).decode(),
        "page": page.text,
        "errors": errors,
        "logs": "\n".join(r.getMessage() for r in records),
        "fake": fake,
    }
    daemon.close()
    return result


def _in_storm(instant: datetime) -> bool:
    return STORM[0] <= instant < STORM[1]


class TestFxiaokeDay:
    def test_the_rule_fires_before_the_storm_and_resolves_in_the_evening(
        self, day: dict[str, Any]
    ) -> None:
        states = day["states"]
        fired = min(t for t, s in states if s == "firing")
        resolved = min(t for t, s in states if s == "resolved")
        assert fired < STORM[0] < STORM[1] < resolved < END
        assert not [t for t, s in states if _in_storm(t) and s != "firing"]

    def test_the_storm_costs_one_request(self, day: dict[str, Any]) -> None:
        storm = [(ok, sent) for t, ok, sent in day["polls"] if _in_storm(t)]
        normal = [(ok, sent) for t, ok, sent in day["polls"] if not _in_storm(t)]
        assert len(storm) >= 3 and not any(ok for ok, _ in storm)
        assert sum(sent for _, sent in storm) == 1
        assert all(ok and sent >= 27 for ok, sent in normal)
        errors = day["daemon"].stats.collector_errors
        assert errors == {("fxiaoke", "rate_limited"): len(storm)}

    def test_no_window_is_lost(self, day: dict[str, Any]) -> None:
        created = resolved = 0
        start = pd.Timestamp(START - timedelta(hours=1))
        for instant, ok, _sent in day["polls"]:
            if not ok:
                continue
            end = pd.Timestamp(instant)
            state = fxiaoke_log().state_at(instant)
            mine = state[state["queue"] == day["queue"]]
            created += int(((mine["created"] >= start) & (mine["created"] < end)).sum())
            resolved += int(((mine["resolved"] >= start) & (mine["resolved"] < end)).sum())
            start = end
        counters = day["counters"][day["queue"]]
        assert (counters["created_total"], counters["resolved_total"]) == (created, resolved)
        assert created > 100 and resolved > 50

    def test_dropped_tokens_are_renewed_without_a_failed_poll(self, day: dict[str, Any]) -> None:
        tokens = [c for c in day["calls"] if c.path == "/cgi/corpAccessToken/get/V2"]
        assert day["fake"].refused >= 10
        assert len(tokens) == day["fake"].refused + 1
        assert ("fxiaoke", "auth") not in day["daemon"].stats.collector_errors

    def test_credentials_appear_nowhere(self, day: dict[str, Any]) -> None:
        outputs = [day["logs"], day["metrics"], day["page"], *day["errors"]]
        assert "429" in day["logs"]
        for secret in (SECRET, PERMANENT):
            assert not [o for o in outputs if secret in o]
