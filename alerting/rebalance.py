"""Rebalancing suggestions for a queue whose agents are over their WIP limit (pure).

:func:`rebalance` moves tickets one at a time from the busiest agent over the limit to
the least busy agent under it, while that narrows the gap and keeps the receiver within
the limit; the moves are then summed per giving agent ("move 6 tickets from agent 14
(15 open) to agents 3 and 9 (2 and 4 open)"). Only agents with at least one open ticket
in the queue are known to the store: an idle agent is not offered work.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from collectors.workload import OTHER

NAMED = 4
"""Takers named in a move's summary (the payload lists every one)."""


@dataclass(frozen=True)
class Move:
    """Tickets to move from one overloaded agent to agents with spare capacity."""

    giver: str
    giver_open: int
    tickets: int
    takers: tuple[tuple[str, int, int], ...]
    """(agent, open now, tickets to take)."""

    def summary(self) -> str:
        shown = self.takers[:NAMED]
        names = [t[0] for t in shown]
        counts = [str(t[1]) for t in shown]
        if len(self.takers) > NAMED:
            rest = len(self.takers) - NAMED
            names.append(f"{rest} more")
            counts.append("...")
        plural = "s" if len(self.takers) > 1 else ""
        return (
            f"move {self.tickets} ticket{'s' if self.tickets != 1 else ''} from agent"
            f" {self.giver} ({self.giver_open} open) to agent{plural} {_and(names)}"
            f" ({_and(counts)} open)"
        )


@dataclass(frozen=True)
class Rebalance:
    """What to do about one queue's loads under a WIP limit."""

    limit: int
    overloaded: tuple[tuple[str, int], ...]
    spare: tuple[tuple[str, int], ...]
    moves: tuple[Move, ...]

    @property
    def summary(self) -> str:
        if self.moves:
            return "; ".join(m.summary() for m in self.moves)
        if self.overloaded:
            return "no agent of the queue has spare capacity: add agents or raise the limit"
        return "every agent is within the limit"

    def to_payload(self) -> dict[str, Any]:
        return {
            "limit": self.limit,
            "overloaded": [{"agent": a, "open": n} for a, n in self.overloaded],
            "spare": [{"agent": a, "open": n, "capacity": self.limit - n} for a, n in self.spare],
            "moves": [
                {
                    "from": m.giver,
                    "tickets": m.tickets,
                    "to": [{"agent": a, "open": n, "take": k} for a, n, k in m.takers],
                }
                for m in self.moves
            ],
            "summary": self.summary,
        }


def rebalance(loads: Mapping[str, int], limit: int) -> Rebalance:
    """Moves that bring agents over ``limit`` down without pushing others over it.

    ``loads``: open tickets per agent of one queue; the ``other`` bucket (several agents
    under one label) is neither a giver nor a taker.
    """
    agents = {a: n for a, n in loads.items() if a != OTHER}
    by_load = sorted(agents.items(), key=lambda kv: (-kv[1], kv[0]))
    overloaded = tuple((a, n) for a, n in by_load if n > limit)
    spare = tuple(sorted(((a, n) for a, n in agents.items() if n < limit), key=_lightest))
    now = dict(agents)
    moved: dict[str, dict[str, int]] = {}
    while True:
        givers = [a for a, _ in overloaded if now[a] > limit]
        takers = sorted((a for a, _ in spare if now[a] < limit), key=lambda a: (now[a], a))
        if not givers or not takers:
            break
        giver = max(givers, key=lambda a: (now[a], a))
        taker = takers[0]
        if now[giver] - now[taker] <= 1:
            break
        now[giver] -= 1
        now[taker] += 1
        moved.setdefault(giver, {}).setdefault(taker, 0)
        moved[giver][taker] += 1

    def lightest_first(kv: tuple[str, int]) -> tuple[int, str]:
        return agents[kv[0]], kv[0]

    moves = tuple(
        Move(
            giver,
            agents[giver],
            sum(moved[giver].values()),
            tuple((t, agents[t], k) for t, k in sorted(moved[giver].items(), key=lightest_first)),
        )
        for giver, _ in overloaded
        if giver in moved
    )
    return Rebalance(limit, overloaded, spare, moves)


def _lightest(kv: tuple[str, int]) -> tuple[int, str]:
    return kv[1], kv[0]


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"
