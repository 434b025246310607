"""/metrics rendered once per change: the same bytes as prometheus_client, new after a write."""

from __future__ import annotations

import gzip
import threading
from collections.abc import Iterator
from datetime import timedelta

from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.openmetrics.exposition import CONTENT_TYPE_LATEST as OPENMETRICS
from prometheus_client.openmetrics.exposition import generate_latest as openmetrics_latest

from monitor.daemon import Daemon
from monitor.errors import SourceUnavailable
from monitor.exposition import ExpositionCache
from monitor.http import build_app
from tests.fakes import FakeClock, ScriptedCollector
from tests.monitor.test_daemon import AUTH, SOURCE, registry_for
from tests.monitor.test_http import TestClient, client, collector, daemon
from tests.processes import eventually

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


class ThreadRecordingCollector:
    """One gauge whose value the test sets; records which thread collected it."""

    def __init__(self) -> None:
        self.value = 1.0
        self.threads: list[str] = []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        self.threads.append(threading.current_thread().name)
        yield GaugeMetricFamily("demo_value", "A value.", value=self.value)


def eager_cache() -> tuple[ExpositionCache, ThreadRecordingCollector, list[int]]:
    """A cache over a recording collector, its version a counter the test bumps; short
    debounce so that the renderer's waits stay well under the test's patience."""
    registry = CollectorRegistry(auto_describe=False)
    recording = ThreadRecordingCollector()
    registry.register(recording)  # type: ignore[arg-type]
    version = [0]
    cache = ExpositionCache(registry, lambda: version[0], quiet=0.01, at_most=0.05, check=0.05)
    return cache, recording, version


class TestRenderedInTheBackground:
    def test_a_scrape_after_a_change_is_served_without_rendering_on_its_thread(self) -> None:
        cache, recording, version = eager_cache()
        cache.start()
        try:
            first = cache.get()  # no page yet: rendered now, here or by the renderer
            me = threading.current_thread().name
            on_request = cache.renders_on_request
            assert recording.threads.count(me) == on_request <= 1
            recording.value = 2.0
            version[0] += 1
            cache.changed()
            served = cache.get()  # at once: the old page, or the new one if already rendered
            assert served.body == first.body or b"demo_value 2.0" in served.body
            eventually(lambda: b"demo_value 2.0" in cache.get().body, "the renderer's page")
            assert "exposition" in recording.threads
            assert cache.renders_on_request == on_request
            assert recording.threads.count(me) == on_request
        finally:
            cache.stop()

    def test_a_change_not_announced_is_picked_up_by_the_periodic_check(self) -> None:
        cache, recording, version = eager_cache()
        cache.start()
        try:
            cache.get()
            recording.value = 3.0
            version[0] += 1  # no changed(): an in-memory count, say
            on_request = cache.renders_on_request
            eventually(lambda: b"demo_value 3.0" in cache.get().body, "the checked change")
        finally:
            cache.stop()
        assert cache.renders_on_request == on_request

    def test_every_format_asked_for_is_rendered_once_per_change(self) -> None:
        cache, recording, version = eager_cache()
        cache.start()
        try:
            cache.get()
            cache.get(accept_encoding="gzip")
            cache.get(accept="application/openmetrics-text")
            eventually(cache.current, "the three pages rendered")
            on_request = cache.renders_on_request
            before = recording.threads.count("exposition")
            recording.value = 4.0
            version[0] += 1
            cache.changed()

            def all_fresh() -> bool:
                plain = cache.get().body
                zipped = gzip.decompress(cache.get(accept_encoding="gzip").body)
                om = cache.get(accept="application/openmetrics-text").body
                return b"demo_value 4.0" in plain and zipped == plain and b"4.0" in om

            eventually(all_fresh, "every format rendered anew")
        finally:
            cache.stop()
        assert cache.renders_on_request == on_request
        # one collection per content type for the change (text and OpenMetrics)
        assert recording.threads.count("exposition") - before == 2

    def test_stop_ends_the_thread_and_scrapes_render_on_demand_again(self) -> None:
        cache, recording, version = eager_cache()
        cache.start()
        cache.get()
        cache.stop()
        assert not cache.running
        assert not any(t.name == "exposition" for t in threading.enumerate())
        recording.value = 5.0
        version[0] += 1
        assert b"demo_value 5.0" in cache.get().body  # rendered on this thread, current

    def test_the_daemon_s_app_after_a_poll(self, daemon: Daemon, clock: FakeClock) -> None:
        """Through build_app: after a poll the scrape does not render; the page catches up
        with the poll and is then byte for byte what generate_latest writes."""
        registry = registry_for(daemon)
        app = build_app(daemon, registry)
        exposition: ExpositionCache = app.state.exposition
        with TestClient(app, headers=AUTH) as client:
            polled(daemon, clock)
            exposition.start()
            try:
                client.get("/metrics")  # the first page: rendered on request, or just before
                on_request = exposition.renders_on_request
                clock.advance(timedelta(minutes=1))
                daemon.poll(SOURCE)
                client.get("/metrics")
                assert exposition.renders_on_request == on_request
                eventually(
                    lambda: client.get("/metrics").content == generate_latest(registry),
                    "the page as of the poll",
                )
            finally:
                exposition.stop()
        assert exposition.renders_on_request == on_request <= 1


class Burst:
    """A version that moves on each of its next ``left`` reads (commits landing while the
    renderer looks), then holds still; ``left=-1``: moves on every read, for ever."""

    def __init__(self) -> None:
        self.left = 0
        self.value = 0
        self._lock = threading.Lock()

    def __call__(self) -> int:
        with self._lock:
            if self.left:
                self.left -= 1
                self.value += 1
            return self.value


def burst_cache(at_most: float) -> tuple[ExpositionCache, ThreadRecordingCollector, Burst]:
    registry = CollectorRegistry(auto_describe=False)
    recording = ThreadRecordingCollector()
    registry.register(recording)  # type: ignore[arg-type]
    burst = Burst()
    cache = ExpositionCache(registry, burst, quiet=0.01, at_most=at_most, check=0.05)
    return cache, recording, burst


class TestDebounce:
    def test_a_burst_of_changes_costs_one_render(self) -> None:
        """Only the renderer reads the version here (the test waits on counters), so the
        five changes land between its reads: it waits them out and renders once."""
        cache, recording, burst = burst_cache(at_most=60.0)
        cache.get()  # the first page, rendered here before the renderer runs
        cache.start()
        try:
            burst.left = 5
            cache.changed()
            eventually(lambda: recording.threads.count("exposition") >= 1, "a render")
            eventually(lambda: burst.left == 0, "the burst read")
            eventually(cache.current, "the page as of the burst's end")
        finally:
            cache.stop()
        assert recording.threads.count("exposition") == 1
        assert cache.renders_on_request == 1

    def test_changes_that_never_stop_still_render_after_at_most(self) -> None:
        cache, recording, burst = burst_cache(at_most=0.05)
        cache.get()
        cache.start()
        try:
            burst.left = -1  # never quiet
            cache.changed()
            eventually(lambda: recording.threads.count("exposition") >= 2, "renders regardless")
        finally:
            cache.stop()
        assert cache.renders_on_request == 1
