"""/metrics rendered once per change: the same bytes as prometheus_client, new after a write."""

from __future__ import annotations

import gzip
from datetime import timedelta

from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client.openmetrics.exposition import CONTENT_TYPE_LATEST as OPENMETRICS
from prometheus_client.openmetrics.exposition import generate_latest as openmetrics_latest

from monitor.daemon import Daemon
from monitor.errors import SourceUnavailable
from monitor.exposition import ExpositionCache
from monitor.http import build_app
from tests.fakes import FakeClock, ScriptedCollector
from tests.monitor.test_daemon import AUTH, SOURCE, registry_for
from tests.monitor.test_http import TestClient, client, collector, daemon

__all__ = ["client", "collector", "daemon"]  # fixtures, shared with test_http


def polled(daemon: Daemon, clock: FakeClock) -> None:
    daemon.migrate()
    clock.advance(timedelta(minutes=1))
    daemon.poll(SOURCE)


class TestSameBytes:
    def test_a_scrape_is_what_generate_latest_writes_before_and_after_a_change(
        self, daemon: Daemon, clock: FakeClock, collector: ScriptedCollector
    ) -> None:
        """Byte for byte the text prometheus_client renders for the same registry, at
        every step: first scrape, a scrape with nothing changed, a scrape after a poll
        that changed the figures."""
        registry = registry_for(daemon)
        with TestClient(build_app(daemon, registry), headers=AUTH) as client:
            polled(daemon, clock)
            first = client.get("/metrics").content
            assert first == generate_latest(registry)
            assert client.get("/metrics").content == first
            collector.error = SourceUnavailable("helpdesk: down")
            clock.advance(timedelta(minutes=1))
            daemon.poll(SOURCE)
            after = client.get("/metrics").content
        assert after != first
        assert after == generate_latest(registry)
        assert b'backlog_collector_up{source="helpdesk"} 0.0' in after

    def test_openmetrics_is_negotiated_and_identical_to_its_encoder(
        self, daemon: Daemon, clock: FakeClock
    ) -> None:
        registry = registry_for(daemon)
        with TestClient(build_app(daemon, registry), headers=AUTH) as client:
            polled(daemon, clock)
            answer = client.get("/metrics", headers={"Accept": "application/openmetrics-text"})
            plain = client.get("/metrics")
        assert answer.headers["content-type"] == OPENMETRICS
        assert answer.content == openmetrics_latest(registry)
        assert answer.content.endswith(b"# EOF\n")
        assert plain.content == generate_latest(registry)

    def test_gzip_when_accepted(self, daemon: Daemon, clock: FakeClock) -> None:
        registry = registry_for(daemon)
        app = build_app(daemon, registry)
        with TestClient(app, headers=AUTH) as client:
            polled(daemon, clock)
            zipped = client.get("/metrics", headers={"Accept-Encoding": "gzip"})
            identity = client.get("/metrics", headers={"Accept-Encoding": "identity"})
        assert zipped.headers["content-encoding"] == "gzip"
        assert "content-encoding" not in identity.headers
        # httpx undoes the gzip: the body is the plain exposition
        assert zipped.content == identity.content == generate_latest(registry)


def counting_registry() -> tuple[CollectorRegistry, Gauge]:
    registry = CollectorRegistry(auto_describe=False)
    gauge = Gauge("demo_value", "A value.", ["k"], registry=registry)
    return registry, gauge


class TestRendersOncePerChange:
    def test_nothing_changed_means_no_render(self) -> None:
        registry, gauge = counting_registry()
        version = [0]
        cache = ExpositionCache(registry, lambda: version[0])
        gauge.labels("a").set(1)
        first = cache.get()
        assert cache.get() is first
        assert cache.renders == 1
        gauge.labels("a").set(2)  # not announced: the cache may serve the old bytes
        assert cache.get().body == first.body
        version[0] += 1
        assert cache.get().body == generate_latest(registry) != first.body
        assert cache.renders == 2

    def test_gzip_reuses_the_plain_render_of_the_same_version(self) -> None:
        registry, gauge = counting_registry()
        gauge.labels("a").set(1)
        cache = ExpositionCache(registry, lambda: 0)
        plain = cache.get()
        zipped = cache.get(accept_encoding="gzip")
        assert zipped.gzipped and gzip.decompress(zipped.body) == plain.body
        assert cache.renders == 1

    def test_counted_errors_and_commits_change_the_version(
        self, daemon: Daemon, clock: FakeClock
    ) -> None:
        """The daemon's version moves on every commit through its engine and every count,
        and stays put while nothing happens."""
        registry = registry_for(daemon)
        build_app(daemon, registry)  # listens to the engine's commits
        daemon.migrate()
        before = daemon.stats.version()
        assert daemon.stats.version() == before
        clock.advance(timedelta(minutes=1))
        daemon.poll(SOURCE)
        polled_version = daemon.stats.version()
        assert polled_version != before
        daemon.stats.count_error(SOURCE, "timeout")
        assert daemon.stats.version() != polled_version
