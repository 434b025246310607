"""Zendesk, Freshdesk, ServiceNow and Jira through the daemon for a simulated day each.

The proof the Zoho Desk day gives (``test_daemon_day.py``), parametrised over the part-1
stores and run by the shared harness (``dayrun.py``): polls, rules and delivery every
5 minutes against each store's fake server, fed from a real log. Zendesk, Freshdesk and
ServiceNow replay 21 March 2016 of the ServiceNow incident log, when ``Group 70`` climbs
from 58 open tickets to about 130 by 16:00 and drains to about 65 by 20:00; Jira replays
18 January 2012 of the Italian help-desk log, when component ``Value 1`` climbs from 30
open issues to 38 around noon and drains to 31 by 18:00. For an hour the store answers
every request with its own 429 (Zendesk's ``APIRateLimitExceeded``, Freshdesk's spent
``X-Ratelimit-Remaining``, a ServiceNow rate-limit rule's ``X-RateLimit-Reset``, Jira
Cloud's ``RateLimit-Reason``), each with ``Retry-After`` up to the storm's end.

Checked per store: the rule fires before the storm and resolves after it, firing
throughout; the storm costs one request, not twelve polls' worth, and every other poll
succeeds; no window is lost (the day's created and resolved counters equal pandas' over
the same log, Zendesk's moved back by its ``index_lag``); the fake's own count of
requests per minute never goes over our share of the plan; per-endpoint request
counts, the quota left and the exactness are exported; the planted credential appears
in no log, metric, status page or stored error.

None of these four stores' credentials expire within a day (Zendesk API tokens and
OAuth access tokens, Jira API tokens and Data Center personal access tokens, Freshdesk
API keys, ServiceNow passwords and the OAuth tokens the configuration takes are
static until revoked), so unlike Zoho Desk no renewal is played here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from collectors import REGISTRY
from monitor.clock import FakeClock
from tests.collectors.expected import expected_queues
from tests.collectors.fakeserver import FakeServer
from tests.collectors.hosted.dayrun import (
    Day,
    captured_logs,
    check_rule_and_storm,
    day_settings,
    run_day,
)
from tests.collectors.stores import freshdesk, jira, servicenow, zendesk

INCIDENTS = datetime(2016, 3, 21, tzinfo=UTC)
HELPDESK = datetime(2012, 1, 18, tzinfo=UTC)


@dataclass(frozen=True)
class StoreDay:
    """One store's day: its kit, the day, the plan's requests a minute, the requests of
    which paths are its API and the credential field the test plants."""

    kit: Any
    day: Day
    per_minute: int
    api: str
    secret: str
    credential: dict[str, Any]
    endpoint: str
    exactness: str
    limited: bool  # whether the fake itself enforces the plan's minute (else it only counts)
    paged: bool = False  # whether a poll may list further pages beyond its cost


def _incidents(source: str) -> Day:
    return Day(
        start=INCIDENTS,
        storm=(INCIDENTS + timedelta(hours=11), INCIDENTS + timedelta(hours=12)),
        source=source,
        queue="Group 70",
        rule="Group70BacklogHigh",
        threshold=90,
        recover=88,
    )


STORES = {
    "zendesk": StoreDay(
        zendesk.Kit(),
        _incidents("zd"),
        per_minute=200,
        api="/api/v2/",
        secret=zendesk.TOKEN,
        credential={"token_env": None, "token": zendesk.TOKEN},
        endpoint="search/count",
        exactness="lagging",
        limited=True,
    ),
    "freshdesk": StoreDay(
        freshdesk.Kit(),
        _incidents("fd"),
        per_minute=200,
        api="/api/v2/",
        secret=freshdesk.API_KEY,
        credential={"api_key_env": None, "api_key": freshdesk.API_KEY},
        endpoint="search/tickets",
        exactness="lagging",
        limited=True,
        paged=True,
    ),
    "servicenow": StoreDay(
        servicenow.Kit(),
        _incidents("sn"),
        per_minute=60,
        api="/api/now/",
        secret=servicenow.PASSWORD,
        credential={"password_env": None, "password": servicenow.PASSWORD},
        endpoint="stats",
        exactness="exact",
        limited=False,
    ),
    "jira": StoreDay(
        jira.Kit(),
        Day(
            start=HELPDESK,
            storm=(HELPDESK + timedelta(hours=13), HELPDESK + timedelta(hours=14)),
            source="jsm",
            queue="Value 1",
            rule="Value1BacklogHigh",
            threshold=35,
            recover=33,
        ),
        per_minute=100,
        api="/rest/api/",
        secret=jira.TOKEN,
        credential={"token_env": None, "token": jira.TOKEN},
        endpoint="search/approximate-count",
        exactness="approximate",
        limited=False,
    ),
}


@pytest.fixture(scope="module", params=list(STORES))
def run(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[StoreDay, dict[str, Any]]]:
    """Run the store's simulated day once; its tests read what it left."""
    store = STORES[request.param]
    clock = FakeClock(store.day.start)
    quirks: dict[str, Any] = {"storm": store.day.storm}
    if store.limited:
        quirks["per_minute"] = store.per_minute
    fake = store.kit.app(clock, quirks)
    with captured_logs() as records, FakeServer(fake) as server:
        source = store.kit.config(server.url, {"queues": 3})
        source.update(
            store.credential, budget={"requests_per_minute": store.per_minute, "share": 0.5}
        )
        settings = day_settings(store.day, source)
        result = run_day(
            store.day,
            tmp_path_factory.mktemp(request.param),
            clock,
            server,
            records,
            settings,
            _collector,
            lambda call: call.path.startswith(store.api),
        )
        yield store, {**result, "fake": fake, "config": settings.sources[0]}


class TestStoreDay:
    def test_the_rule_and_the_storm(self, run: tuple[StoreDay, dict[str, Any]]) -> None:
        """The rule fires before the storm and resolves after it, firing throughout; an
        hour of the store's 429s costs one request, every other poll succeeds."""
        store, day = run
        cost = day["config"].poll_cost().requests  # what check-config promises
        check_rule_and_storm(store.day, day, per_poll=cost, paged=store.paged)

    def test_no_window_is_lost(self, run: tuple[StoreDay, dict[str, Any]]) -> None:
        """The day's counters equal pandas' sum over consecutive windows, each from the
        previous successful poll (the storm's failed polls included in the next one)."""
        store, day = run
        config = day["config"]
        created = resolved = 0
        start = store.day.start - config.first_window
        for instant, ok, _sent in day["polls"]:
            if not ok:
                continue
            (stats,) = expected_queues(
                store.kit.log(),
                [(store.day.queue, store.day.queue)],
                start,
                instant,
                aging=False,
                flow_lag=getattr(config, "index_lag", timedelta(0)),
            )
            created += stats.created or 0
            resolved += stats.resolved or 0
            start = instant
        counters = day["counters"][store.day.queue]
        assert (counters["created_total"], counters["resolved_total"]) == (created, resolved)
        assert created > 5 and resolved > 5

    def test_never_over_our_share_of_the_plan(self, run: tuple[StoreDay, dict[str, Any]]) -> None:
        """The fake's own count of requests per minute: at most half the plan's."""
        store, day = run
        used = day["fake"].minute_calls
        assert used and max(used.values()) <= store.per_minute // 2

    def test_metrics_carry_requests_quota_and_exactness(
        self, run: tuple[StoreDay, dict[str, Any]]
    ) -> None:
        """Per-endpoint request counts (the storm's 429s among them), the quota left and
        the snapshot's exactness."""
        store, day = run
        metrics, source = day["metrics"], store.day.source
        assert f'code="200",endpoint="{store.endpoint}",source="{source}"' in metrics
        assert re.search(f'code="429",endpoint="[^"]+",source="{source}"', metrics)
        assert f'backlog_collector_quota_remaining{{source="{source}"}}' in metrics
        exactness = f'exactness="{store.exactness}",source="{source}"}} 1.0'
        assert exactness in metrics

    def test_the_credential_appears_nowhere(self, run: tuple[StoreDay, dict[str, Any]]) -> None:
        """Not in logs, metrics, the status page or the stored errors."""
        store, day = run
        outputs = [day["logs"], day["metrics"], day["page"], *day["errors"]]
        assert "429" in day["logs"]  # the logs did record the storm
        assert not [o for o in outputs if store.secret in o]


def _collector(config: Any, now: Any, sleep: Any) -> Any:
    """The store's collector, registered by its kind, on the harness's clock and sleep."""
    return REGISTRY[config.kind](config, clock=now, sleep=sleep)
