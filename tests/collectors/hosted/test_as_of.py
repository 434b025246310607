"""``snapshot --as-of`` on the hosted stores: figures reconstructed from the API's own
time filters (Zendesk, ServiceNow, Jira, GitLab, Fxiaoke, Help Scout here, GitHub in
``tests/collectors/test_github.py``) equal pandas over the fake store's tickets; the
stores whose API cannot answer refuse with a message naming what is missing, without a
request."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pytest

from collectors import REGISTRY
from collectors.base import QueueStats, Snapshot, Window
from collectors.hosted.past import OPEN_THEN
from monitor.errors import PastUnavailable
from tests.collectors.fakeserver import FakeServer
from tests.collectors.stores import (
    freshdesk,
    fxiaoke,
    gitlab,
    helpscout,
    jira,
    servicenow,
    udesk,
    zendesk,
    zohodesk,
)

NOW = datetime(2016, 4, 15, 12, tzinfo=UTC)
INSTANTS = (
    datetime(2016, 3, 10, tzinfo=UTC),
    datetime(2016, 4, 1, 9, 30, tzinfo=UTC),
    datetime(2016, 4, 14, 18, tzinfo=UTC),
)
WINDOW = timedelta(days=1)


def build(
    kit: Any, url: str, monkeypatch: pytest.MonkeyPatch, now: datetime = NOW, **case: Any
) -> Any:
    for name, value in kit.environment.items():
        monkeypatch.setenv(name, value)
    data = kit.config(url, case)
    config = REGISTRY[data["kind"]].config_model.model_validate(data)
    return REGISTRY[data["kind"]](config, clock=lambda: now.timestamp(), sleep=lambda _: None)  # type: ignore[call-arg]


def past_snapshots(
    kit: Any,
    monkeypatch: pytest.MonkeyPatch,
    now: datetime = NOW,
    instants: tuple[datetime, ...] = INSTANTS,
    **case: Any,
) -> tuple[Any, list[tuple[datetime, Snapshot]]]:
    """The kit's collector over its fake at ``now`` and its snapshot of the day before
    each of ``instants``, read as of that instant (each one ``approximate``)."""
    with FakeServer(kit.app(lambda: now, {})) as server:
        collector = build(kit, server.url, monkeypatch, now, **case)
        try:
            read = []
            for instant in instants:
                snapshot = collector.collect(Window(instant - WINDOW, instant, historical=True))
                assert snapshot.exactness == "approximate"
                read.append((instant, snapshot))
        finally:
            collector.close()
    return collector, read


def figures(q: QueueStats) -> dict[str, Any]:
    """A queue's figures in the shape :func:`expected` gives."""
    return {
        "open": dict(q.open_by_status_priority),
        "created": q.created,
        "resolved": q.resolved,
        "older_than": dict(q.older_than or {}),
        "oldest": q.oldest_age_s,
    }


def assert_equal_pandas(
    read: list[tuple[datetime, Snapshot]],
    state: pd.DataFrame,
    closed: tuple[str, ...],
    least_open: int,
) -> None:
    """Every queue's figures at each instant are :func:`expected`'s, and more than
    ``least_open`` tickets were open then over all queues."""
    for instant, snapshot in read:
        for q in snapshot.queues:
            assert figures(q) == expected(state, closed, instant, q.queue), (instant, q.queue)
        assert sum(q.open_total for q in snapshot.queues) > least_open, instant


def zendesk_expected(instant: datetime, group: str) -> dict[str, Any]:
    state = zendesk.servicenow_log().state_at(NOW)
    return expected(state, ("solved", "closed"), instant, group)


def expected(
    state: pd.DataFrame, closed: tuple[str, ...], instant: datetime, group: str
) -> dict[str, Any]:
    """pandas over the fake's tickets now (``state``, those in ``closed`` statuses not
    open): the group's figures at ``instant`` by the documented rule."""
    mine = state[state["queue"] == group]
    t, start = pd.Timestamp(instant), pd.Timestamp(instant - WINDOW)
    done = mine["status"].isin(closed)
    live = mine[(mine["created"] < t) & (~done | (mine["resolved"] >= t))]
    return {
        "open": {(OPEN_THEN, ""): len(live)} if len(live) else {},
        "created": int(((mine["created"] >= start) & (mine["created"] < t)).sum()),
        "resolved": int((done & (mine["resolved"] >= start) & (mine["resolved"] < t)).sum()),
        "older_than": {
            name: int((live["created"] < t - pd.Timedelta(days=d)).sum())
            for name, d in (("7d", 7), ("14d", 14), ("30d", 30))
        },
        "oldest": (t - live["created"].min()).total_seconds() if len(live) else None,
    }


def test_zendesk_as_of_equals_pandas(monkeypatch: pytest.MonkeyPatch) -> None:
    _, read = past_snapshots(zendesk.Kit(), monkeypatch, queues=8)
    for instant, snapshot in read:
        for q in snapshot.queues:
            assert figures(q) == zendesk_expected(instant, q.queue), (instant, q.queue)
        assert sum(q.open_total for q in snapshot.queues) > 100, instant
        assert sum(q.created or 0 for q in snapshot.queues) > 10, instant


def test_zendesk_live_poll_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without ``historical``: per status, today (no ``(open then)``)."""
    kit = zendesk.Kit()
    with FakeServer(kit.app(lambda: NOW, {})) as server:
        collector = build(kit, server.url, monkeypatch, queues=3)
        try:
            snapshot = collector.collect(Window(NOW - WINDOW, NOW))
        finally:
            collector.close()
    assert snapshot.exactness == "lagging"
    statuses = {s for q in snapshot.queues for s, _ in q.open_by_status_priority}
    assert statuses and OPEN_THEN not in statuses


def test_servicenow_as_of_equals_pandas(monkeypatch: pytest.MonkeyPatch) -> None:
    state = servicenow.incident_log().state_at(NOW)
    _, read = past_snapshots(servicenow.Kit(), monkeypatch, queues=8)
    assert_equal_pandas(read, state, ("Resolved", "Closed"), least_open=100)


def test_jira_as_of_equals_pandas(monkeypatch: pytest.MonkeyPatch) -> None:
    """JQL counts over the Italian help-desk log (instants on whole minutes: JQL reads
    times to the minute)."""
    now = datetime(2012, 6, 1, 12, tzinfo=UTC)
    instants = (
        datetime(2011, 6, 1, tzinfo=UTC),
        datetime(2012, 1, 10, 9, 30, tzinfo=UTC),
        datetime(2012, 3, 1, tzinfo=UTC),
    )
    state = jira.helpdesk_log().state_at(now)
    _, read = past_snapshots(jira.Kit(), monkeypatch, now, instants)
    assert_equal_pandas(read, state, ("Resolved", "Closed"), least_open=20)


def test_gitlab_as_of_equals_pandas(monkeypatch: pytest.MonkeyPatch) -> None:
    """REST statistics plus GraphQL createdBefore/closedAfter; no oldest (REST cannot
    filter on the closing time), so it is absent."""
    state = gitlab.issue_log().state_at(NOW)
    collector, read = past_snapshots(gitlab.Kit(), monkeypatch, queues=8)
    labels = {q.name: q.label for q in collector.config.queues}
    for instant, snapshot in read:
        for q in snapshot.queues:
            want = expected(state, ("closed",), instant, labels[q.queue])
            want["open"] = {("opened", s): n for (_, s), n in want["open"].items()}
            assert figures(q) == {**want, "oldest": None}, (instant, q.queue)
        assert sum(q.open_total for q in snapshot.queues) > 100, instant


def test_fxiaoke_as_of_equals_pandas(monkeypatch: pytest.MonkeyPatch) -> None:
    """data/query totals with the tenant's resolution field."""
    state = fxiaoke.fxiaoke_log().state_at(NOW)
    _, read = past_snapshots(fxiaoke.Kit(), monkeypatch, queues=8)
    assert_equal_pandas(read, state, ("4", "5"), least_open=100)


def test_helpscout_as_of_equals_pandas(monkeypatch: pytest.MonkeyPatch) -> None:
    """Conversation counts on createdAt, and the closed listing's closedAt (no closedAt
    filter), over the ServiceNow log; the requests are the documented count."""
    state = helpscout.helpscout_log().state_at(NOW)
    case = {"queues": 8, "config": {"budget": {"requests_per_minute": 100_000}}}
    collector, read = past_snapshots(helpscout.Kit(), monkeypatch, **case)
    assert_equal_pandas(read, state, ("closed",), least_open=100)
    for instant, snapshot in read:
        assert sum(q.created or 0 for q in snapshot.queues) > 10, instant
        assert sum(q.resolved or 0 for q in snapshot.queues) > 10, instant
        assert all(q.unassigned is None and q.workload is None for q in snapshot.queues)
    listing = expected_listing_pages(state, [m.name for m in collector.config.mailboxes])
    sent = collector.http_stats.requests
    assert {endpoint for endpoint, _ in sent} == {"oauth2/token", "conversations"}  # no folders
    searches = sum(n for (endpoint, _), n in sent.items() if endpoint == "conversations")
    assert searches == len(INSTANTS) * 8 * 5 + sum(listing), listing


def expected_listing_pages(state: pd.DataFrame, groups: list[str]) -> list[int]:
    """Pages of the closed listing at each instant: closed conversations of ``groups``
    created before it and modified since its window's start, 25 a page."""
    mine = state[state["queue"].isin(groups) & (state["status"] == "closed")]
    pages = []
    for instant in INSTANTS:
        t, start = pd.Timestamp(instant), pd.Timestamp(instant - WINDOW)
        n = int(((mine["created"] < t) & (mine["modified"] >= start)).sum())
        pages.append(max(1, -(-n // helpscout.PAGE)))
    return pages


def test_helpscout_as_of_refuses_a_listing_over_its_pages(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A past instant whose closed listing has more pages than ``as_of_pages`` is refused
    after the listing's first page, saying how many pages it would take."""
    kit = helpscout.Kit()
    with FakeServer(kit.app(lambda: NOW, {})) as server:
        collector = build(kit, server.url, monkeypatch, queues=8, config={"as_of_pages": 3})
        try:
            with pytest.raises(PastUnavailable, match=r"take \d+ pages, over as_of_pages \(3\)"):
                collector.collect(Window(INSTANTS[0] - WINDOW, INSTANTS[0], historical=True))
        finally:
            collector.close()
        conversations = [c for c in server.calls if c.path == "/v2/conversations"]
    assert len(conversations) == 1


REFUSED = {
    "freshdesk": (freshdesk.Kit(), "no filter on the resolution time"),
    "zohodesk": (zohodesk.Kit(), "not on the closing time"),
    "udesk": (udesk.Kit(), "no time filter"),
    "fxiaoke": (fxiaoke.Kit(), "without resolved_field"),
}


@pytest.mark.parametrize("store", sorted(REFUSED))
def test_stores_without_a_reading_refuse(store: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A past instant is refused, naming what is missing, before any request: never
    today's figures presented as the past's."""
    kit, missing = REFUSED[store]
    with FakeServer(kit.app(lambda: NOW, {})) as server:
        case = {"config": {"resolved_field": None}} if store == "fxiaoke" else {}
        collector = build(kit, server.url, monkeypatch, **case)
        try:
            with pytest.raises(PastUnavailable, match=missing) as caught:
                collector.collect(
                    Window(NOW - timedelta(days=4), NOW - timedelta(days=3), historical=True)
                )
        finally:
            collector.close()
        assert not server.calls
    assert str(caught.value).startswith(f"{collector.name}: figures as of a past instant")
