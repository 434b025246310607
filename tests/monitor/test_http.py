"""The HTTP API: /metrics, /healthz and /readyz, in-process and on a real socket."""

from __future__ import annotations

import socket
import urllib.request
import warnings
from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families

from monitor.daemon import Daemon
from monitor.errors import SourceUnavailable
from monitor.http import HttpServer, build_app
from tests.fakes import FakeClock, RecordingReceiver, ScriptedCollector
from tests.monitor.test_daemon import (
    AUTH,
    QUEUE,
    SOURCE,
    Backlog,
    make_settings,
    registry_for,
)
from tests.processes import PATIENCE

with warnings.catch_warnings():
    # Starlette >= 1.x asks for httpx2 but still works with httpx, which is what is installed.
    warnings.simplefilter("ignore", UserWarning)
    from starlette.testclient import TestClient


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def collector() -> ScriptedCollector:
    return ScriptedCollector(SOURCE, Backlog(open=42))


@pytest.fixture
def daemon(
    clock: FakeClock, collector: ScriptedCollector, store: sa.Engine, receiver: RecordingReceiver
) -> Iterator[Daemon]:
    """A daemon not migrated yet (readiness starts false)."""
    d = Daemon(
        make_settings({"ops": receiver.url}),
        clock=clock,
        collectors={SOURCE: collector},
        engine=store,
        speedup=1e9,
    )
    yield d
    d.close()


@pytest.fixture
def client(daemon: Daemon) -> Iterator[TestClient]:
    with TestClient(build_app(daemon, registry_for(daemon)), headers=AUTH) as c:
        yield c


class TestMetricsEndpoint:
    def test_metrics_serves_the_prometheus_text_format(
        self, daemon: Daemon, clock: FakeClock, client: TestClient
    ) -> None:
        """/metrics answers 200 in the text format with the latest open tickets."""
        daemon.migrate()
        clock.advance(timedelta(minutes=1))
        daemon.poll(SOURCE)
        response = client.get("/metrics")
        assert response.status_code == 200
        assert response.headers["content-type"] == CONTENT_TYPE_LATEST
        families = {f.name: f for f in text_string_to_metric_families(response.text)}
        [sample] = families["backlog_open_tickets"].samples
        assert sample.labels == {
            "source": SOURCE,
            "queue": QUEUE,
            "status": "open",
            "priority": "P2",
        }
        assert sample.value == 42
        assert families["backlog_collector_up"].samples[0].value == 1

    def test_metrics_follow_the_store_between_scrapes(
        self, daemon: Daemon, clock: FakeClock, client: TestClient, collector: ScriptedCollector
    ) -> None:
        """Each scrape reads the store: a failed poll shows up at the next scrape."""
        daemon.migrate()
        clock.advance(timedelta(minutes=1))
        daemon.poll(SOURCE)
        assert 'backlog_collector_up{source="helpdesk"} 1.0' in client.get("/metrics").text
        collector.error = SourceUnavailable("helpdesk: down")
        clock.advance(timedelta(minutes=1))
        daemon.poll(SOURCE)
        text = client.get("/metrics").text
        assert 'backlog_collector_up{source="helpdesk"} 0.0' in text
        assert 'backlog_collector_errors_total{reason="unavailable",source="helpdesk"} 1.0' in text


class TestProbes:
    def test_healthz_is_ok_even_before_migration(self, client: TestClient) -> None:
        """/healthz only says the process serves: 200 ok from the start."""
        response = client.get("/healthz")
        assert response.status_code == 200
        assert response.text == "ok\n"

    def test_readyz_lists_every_reason_until_ready(
        self,
        daemon: Daemon,
        clock: FakeClock,
        client: TestClient,
        collector: ScriptedCollector,
    ) -> None:
        """/readyz is 503 with each reason, then 200 after migration and a successful poll."""
        not_polled = f"source {SOURCE!r} has not been polled successfully yet"
        response = client.get("/readyz")
        assert response.status_code == 503
        assert response.json() == {
            "ready": False,
            "reasons": ["the history store is not migrated yet", not_polled],
            "role": "leader",
        }
        daemon.migrate()
        response = client.get("/readyz")
        assert (response.status_code, response.json()["reasons"]) == (503, [not_polled])

        collector.error = SourceUnavailable("helpdesk: refused")
        clock.advance(timedelta(minutes=1))
        daemon.poll(SOURCE)
        assert client.get("/readyz").status_code == 503

        collector.error = None
        clock.advance(timedelta(minutes=1))
        daemon.poll(SOURCE)
        response = client.get("/readyz")
        assert response.status_code == 200
        assert response.json() == {"ready": True, "reasons": [], "role": "leader"}

    def test_unknown_path_is_404(self, client: TestClient) -> None:
        """Only the three documented paths exist."""
        assert client.get("/admin").status_code == 404


class TestHttpServer:
    def test_serves_on_a_real_socket_and_stops(self, daemon: Daemon) -> None:
        """HttpServer answers on its port after start() and releases it after stop()."""
        port = free_port()
        server = HttpServer(build_app(daemon, registry_for(daemon)), "127.0.0.1", port)
        server.start()
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=PATIENCE) as r:
                assert r.status == 200
                assert r.read() == b"ok\n"
        finally:
            server.stop()
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", port))  # free again

    # uvicorn calls sys.exit(1) in the server thread when it cannot bind; that is expected.
    @pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
    def test_start_fails_when_the_port_is_taken(self, daemon: Daemon) -> None:
        """A port in use is an OSError from start(), not a silent thread death."""
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            server = HttpServer(build_app(daemon, registry_for(daemon)), "127.0.0.1", port)
            with pytest.raises(OSError, match="did not start"):
                server.start()
