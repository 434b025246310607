"""The status page: its view (pure), its chart geometry, and the route on a real store."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa

from alerting.limits import BacklogLimit
from alerting.silences import Matcher, Silence
from alerting.state import AlertInstance, AlertState
from monitor.daemon import Daemon
from monitor.http import build_app
from monitor.sparkline import HEIGHT, WIDTH, sparkline
from monitor.statuspage import HEADERS, trends
from monitor.statusview import StoreView, build_page, duration
from monitor.store.history import SourceHealth
from monitor.store.schema import snapshots
from tests.fakes import T0, FakeClock, RecordingReceiver, ScriptedCollector
from tests.monitor.test_daemon import (
    AUTH,
    QUEUE,
    RULE,
    SECRET,
    SOURCE,
    Backlog,
    make_daemon,
    make_settings,
    registry_for,
    tick,
)

with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)  # Starlette >= 1.x asks for httpx2
    from starlette.testclient import TestClient

NOW = T0 + timedelta(days=1)


def row(queue: str, open_total: int, **extra: object) -> dict[str, object]:
    return {"source": SOURCE, "queue": queue, "ts": NOW, "open_total": open_total, **extra}


def firing(queue: str, rule: str = RULE) -> AlertInstance:
    labels = {"alertname": rule, "source": SOURCE, "queue": queue, "severity": "critical"}
    return AlertInstance(
        fingerprint=f"fp-{queue}",
        rule=rule,
        labels=labels,
        state=AlertState.FIRING,
        active_since=NOW - timedelta(hours=2),
        fired_at=NOW - timedelta(minutes=45),
        state_reason="last(open_tickets) = 900 > 500",
    )


def view(**fields: object) -> StoreView:
    base: dict[str, object] = {
        "latest": [row("Billing", 120), row("Sales", 900)],
        "trends": {},
        "forecasts": {},
        "instances": [],
        "silences": [],
        "staffing": {},
        "health": {},
        "sources": [SOURCE],
    }
    return StoreView(**{**base, **fields})  # type: ignore[arg-type]


class TestBuildPage:
    def test_queues_in_trouble_come_first_then_the_biggest(self) -> None:
        """A firing queue heads the list even when smaller; the rest by backlog, largest first."""
        latest = [row("Billing", 120), row("Sales", 900), row("Support", 400)]
        page = build_page(view(latest=latest, instances=[firing("Billing")]), NOW)
        assert [c.queue for c in page.queues] == ["Billing", "Sales", "Support"]
        assert [c.state for c in page.queues] == ["firing", "ok", "ok"]
        assert page.firing == 1

    def test_a_silenced_alert_is_shown_but_does_not_colour_the_queue(self) -> None:
        """The alert stays listed, marked silenced, and the queue counts as ok."""
        silence = Silence(
            id="s1",
            matchers=(Matcher("queue", "Billing"),),
            starts_at=NOW - timedelta(hours=1),
            ends_at=NOW + timedelta(hours=1),
            created_by="ops",
            comment="known",
        )
        page = build_page(view(instances=[firing("Billing")], silences=[silence]), NOW)
        card = next(c for c in page.queues if c.queue == "Billing")
        assert [(a.name, a.silenced, a.since) for a in card.alerts] == [(RULE, True, "45 min ago")]
        assert card.state == "ok"

    def test_breach_eta_counts_from_the_forecast_s_making(self) -> None:
        """An ETA of 3 h on a forecast made 1 h ago reads 'limit crossed in 2 h'."""
        forecast = {
            "made_at": NOW - timedelta(hours=1),
            "point": [100.0] * 6,
            "lower": [90.0] * 6,
            "upper": [110.0] * 6,
            "detail": {"eta_seconds": {"Surge": 3 * 3600.0, "Quiet": None}},
        }
        page = build_page(view(forecasts={(SOURCE, "Sales"): forecast}), NOW)
        assert page.queues[0].breach == "limit crossed in 2 h"
        assert page.queues[1].breach is None  # Billing has no forecast

    def test_sla_staffing_and_the_lowest_limit_are_shown(self) -> None:
        """SLA counts per kind, the staffing summary, and the strictest rule's limit."""
        latest = [row("Sales", 900, sla_breached_open={"resolution": 7}, sla_at_risk={})]
        limits = {(SOURCE, "Sales"): [BacklogLimit("A", 800.0), BacklogLimit("B", 500.0)]}
        staffing = {(SOURCE, "Sales"): {"summary": "Add 3 agents to queue Sales"}}
        page = build_page(view(latest=latest, limits=limits, staffing=staffing), NOW)
        card = page.queues[0]
        assert card.sla == ["7 past resolution SLA, 0 at risk"]
        assert card.staffing == "Add 3 agents to queue Sales"
        assert card.limit == BacklogLimit("B", 500.0)

    def test_a_failing_source_says_why_and_since_when(self) -> None:
        """A source down shows its failures and reason code, never the error message."""
        health = SourceHealth(
            source=SOURCE,
            watermark=None,
            last_success_at=NOW - timedelta(hours=3),
            last_attempt_at=NOW,
            last_error="connection to db.internal:5432 refused",
            last_error_reason="unavailable",
            consecutive_failures=4,
        )
        page = build_page(view(health={SOURCE: health}), NOW)
        [line] = page.sources
        assert not line.up
        assert line.detail == "4 failed poll(s) (unavailable); last success 3 h ago"

    def test_a_source_s_own_alert_is_listed_with_the_source(self) -> None:
        """CollectorDown (no queue label) appears on the source's line, on no queue card."""
        down = AlertInstance(
            fingerprint="fp-down",
            rule="CollectorDown",
            labels={"alertname": "CollectorDown", "source": SOURCE, "severity": "critical"},
            state=AlertState.FIRING,
            fired_at=NOW - timedelta(minutes=5),
        )
        page = build_page(view(instances=[down]), NOW)
        assert [(a.name, a.since) for a in page.sources[0].alerts] == [
            ("CollectorDown", "5 min ago")
        ]
        assert all(not c.alerts for c in page.queues)

    def test_durations_read_as_words(self) -> None:
        """Minutes under an hour, hours and minutes under a day, then days and hours."""
        assert duration(timedelta(minutes=5)) == "5 min"
        assert duration(timedelta(hours=3, minutes=20)) == "3 h 20 min"
        assert duration(timedelta(days=2, hours=4)) == "2 d 4 h"


class TestSparkline:
    def test_the_past_ends_at_now_and_the_band_lies_ahead(self) -> None:
        """History is drawn left of the now line, the band right of it, inside the box."""
        history = [(NOW - timedelta(hours=h), 100.0 + h) for h in range(24, 0, -1)]
        band = [(NOW + timedelta(hours=h), 90.0, 100.0, 120.0) for h in range(1, 25)]
        chart = sparkline(history, band, 110.0, NOW)
        xs = [float(p.split(",")[0].lstrip("ML")) for p in chart.line.split()]
        assert max(xs) <= chart.now_x == WIDTH / 2
        band_xs = [float(p.split(",")[0]) for p in chart.band.split()]
        assert min(band_xs) > chart.now_x and max(band_xs) <= WIDTH
        assert chart.limit_y is not None and 0 < chart.limit_y < HEIGHT
        assert chart.bottom < 90.0 and chart.top > 124.0

    def test_no_data_draws_nothing(self) -> None:
        """Without points there is no line, no band and no limit; the label says so."""
        chart = sparkline([], [], None, NOW)
        assert (chart.line, chart.band, chart.limit_y) == ("", "", None)
        assert chart.label == "no data yet"


@pytest.fixture
def served(
    clock: FakeClock, store: sa.Engine, receiver: RecordingReceiver
) -> Iterator[tuple[Daemon, TestClient]]:
    """A daemon whose rule fires on 900 open tickets, with its HTTP app."""
    collector = ScriptedCollector(SOURCE, Backlog(open=900))
    daemon = make_daemon(make_settings({"ops": receiver.url}, for_="0s"), clock, collector, store)
    for _ in range(3):
        tick(daemon, clock)
    with TestClient(build_app(daemon, registry_for(daemon)), headers=AUTH) as client:
        yield daemon, client
    daemon.close()


class TestStatusRoute:
    def test_the_page_shows_the_queue_and_its_firing_alert(
        self, served: tuple[Daemon, TestClient]
    ) -> None:
        """GET / answers HTML naming the queue, its backlog and the firing rule."""
        _, client = served
        response = client.get("/")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
        assert f'data-queue="{QUEUE}"' in response.text
        assert "900" in response.text and f"{RULE}</strong> firing" in response.text

    def test_no_secret_url_or_receiver_is_on_the_page(
        self, served: tuple[Daemon, TestClient], receiver: RecordingReceiver
    ) -> None:
        """The webhook secret, the receiver's URL and the source's URL never appear."""
        _, client = served
        text = client.get("/").text
        for hidden in (SECRET, receiver.url, "sqlite://"):
            assert hidden not in text

    def test_the_page_forbids_scripts_and_framing(self, served: tuple[Daemon, TestClient]) -> None:
        """The CSP allows no script and no framing; responses are not cached."""
        _, client = served
        headers = client.get("/").headers
        for name, value in HEADERS.items():
            assert headers[name] == value
        assert "script-src" not in headers["content-security-policy"]

    def test_an_empty_store_says_nothing_was_polled(
        self, store: sa.Engine, clock: FakeClock, receiver: RecordingReceiver
    ) -> None:
        """Before the first poll the page renders and says so."""
        collector = ScriptedCollector(SOURCE, Backlog(open=1))
        daemon = make_daemon(make_settings({"ops": receiver.url}), clock, collector, store)
        with TestClient(build_app(daemon, registry_for(daemon)), headers=AUTH) as client:
            text = client.get("/").text
        daemon.close()
        assert "No queue has been polled yet." in text and "not polled yet" in text


class TestTrends:
    def test_hourly_means_from_the_raw_rows(self, served: tuple[Daemon, TestClient]) -> None:
        """Three polls in one hour give one point: their mean, at the hour's middle."""
        daemon, _ = served
        with daemon.engine.connect() as conn:
            points = trends(conn, daemon.clock())
        [(at, mean)] = points[(SOURCE, QUEUE)]
        assert mean == 900.0
        assert at.minute == 30

    def test_each_store_dialect_groups_by_hour(self, engine: sa.Engine) -> None:
        """SQLite, PostgreSQL and MariaDB give the same hourly means of the same rows."""
        rows = [(T0 + timedelta(minutes=m), n) for m, n in ((5, 10), (35, 20), (65, 40), (70, 60))]
        with engine.begin() as conn:
            conn.execute(
                snapshots.insert(),
                [
                    {"source": SOURCE, "queue": QUEUE, "ts": ts, "window_start": ts}
                    | {"open_total": n, "open_breakdown": []}
                    for ts, n in rows
                ],
            )
        with engine.connect() as conn:
            points = trends(conn, T0 + timedelta(hours=2))
        assert points == {
            (SOURCE, QUEUE): [
                (T0 + timedelta(minutes=30), 15.0),
                (T0 + timedelta(minutes=90), 50.0),
            ]
        }
