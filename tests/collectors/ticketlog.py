"""A real event log replayed as a ticket store: each ticket as it stood at any instant.

A log row is one event of one ticket (its queue, status and priority after the event).
At instant ``t`` the store holds the tickets with an event before ``t``; each one is as
its latest such event left it, created at its first event, resolved (when its status is
a done one now) when it last entered a done status, modified at its latest event. The
fake servers answer from these states, and the expected figures are computed from the
same states with pandas.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache

import pandas as pd


class TicketLog:
    """Events with columns ``id, at`` (UTC), ``queue, status, label, priority, done`` and
    optionally ``opened`` (when the log records the ticket's opening time on each event).

    ``status`` is the store's own status name, ``label`` what the collector reports it as
    (Zoho's status type, say), ``done`` whether it is a resolved/closed status.
    """

    def __init__(self, events: pd.DataFrame, carry: tuple[str, ...] = ()) -> None:
        """``carry``: more event columns kept in the state, from each ticket's latest event
        (its assignee, say)."""
        self.carry = carry
        ordered = events.reset_index(drop=True).sort_values(["id", "at"], kind="stable")
        previous = ordered.groupby("id")["done"].shift(fill_value=False).astype(bool)
        self.events = ordered.assign(enters_done=ordered["done"] & ~previous)
        self._state = lru_cache(maxsize=64)(self._compute)
        self._queues = lru_cache(maxsize=8)(self._split)

    def state_at(self, instant: datetime) -> pd.DataFrame:
        """One row per ticket existing before ``instant``: the store at that instant."""
        return self._state(pd.Timestamp(instant))

    def queue_state_at(self, instant: datetime, queue: str) -> pd.DataFrame:
        """The tickets of one queue at ``instant`` (what a queue filter selects, fast)."""
        return self._queues(pd.Timestamp(instant)).get(queue, self._empty(instant))

    def _split(self, instant: pd.Timestamp) -> dict[str, pd.DataFrame]:
        return {str(q): rows for q, rows in self._state(instant).groupby("queue")}

    def _empty(self, instant: datetime) -> pd.DataFrame:
        return self.state_at(instant).iloc[0:0]

    def _compute(self, instant: pd.Timestamp) -> pd.DataFrame:
        seen = self.events[self.events["at"] < instant]
        by_id = seen.groupby("id", sort=True)
        state = by_id[["queue", "status", "label", "priority", "done", *self.carry]].last()
        # created at the first event, unless the log records the opening time itself
        opened = "opened" if "opened" in seen.columns else "at"
        state["created"] = by_id[opened].first()
        state["modified"] = by_id["at"].last()
        entered = seen[seen["enters_done"]].groupby("id")["at"].last()
        state["resolved"] = entered.reindex(state.index).where(state["done"])
        return state.reset_index()
