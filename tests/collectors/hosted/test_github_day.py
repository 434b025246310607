"""GitHub through the daemon for a simulated day, against its fake server.

As the Zoho Desk day (``test_daemon_day.py``), on the same 2 May 2012 of the Volvo log,
now as issues labelled by team: label G96's open issues climb from 59 to about 100 and
drain back to about 70. Three labels, polled every 5 minutes (18 searches) by a GitHub
App whose installation tokens last an hour. Between 10:15 and 11:15 every search gets
GitHub's secondary-limit 429 with ``Retry-After`` up to the end of that hour.

Checked: the rule fires in the morning and resolves in the afternoon, never during the
storm; during it the daemon sends one search, not a poll's worth every 5 minutes; no
window is lost (the day's created and closed counters equal pandas' over the same log,
windows moved back by ``index_lag`` as the collector counts them); installation tokens
are renewed about 26 times with no poll failing for authentication; never more than 15
searches in any minute (budget.share 0.6 of the 30); the private key appears in no log, metric,
status page or stored error.
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

from collectors.github import GitHubCollector, GitHubConfig
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
from tests.collectors.stores.github import (
    APP_ID,
    INSTALLATION,
    FakeGitHub,
    Kit,
    app_keys,
    issue_log,
)

with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)
    from starlette.testclient import TestClient

START = datetime(2012, 5, 2, tzinfo=UTC)
END = START + timedelta(days=1)
STORM = (START + timedelta(hours=10, minutes=15), START + timedelta(hours=11, minutes=15))
QUEUE = "G96"


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Run the simulated day once; the tests read what it left."""
    tmp = tmp_path_factory.mktemp("day")
    clock = FakeClock(START)
    fake = FakeGitHub(clock, storm=STORM, app=(APP_ID, app_keys()[1]))
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
    app = {"app_id": APP_ID, "installation_id": INSTALLATION, "private_key": app_keys()[0]}
    source.update(name="gh", interval="5m", token_env=None, app=app, budget={"share": 0.6})
    document = {
        "forecasts": {"enabled": False},
        "delivery": {"interval": "5m"},  # no receiver: nothing to deliver
        "store": {"url": "sqlite://", "maintenance_interval": "1h"},
        "evaluation": {"interval": "5m", "collector_down": {"for": "5m"}},
        "sources": [source],
        "rules": [
            {
                "name": "G96BacklogHigh",
                "metric": "open_tickets",
                "match": {"source": "gh", "queue": QUEUE},
                "reduce": "avg",
                "window": "30m",
                "threshold": 80,
                "recover_threshold": 78,
            }
        ],
    }
    return load_settings(text=yaml.safe_dump(document))


def _run(
    tmp: Path, clock: FakeClock, fake: FakeGitHub, server: FakeServer, records: list[Any]
) -> dict[str, Any]:
    settings = _settings(server.url)
    slept: list[float] = []
    config = settings.sources[0]
    assert isinstance(config, GitHubConfig)
    collector = GitHubCollector(
        config, clock=lambda: clock().timestamp() + sum(slept), sleep=slept.append
    )
    engine = open_store(f"sqlite:///{tmp}/history.db")
    daemon = Daemon(
        settings,
        clock=clock,
        collectors={"gh": collector},
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
        if "poll:gh" in ran:
            with engine.connect() as conn:
                up = history.source_health(conn)["gh"].up
            sent = [c for c in server.calls[before:] if c.path == "/search/issues"]
            polls.append((clock.now, up and bool(sent), len(sent)))
        if "evaluate" in ran:
            with engine.connect() as conn:
                for instance in alert_store.load_instances(conn).values():
                    if instance.rule == "G96BacklogHigh":
                        states.append((clock.now, instance.state.value))
    registry = CollectorRegistry(auto_describe=False)
    registry.register(
        BacklogCollector(engine, daemon.stats, lambda: daemon.source_names, clock, daemon.rules)
    )
    with TestClient(build_app(daemon, registry)) as client:
        page = client.get("/").text
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
        "fake": fake,
    }
    daemon.close()
    return result


def _in_storm(instant: datetime) -> bool:
    return STORM[0] <= instant < STORM[1]


class TestGitHubDay:
    def test_the_rule_fires_in_the_morning_and_resolves_after_the_storm(
        self, day: dict[str, Any]
    ) -> None:
        """Firing before the storm, still firing through it, resolved in the afternoon."""
        states = day["states"]
        fired = min(t for t, s in states if s == "firing")
        resolved = min(t for t, s in states if s == "resolved")
        assert fired < STORM[0] < STORM[1] < resolved < END
        assert not [t for t, s in states if _in_storm(t) and s != "firing"]

    def test_the_storm_slows_polling_to_one_search(self, day: dict[str, Any]) -> None:
        """An hour of 429s with Retry-After: one search, not twelve polls' worth; every
        poll in the storm fails as rate limited (none for another reason), the rest succeed."""
        storm = [(ok, sent) for t, ok, sent in day["polls"] if _in_storm(t)]
        normal = [(ok, sent) for t, ok, sent in day["polls"] if not _in_storm(t)]
        assert len(storm) >= 3 and not any(ok for ok, _ in storm)
        assert sum(sent for _, sent in storm) == 1
        assert all(ok and sent == 18 for ok, sent in normal)
        assert day["daemon"].stats.collector_errors == {("gh", "rate_limited"): len(storm)}

    def test_no_window_is_lost(self, day: dict[str, Any]) -> None:
        """The day's counters equal pandas' sum over consecutive windows, each from the
        previous successful poll, moved back by the index lag (3 minutes)."""
        created = closed = 0
        lag = pd.Timedelta(minutes=3)
        start = pd.Timestamp(START - timedelta(hours=1)) - lag  # the first window
        state = issue_log().state_at(END)  # creation and closing times do not change later
        for instant, ok, _sent in day["polls"]:
            if not ok:
                continue
            end = pd.Timestamp(instant) - lag
            mine = issue_log().state_at(instant)
            mine = mine[mine["queue"] == QUEUE]
            created += int(((mine["created"] >= start) & (mine["created"] < end)).sum())
            closed += int(((mine["resolved"] >= start) & (mine["resolved"] < end)).sum())
            start = end
        counters = day["counters"][QUEUE]
        assert (counters["created_total"], counters["resolved_total"]) == (created, closed)
        assert created > 50 and closed > 50 and not state.empty

    def test_installation_tokens_renewed_without_a_failed_poll(self, day: dict[str, Any]) -> None:
        """Tokens last an hour and are renewed 5 minutes before: about 26 renewals (none
        during the storm, when nothing is sent), no poll failed for authentication."""
        path = f"/app/installations/{INSTALLATION}/access_tokens"
        tokens = [c for c in day["calls"] if c.path == path]
        assert 22 <= len(tokens) <= 27
        assert ("gh", "auth") not in day["daemon"].stats.collector_errors

    def test_never_over_our_share_of_the_searches(self, day: dict[str, Any]) -> None:
        """The fake's own count per minute: at most 18 (budget.share 0.6 of GitHub's 30),
        so GitHub never refused a search for its primary limit."""
        used = day["fake"].minute_calls
        assert used and max(used.values()) <= 18
        assert not [k for k in day["daemon"].stats.collector_errors if k[1] != "rate_limited"]
        assert 'code="403"' not in day["metrics"]

    def test_metrics_carry_requests_quota_and_exactness(self, day: dict[str, Any]) -> None:
        """Per-endpoint request counts, the quota left and the snapshot's exactness."""
        metrics = day["metrics"]
        assert (
            'backlog_collector_requests_total{code="200",endpoint="search/issues",source="gh"}'
            in metrics
        )
        assert 'code="429",endpoint="search/issues",source="gh"' in metrics
        assert 'code="201",endpoint="app/access_tokens",source="gh"' in metrics
        assert 'backlog_collector_quota_remaining{source="gh"}' in metrics
        assert 'backlog_collector_exactness{exactness="lagging",source="gh"} 1.0' in metrics

    def test_the_private_key_appears_nowhere(self, day: dict[str, Any]) -> None:
        """Not the key, nor an installation token: not in logs, metrics, the status page
        or the stored errors."""
        outputs = [day["logs"], day["metrics"], day["page"], *day["errors"]]
        assert "429" in day["logs"]  # the logs did record the storm
        secrets = [app_keys()[0].splitlines()[1], *day["fake"].installation_tokens]
        for secret in secrets:
            assert not [o for o in outputs if secret in o]
