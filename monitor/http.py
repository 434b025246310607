"""The HTTP server (Starlette, served by uvicorn): the status page, /metrics, /healthz, /readyz
and the API."""

from __future__ import annotations

import threading
from datetime import datetime

import sqlalchemy as sa
import uvicorn
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from monitor.api import Api
from monitor.auth import TokenGate
from monitor.daemon import Daemon
from monitor.exposition import ExpositionCache
from monitor.intake.endpoint import intake_routes
from monitor.metrics import BacklogCollector
from monitor.openapi import describe
from monitor.statuspage import StatusPageRoute


def daemon_registry(daemon: Daemon) -> CollectorRegistry:
    """A registry holding the daemon's metrics collector (what ``/metrics`` serves)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(
        BacklogCollector(
            daemon.engine, daemon.stats, lambda: daemon.source_names, daemon.clock, daemon.rules
        )
    )
    return registry


def build_app(daemon: Daemon, registry: CollectorRegistry) -> Starlette:
    """The ASGI application; ``registry`` holds the daemon's custom collector."""
    exposition = ExpositionCache(registry, daemon.stats.version)
    # Every commit through the daemon's engine (its jobs, the API, the lease) may change
    # a figure: the page is rendered anew (by the background renderer once
    # ``app.state.exposition.start()`` ran, else at the next scrape). Writes by other
    # processes (another replica's evaluation) show after this replica's next commit:
    # its next poll or lease renewal.
    sa.event.listen(daemon.engine, "commit", lambda _conn: committed(daemon, exposition))

    def metrics(request: Request) -> Response:
        """Prometheus exposition of the metric catalogue (text, or OpenMetrics when the
        ``Accept`` header asks; gzip when ``Accept-Encoding`` allows), rendered once per
        change (:mod:`monitor.exposition`)."""
        answer = exposition.get(
            request.headers.get("accept", ""), request.headers.get("accept-encoding", "")
        )
        headers = {"Content-Encoding": "gzip"} if answer.gzipped else None
        return Response(answer.body, headers=headers, media_type=answer.content_type)

    def healthz(_request: Request) -> Response:
        """200 while the process serves."""
        return PlainTextResponse("ok\n")

    def readyz(_request: Request) -> Response:
        """200 once the store is migrated and every source polled; else 503 and reasons."""
        reasons = daemon.readiness.reasons(daemon.source_names)
        body = {"ready": not reasons, "reasons": reasons, "role": daemon.leadership.role.value}
        return JSONResponse(body, status_code=200 if not reasons else 503)

    def openapi_json(_request: Request) -> Response:
        """This OpenAPI description of the HTTP app."""
        return JSONResponse(describe(routes, daemon.settings.http))

    routes = [
        Route("/", StatusPageRoute(daemon).page),
        Route("/metrics", metrics),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/openapi.json", openapi_json),
        *Api(daemon).routes(),
        *intake_routes(
            daemon.settings.http.intake,
            {source.name: source.kind for source in daemon.settings.sources},
            daemon.clock,
            daemon.stats.count_intake,
            lambda source, at: early_poll(daemon, source, at),
        ),
    ]
    app = Starlette(middleware=[Middleware(TokenGate, http=daemon.settings.http)], routes=routes)
    app.state.exposition = exposition
    return app


def committed(daemon: Daemon, exposition: ExpositionCache) -> None:
    """A transaction committed through the daemon's engine: a figure may have changed."""
    daemon.stats.touch()
    exposition.changed()


def early_poll(daemon: Daemon, source: str, at: datetime) -> None:
    """Bring ``source``'s poll forward to ``at`` when something schedules the polls."""
    if daemon.early_poll is not None:
        daemon.early_poll(source, at)


class HttpServer:
    """Runs uvicorn in a background thread; :meth:`stop` finishes in-flight requests."""

    def __init__(self, app: Starlette, host: str, port: int) -> None:
        config = uvicorn.Config(
            app, host=host, port=port, log_level="warning", access_log=False, lifespan="off"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="http", daemon=True)

    def start(self, timeout: float = 10.0) -> None:
        self._thread.start()
        waited = 0.0
        while not self._server.started and self._thread.is_alive() and waited < timeout:
            threading.Event().wait(0.05)
            waited += 0.05
        if not self._server.started:
            raise OSError("the HTTP server did not start (is the address already in use?)")

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
