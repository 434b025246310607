"""Erlang C for real-time channels (chat, voice); stdlib only.

With offered load ``A = λ·AHT`` (in Erlangs) and ``N`` agents::

    P_wait = Erlang C,   SL(t) = 1 - P_wait·e^(-(N-A)·t/AHT),   ASA = P_wait·AHT/(N-A)

P_wait is computed from the Erlang B recursion ``B(0) = 1``,
``B(k) = A·B(k-1) / (k + A·B(k-1))`` and ``C = N·B / (N - A·(1 - B))``, which never
forms ``Aᴺ`` or ``N!`` and so stays finite for thousands of agents.

It assumes no starting backlog and a stationary interval: with an SLA in hours the
exponential term vanishes and the answer degenerates to "N > A" (see the docs).
Tickets use :mod:`alerting.resourcing.flow` instead.
"""

from __future__ import annotations

import math
from datetime import timedelta

MAX_AGENTS = 100_000
"""Search bound for :func:`agents_for_service_level`."""


def offered_load(arrivals: float, interval: timedelta, aht: timedelta) -> float:
    """Offered load in Erlangs: ``arrivals`` per ``interval``, each taking ``aht``."""
    return arrivals * aht.total_seconds() / interval.total_seconds()


def erlang_b(agents: int, load: float) -> float:
    """Blocking probability of an M/M/N/N system (Erlang B), by the stable recursion."""
    if agents < 0 or load < 0:
        raise ValueError("agents and load must not be negative")
    blocking = 1.0
    for k in range(1, agents + 1):
        blocking = load * blocking / (k + load * blocking)
    return blocking


def probability_of_wait(agents: int, load: float) -> float:
    """Erlang C: the chance an arriving contact waits; 1.0 when ``agents <= load``."""
    if agents <= load:
        return 1.0
    blocking = erlang_b(agents, load)
    return agents * blocking / (agents - load * (1 - blocking))


def service_level(agents: int, load: float, aht: timedelta, target: timedelta) -> float:
    """Share of contacts answered within ``target``; 0.0 when the queue is unstable."""
    if agents <= load:
        return 0.0
    decay = math.exp(-(agents - load) * target.total_seconds() / aht.total_seconds())
    return 1.0 - probability_of_wait(agents, load) * decay


def average_speed_of_answer(agents: int, load: float, aht: timedelta) -> timedelta:
    """Mean wait before answer (ASA); ``timedelta.max`` when the queue is unstable."""
    if agents <= load:
        return timedelta.max
    seconds = probability_of_wait(agents, load) * aht.total_seconds() / (agents - load)
    return timedelta(seconds=seconds)


def occupancy(agents: int, load: float) -> float:
    """Share of agent time spent handling contacts, A/N."""
    return load / agents if agents > 0 else math.inf


def agents_for_service_level(
    load: float,
    aht: timedelta,
    target: timedelta,
    level: float,
    max_occupancy: float = 1.0,
) -> int:
    """Fewest agents with ``service_level >= level`` and occupancy at most ``max_occupancy``.

    Args:
        load: offered load in Erlangs.
        aht: average handling time.
        target: answer-time target (the 20 s of an 80/20 goal).
        level: wanted share answered within ``target`` (0.8 for 80/20).
        max_occupancy: cap on A/N (1.0 means no cap).

    Raises:
        ValueError: ``level`` is not in (0, 1) or no staffing up to ``MAX_AGENTS`` meets it.
    """
    if not 0 < level < 1:
        raise ValueError("level must be in (0, 1)")
    agents = max(1, math.floor(load) + 1)  # the smallest stable staffing
    while agents <= MAX_AGENTS:
        meets_level = service_level(agents, load, aht, target) >= level
        if meets_level and occupancy(agents, load) <= max_occupancy:
            return agents
        agents += 1
    raise ValueError(f"no staffing up to {MAX_AGENTS} agents meets the service level")
