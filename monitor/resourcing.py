"""Resourcing each tick: suggestions, stabilised recommendations, the KEDA document.

Reads the same stored rows the rules read, and the forecast job's arrivals forecasts
(λ over the objective's window, when ``arrivals: forecast`` and a forecast is at most
``FORECAST_MAX_AGE`` old); keeps each queue's stabiliser state in the store
(``resourcing_state``) so a restart neither repeats nor forgets a recommendation.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from alerting.notifications import Notification
from alerting.resourcing import (
    CLEARED,
    DEFAULTS,
    RECOMMENDATION,
    BacklogBelow,
    FlowInputs,
    Sample,
    Stabiliser,
    StabiliserState,
    Suggestion,
    WaitWithin,
    cleared_payload,
    envelope,
    evaluate,
    pod_workers_raw,
    recommendation_id,
    scaling_document,
    suggest,
)
from alerting.resourcing.config import ResourcingConfig
from alerting.resourcing.rates import arrival_rate
from alerting.resourcing.stabilise import Direction
from alerting.resourcing.suggestion import Resource
from alerting.rules import ForecastView
from monitor.store.schema import resourcing_state

Key = tuple[str, str]
HOUR = timedelta(hours=1)
FORECAST_MAX_AGE = timedelta(hours=2)
"""An arrivals forecast older than this is ignored (the measured rate is used)."""


def tick(
    conn: sa.Connection,
    configs: Sequence[ResourcingConfig],
    series: Mapping[Key, Sequence[Mapping[str, Any]]],
    webhook_receivers: Sequence[str],
    now: datetime,
    forecasts: Mapping[Key, ForecastView] | None = None,
) -> tuple[dict[Key, Suggestion], list[Notification]]:
    """Suggest, stabilise and persist for every configured queue; returns the suggestions
    (for alert notifications) and the recommendation webhooks to enqueue. ``forecasts``
    are the latest stored forecasts (the ones the rules read), for the arrivals."""
    states = _load(conn)
    suggestions: dict[Key, Suggestion] = {}
    notes: list[Notification] = []
    for key, rows in sorted(series.items()):
        config = next((c for c in configs if c.selects(*key)), None)
        if config is None or not rows:
            continue
        entry = states.get(key, {})
        arrivals = _arrival_points((forecasts or {}).get(key), now)
        result = _one(config, key, rows, entry, now, arrivals)
        if result is None:
            continue
        suggestion, entry, events = result
        suggestions[key] = suggestion
        targets = config.receivers if config.receivers is not None else webhook_receivers
        notes += [
            Notification(
                receiver=r,
                idempotency_key=f"{event['data']['recommendation_id']}:{event['type']}:{r}",
                event=event["type"],
                payload=event,
            )
            for event in events
            for r in targets
        ]
        _save(conn, key, entry, now)
    return suggestions, notes


def _one(
    config: ResourcingConfig,
    key: Key,
    rows: Sequence[Mapping[str, Any]],
    entry: dict[str, Any],
    now: datetime,
    forecast: Sequence[tuple[datetime, float]] | None = None,
) -> tuple[Suggestion, dict[str, Any], list[dict[str, Any]]] | None:
    latest = rows[-1]
    measured = _arrivals(rows, now, config)
    inputs = FlowInputs(
        backlog=float(latest["open_total"]),
        arrival_rate=(
            arrival_rate(forecast, measured, _hour(now), _hour(now) + config.within)
            if config.arrivals == "forecast"
            else measured
        ),
        throughput=config.throughput_per_agent_hour,
        agents=config.agents,
        shrinkage=config.shrinkage,
    )
    target = config.target or 0.0
    objective = (
        BacklogBelow(target, now + config.within)
        if config.objective == "backlog_below"
        else WaitWithin(config.wait or config.within, now + config.within)
    )
    status = evaluate(_samples(rows), now, target).status
    resource: Resource = "human_agents" if config.resource == "humans" else "pods"
    raw_suggestion = suggest(key[1], objective, inputs, now, status, resource=resource)
    # Pods with backlog_per_worker scale on the backlog and the arrivals (KEDA's max).
    pod_workers = (
        pod_workers_raw(
            inputs.backlog,
            config.backlog_per_worker,
            inputs.arrival_rate,
            config.throughput_per_agent_hour,
        )
        if config.resource == "pods" and config.backlog_per_worker
        else None
    )
    raw = raw_suggestion.desired if pod_workers is None else math.ceil(pod_workers)
    state = _state(entry.get("stabiliser"))
    state, change = Stabiliser(DEFAULTS[config.resource]).step(state, raw, status, now)
    desired = state.value if state.value is not None else raw
    suggestion = suggest(key[1], objective, inputs, now, status, desired=desired, resource=resource)
    events: list[dict[str, Any]] = []
    sequence = int(entry.get("sequence", 0))
    previous_id = entry.get("recommendation_id")
    if change is not None:
        active = desired > config.agents
        if active:
            sequence += 1
            rid = recommendation_id(f"{config.name}-{key[1]}", now, sequence)
            events.append(envelope(RECOMMENDATION, suggestion.to_payload(rid, previous_id), now))
            previous_id = rid
        elif previous_id and change.direction is not Direction.INITIAL:
            events.append(
                envelope(
                    CLEARED,
                    cleared_payload(
                        previous_id, key[1], resource, "the queue no longer needs more staff"
                    ),
                    now,
                )
            )
            previous_id = None
    workers_raw = raw_suggestion.needed_raw if pod_workers is None else pod_workers
    document = scaling_document(
        key[1],
        now,
        backlog=inputs.backlog,
        oldest_age_seconds=latest.get("oldest_age_s"),
        arrival_rate_per_hour=inputs.arrival_rate,
        throughput_per_hour=inputs.throughput * max(config.agents, 1),
        status=status,
        workers_raw=workers_raw,
        current=config.agents,
    )
    new_entry = {
        "stabiliser": _state_json(state),
        "sequence": sequence,
        "recommendation_id": previous_id,
        "document": json.loads(json.dumps(document, default=str)),
        "last_sample_at": latest["ts"].isoformat(),
        "stale_after_s": config.stale_after.total_seconds(),
        "resource": config.resource,
        "summary": suggestion.summary,
    }
    return suggestion, new_entry, events


def _arrival_points(
    view: ForecastView | None, now: datetime
) -> list[tuple[datetime, float]] | None:
    """``(hour start, arrivals per hour)`` of a forecast at most ``FORECAST_MAX_AGE`` old."""
    if view is None or not view.arrivals or now - view.made_at > FORECAST_MAX_AGE:
        return None
    return [(view.made_at + k * HOUR, float(v)) for k, v in enumerate(view.arrivals)]


def _hour(ts: datetime) -> datetime:
    """The start of the forecast hour that holds ``ts`` (forecast steps are whole hours)."""
    return ts.replace(minute=0, second=0, microsecond=0)


def _arrivals(rows: Sequence[Mapping[str, Any]], now: datetime, config: ResourcingConfig) -> float:
    start = now - config.rate_window
    inside = [r for r in rows if start < r["ts"] <= now and r.get("created") is not None]
    if not inside:
        return 0.0
    first: datetime = min(r["window_start"] for r in inside)
    hours = max((now - max(first, start)).total_seconds(), 60.0) / 3600
    created = sum(int(r["created"]) for r in inside)
    return created / hours


def _samples(rows: Sequence[Mapping[str, Any]]) -> list[Sample]:
    total, out = 0.0, []
    for row in rows:
        total += float(row.get("resolved") or 0)
        out.append(Sample(row["ts"], float(row["open_total"]), total))
    return out


def _state(data: Mapping[str, Any] | None) -> StabiliserState:
    if not data:
        return StabiliserState()
    changed = data.get("changed_at")
    direction = data.get("last_direction")
    return StabiliserState(
        value=data.get("value"),
        changed_at=datetime.fromisoformat(changed) if changed else None,
        last_direction=Direction(direction) if direction else None,
        up_streak=int(data.get("up_streak", 0)),
        recent=tuple((datetime.fromisoformat(ts), int(v)) for ts, v in data.get("recent", [])),
        reason=str(data.get("reason", "")),
    )


def _state_json(state: StabiliserState) -> dict[str, Any]:
    data = asdict(state)
    data["changed_at"] = state.changed_at.isoformat() if state.changed_at else None
    data["last_direction"] = state.last_direction.value if state.last_direction else None
    data["recent"] = [[ts.isoformat(), v] for ts, v in state.recent]
    return data


def _load(conn: sa.Connection) -> dict[Key, dict[str, Any]]:
    return {
        (r["source"], r["queue"]): dict(r["state"])
        for r in conn.execute(sa.select(resourcing_state)).mappings()
    }


def load_documents(conn: sa.Connection) -> dict[Key, dict[str, Any]]:
    """Per queue: the stored state (KEDA document, stabiliser, summary)."""
    return _load(conn)


def _save(conn: sa.Connection, key: Key, entry: dict[str, Any], now: datetime) -> None:
    conn.execute(
        resourcing_state.delete().where(
            resourcing_state.c.source == key[0], resourcing_state.c.queue == key[1]
        )
    )
    conn.execute(
        resourcing_state.insert().values(source=key[0], queue=key[1], state=entry, updated_at=now)
    )
