"""The JSON API: alerts, silences, forecasts and the autoscaler (KEDA) endpoint."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from alerting.silences import SilenceInput
from monitor import operator, resourcing
from monitor.daemon import Daemon
from monitor.store import alerts as alert_store
from monitor.store import forecasting as forecast_store
from monitor.store import history


class Api:
    """Handlers bound to one daemon."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon

    def routes(self) -> list[Route]:
        return [
            Route("/api/v1/alerts", self.alerts),
            Route("/api/v1/silences", self.silences_get, methods=["GET"]),
            Route("/api/v1/silences", self.silences_post, methods=["POST"]),
            Route("/api/v1/silences/{id}", self.silence_delete, methods=["DELETE"]),
            Route("/api/v1/forecasts", self.forecasts),
            Route("/api/v1/forecasts/{source}/{queue:path}", self.forecast_detail),
            Route("/api/v1/queues/{queue:path}/scaling", self.scaling),
            Route("/api/v1/workload", self.workload),
        ]

    async def silences_post(self, request: Request) -> Response:
        """Create a silence (Alertmanager's fields); 400 with the reason when invalid."""
        try:
            body = SilenceInput.model_validate(await request.json())
        except ValueError as err:  # JSON or validation error: say what is wrong
            return JSONResponse({"error": _problem(err)}, status_code=400)
        silence = operator.add_silence(self.daemon.engine, body, self.daemon.clock())
        return JSONResponse({"silenceID": silence.id}, status_code=200)

    def silences_get(self, _request: Request) -> Response:
        """Every silence with its state."""
        return JSONResponse(operator.list_silences(self.daemon.engine, self.daemon.clock()))

    def silence_delete(self, request: Request) -> Response:
        """Expire a silence; 404 when there is none with this id."""
        found = operator.expire_silence(
            self.daemon.engine, request.path_params["id"], self.daemon.clock()
        )
        return JSONResponse({}, status_code=200 if found else 404)

    def alerts(self, _request: Request) -> Response:
        """Alert instances with state, values and reason."""
        with self.daemon.engine.connect() as conn:
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

    def workload(self, _request: Request) -> Response:
        """Each queue's latest workload figures (agents, stale, waiting, routing, top
        categories), for the queues of sources with a ``workload`` section."""
        with self.daemon.engine.connect() as conn:
            rows = history.latest(conn)
        return JSONResponse(
            [
                {
                    "source": r["source"],
                    "queue": r["queue"],
                    "ts": iso_or_none(r["ts"]),
                    "workload": r["workload"],
                }
                for r in rows
                if r.get("workload") is not None
            ]
        )

    def forecasts(self, _request: Request) -> Response:
        """Every queue's latest forecast (1, 6 and 24 h ahead)."""
        with self.daemon.engine.connect() as conn:
            rows = forecast_store.load_forecasts(conn)
        return JSONResponse([_forecast_json(r, full=False) for r in rows])

    def forecast_detail(self, request: Request) -> Response:
        """One queue's forecast: points, band, breach ETA and probability; 404 if none."""
        source, queue = request.path_params["source"], request.path_params["queue"]
        with self.daemon.engine.connect() as conn:
            rows = forecast_store.load_forecasts(conn)
        found = [r for r in rows if r["source"] == source and r["queue"] == queue]
        if not found:
            return JSONResponse({"error": f"no forecast for {source}/{queue}"}, status_code=404)
        return JSONResponse(_forecast_json(found[0], full=True))

    def scaling(self, request: Request) -> Response:
        """The autoscaler (KEDA) document of a queue; 503 when its data is stale."""
        queue, source = request.path_params["queue"], request.query_params.get("source")
        with self.daemon.engine.connect() as conn:
            states = resourcing.load_documents(conn)
        found = [
            (key, state)
            for key, state in states.items()
            if key[1] == queue and (source is None or key[0] == source)
        ]
        if not found:
            return JSONResponse({"error": f"no resourcing for queue {queue!r}"}, status_code=404)
        if len(found) > 1:
            return JSONResponse(
                {"error": "several sources have this queue: add ?source="}, status_code=409
            )
        _, state = found[0]
        now = self.daemon.clock()
        last = datetime.fromisoformat(state["last_sample_at"])
        stale = (now - last).total_seconds() > state["stale_after_s"]
        down = source_down(self.daemon, found[0][0][0])
        if stale or down:
            reason = "the source is down" if down else f"no data since {state['last_sample_at']}"
            return JSONResponse({"error": f"stale: {reason}", "stale": True}, status_code=503)
        return JSONResponse(state["document"])


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
        "breachModel": detail.get("breach_model"),
        "at": {
            f"{h}h": {b: row[b][h - 1] for b in ("point", "lower", "upper")}
            for h in (1, 6, 24)
            if len(row["point"]) >= h
        },
    }
    if full:
        body.update(
            point=row["point"],
            lower=row["lower"],
            upper=row["upper"],
            arrivals=detail.get("arrivals"),
            resolutions=detail.get("resolutions"),
        )
    return body


def source_down(daemon: Daemon, source: str) -> bool:
    with daemon.engine.connect() as conn:
        health = history.source_health(conn).get(source)
    return health is not None and not health.up


def iso_or_none(when: datetime | None) -> str | None:
    return None if when is None else when.isoformat().replace("+00:00", "Z")


def _problem(err: ValueError) -> str:
    if isinstance(err, ValidationError):
        return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors())
    return str(err)
