"""Each other hosted store through the daemon, against its fake server, in simulated time.

The daemon's jobs run stepped (``monitor/stepped.py``) for some hours of each store's
real log; every poll must succeed, and the created/resolved counters the daemon keeps
must equal pandas' sum over the consecutive windows it polled (each ticket counted in
the queue it was in at that poll; Zendesk's flow moved back by its ``index_lag``).
Zoho Desk's full simulated day, with a 429 storm and token renewals, is in
``test_daemon_day.py``; these four stores' full days, with their own 429 storms, are in
``test_store_days.py``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.clock import FakeClock
from monitor.store import history
from tests.collectors.expected import expected_queues
from tests.collectors.fakeserver import FakeServer
from tests.collectors.hosted.dayrun import stepped_daemon
from tests.collectors.stores import freshdesk, jira, servicenow, zendesk

RUNS = [
    pytest.param(zendesk.Kit(), datetime(2016, 3, 21, 12, tzinfo=UTC), 4, "5m", id="zendesk"),
    pytest.param(freshdesk.Kit(), datetime(2016, 3, 21, 12, tzinfo=UTC), 4, "5m", id="freshdesk"),
    pytest.param(servicenow.Kit(), datetime(2016, 3, 21, 12, tzinfo=UTC), 4, "5m", id="servicenow"),
    pytest.param(jira.Kit(), datetime(2012, 5, 14, 6, tzinfo=UTC), 24, "1h", id="jira"),
]


@pytest.mark.parametrize(("kit", "start", "hours", "interval"), RUNS)
def test_store_through_the_daemon(
    kit: Any,
    start: datetime,
    hours: int,
    interval: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every poll succeeds and the counters equal pandas' over the polled windows."""
    for name, value in kit.environment.items():
        monkeypatch.setenv(name, value)
    clock = FakeClock(start)
    with FakeServer(kit.app(clock, {})) as server:
        daemon, config, polls = stepped_daemon(
            kit, server.url, clock, tmp_path, start + timedelta(hours=hours), interval=interval
        )
        with daemon.engine.connect() as conn:
            counters = {r["queue"]: r for r in history.counters(conn)}
        daemon.close()
    assert not daemon.stats.collector_errors
    assert daemon.stats.exactness == {config.name: _exactness(config)}
    window_start = start - config.first_window
    created: dict[str, int] = {}
    resolved: dict[str, int] = {}
    for instant in polls:
        for stats in expected_queues(
            kit.log(),
            kit.queues(config),
            window_start,
            instant,
            aging=False,
            flow_lag=getattr(config, "index_lag", timedelta(0)),
        ):
            created[stats.queue] = created.get(stats.queue, 0) + (stats.created or 0)
            resolved[stats.queue] = resolved.get(stats.queue, 0) + (stats.resolved or 0)
        window_start = instant
    got = {q: (counters[q]["created_total"], counters[q]["resolved_total"]) for q in created}
    assert got == {q: (created[q], resolved[q]) for q in created}
    assert sum(created.values()) > 10 and sum(resolved.values()) > 10


def _exactness(config: Any) -> str:
    return {"zendesk": "lagging", "freshdesk": "lagging", "servicenow": "exact"}.get(
        config.kind, "approximate"
    )
