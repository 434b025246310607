"""The HTTP API (Starlette, served by uvicorn): /metrics, /healthz, /readyz."""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from alerting.silences import SilenceInput
from monitor import operator
from monitor.daemon import Daemon
from monitor.store import alerts as alert_store
from monitor.store import forecasting as forecast_store


def build_app(daemon: Daemon, registry: CollectorRegistry) -> Starlette:
    """The ASGI application; ``registry`` holds the daemon's custom collector."""

    def metrics(_request: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    def healthz(_request: Request) -> Response:
        return PlainTextResponse("ok\n")

    def readyz(_request: Request) -> Response:
        reasons = daemon.readiness.reasons(daemon.source_names)
        body = {"ready": not reasons, "reasons": reasons}
        return JSONResponse(body, status_code=200 if not reasons else 503)

    async def silences_post(request: Request) -> Response:
        try:
            body = SilenceInput.model_validate(await request.json())
        except ValueError as err:  # JSON or validation error: say what is wrong
            return JSONResponse({"error": _problem(err)}, status_code=400)
        silence = operator.add_silence(daemon.engine, body, daemon.clock())
        return JSONResponse({"silenceID": silence.id}, status_code=200)

    def silences_get(_request: Request) -> Response:
        return JSONResponse(operator.list_silences(daemon.engine, daemon.clock()))

    def silence_delete(request: Request) -> Response:
        found = operator.expire_silence(daemon.engine, request.path_params["id"], daemon.clock())
        return JSONResponse({}, status_code=200 if found else 404)

    def alerts(_request: Request) -> Response:
        with daemon.engine.connect() as conn:
            instances = alert_store.load_instances(conn).values()
        return JSONResponse(
            [
                {
                    "fingerprint": i.fingerprint,
                    "labels": dict(i.labels),
                    "state": i.state.value,
                    "activeSince": iso_or_none(i.active_since),
                    "firedAt": iso_or_none(i.fired_at),
                    "resolvedAt": iso_or_none(i.resolved_at),
                    "fireValue": i.fire_value,
                    "value": i.last_value,
                    "stateReason": i.state_reason,
                }
                for i in instances
            ]
        )

    def forecasts(_request: Request) -> Response:
        with daemon.engine.connect() as conn:
            rows = forecast_store.load_forecasts(conn)
        return JSONResponse([_forecast_json(r, full=False) for r in rows])

    def forecast_detail(request: Request) -> Response:
        source, queue = request.path_params["source"], request.path_params["queue"]
        with daemon.engine.connect() as conn:
            rows = forecast_store.load_forecasts(conn)
        found = [r for r in rows if r["source"] == source and r["queue"] == queue]
        if not found:
            return JSONResponse({"error": f"no forecast for {source}/{queue}"}, status_code=404)
        return JSONResponse(_forecast_json(found[0], full=True))

    return Starlette(
        routes=[
            Route("/api/v1/forecasts", forecasts),
            Route("/api/v1/forecasts/{source}/{queue:path}", forecast_detail),
            Route("/metrics", metrics),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/api/v1/alerts", alerts),
            Route("/api/v1/silences", silences_get, methods=["GET"]),
            Route("/api/v1/silences", silences_post, methods=["POST"]),
            Route("/api/v1/silences/{id}", silence_delete, methods=["DELETE"]),
        ]
    )


def _forecast_json(row: dict[str, Any], *, full: bool) -> dict[str, Any]:
    """A stored forecast for the API: steps are hours after ``madeAt``."""
    detail = row.get("detail") or {}
    body: dict[str, Any] = {
        "source": row["source"],
        "queue": row["queue"],
        "madeAt": iso_or_none(row["made_at"]),
        "model": row["model"],
        "status": row["status"],
        "level": row["level"],
        "backtestMase": row["backtest_mase"],
        "breachEtaSeconds": detail.get("eta_seconds", {}),
        "breachProbability": detail.get("breach", {}),
        "at": {
            f"{h}h": {b: row[b][h - 1] for b in ("point", "lower", "upper")}
            for h in (1, 6, 24)
            if len(row["point"]) >= h
        },
    }
    if full:
        body.update(point=row["point"], lower=row["lower"], upper=row["upper"])
    return body


def iso_or_none(when: datetime | None) -> str | None:
    return None if when is None else when.isoformat().replace("+00:00", "Z")


def _problem(err: ValueError) -> str:
    if isinstance(err, ValidationError):
        return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors())
    return str(err)


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
