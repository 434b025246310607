"""The workload figures a hosted collector should report, computed with pandas.

From a fake store's state at the window's end (``tests/collectors/ticketlog.py``, with the
carried ServiceNow columns ``assignee``, ``category``, ``reassignments``, ``reopens``;
``?`` is the log's empty value), never with the collectors' own code: per configured
queue, open tickets per agent (bounded over the whole source as documented), the load
spread, stale counts and the oldest update, waiting counts and ages since the last
update, routing of the tickets resolved in the window, top categories.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import pandas as pd

from collectors.hosted.workload import HostedWorkload
from collectors.workload import OTHER, AgentLoad, ListedTicket, QueueWorkload, Routing, Waiting
from tests.collectors.test_workload import expected_spread, top
from tests.collectors.ticketlog import TicketLog


def _listed(
    rows: pd.DataFrame, section: HostedWorkload, t1: pd.Timestamp, names: Names
) -> tuple[Any, ...]:
    """The least recently updated ``listed_tickets`` of ``rows`` (ties by the log's
    ticket number; assignees already named as the store names them), as the store names
    them, oldest first (ties by the store's id)."""
    chosen = rows.sort_values(["modified", "id"]).head(section.listed_tickets)
    url = section.ticket_url
    tickets = [
        ListedTicket(
            names.ticket(str(r.id)),
            str(r.status),
            None if r.assignee == "?" else str(r.assignee),
            _seconds(t1, r.modified),
            None if url is None else url.replace("{id}", names.ticket(str(r.id))),
        )
        for r in chosen.itertuples()
    ]
    return tuple(sorted(tickets, key=lambda t: (-t.age_s, t.id)))


def _agent(names: Names) -> Callable[[Any], str]:
    return lambda a: a if a == "?" else names.agent(str(a))


@dataclass(frozen=True)
class Names:
    """How a store names the log's tickets and agents (by default, as logged)."""

    ticket: Callable[[str], str] = str
    agent: Callable[[str], str] = str


def _seconds(end: pd.Timestamp, at: Any) -> float:
    return float((end - at).total_seconds())


def _agent_figures(
    open_: pd.DataFrame, kept: set[str] | None, t1: pd.Timestamp, agent_oldest: bool
) -> dict[str, Any]:
    """A queue's per-agent loads (labelled as ``kept`` says, the rest as ``other``) and
    their spread; ``open_``'s assignees are the store's agent ids."""
    assigned = open_[open_["assignee"] != "?"]
    per = assigned.groupby("assignee").agg(n=("id", "size"), oldest=("created", "min"))

    def age(at: Any) -> float | None:
        return _seconds(t1, at) if agent_oldest else None

    loads = [
        AgentLoad(str(a), int(r.n), age(r.oldest))
        for a, r in per.sort_index().iterrows()
        if kept is None or a in kept
    ]
    rest = per[[kept is not None and a not in kept for a in per.index]]
    if not rest.empty:
        loads.append(AgentLoad(OTHER, int(rest["n"].sum()), age(rest["oldest"].min())))
    most, median, share = expected_spread([int(n) for n in per["n"]])
    return {
        "agents": tuple(loads),
        "agents_with_work": len(per),
        "load_max": most,
        "load_median": median,
        "busiest_share": share,
    }


def _agent_names(open_: pd.DataFrame, max_agents: int, keep_top: int) -> set[str] | None:
    """The labelled agents over the whole source (ties by id); None: every agent."""
    totals = open_[open_["assignee"] != "?"].groupby("assignee").size()
    if len(totals) <= max_agents:
        return None
    ranked = (
        totals.rename("n").reset_index().sort_values(["n", "assignee"], ascending=[False, True])
    )
    return set(ranked["assignee"].head(keep_top))


class States(Protocol):
    """A replayed log (:class:`TicketLog`, or a view of one with other status names)."""

    def state_at(self, instant: datetime) -> pd.DataFrame: ...


def expected_workloads(
    log: TicketLog | States,
    queues: Sequence[str],
    start: datetime,
    end: datetime,
    section: HostedWorkload,
    *,
    flow_lag: timedelta = timedelta(0),
    names: Names = Names(),
    list_waiting: bool = True,
    agents_in: Sequence[str] | None = None,
    agent_oldest: bool = True,
) -> dict[str, QueueWorkload]:
    """Per queue (the log's queue values), the figures ``section`` (the source's
    ``workload``) asks for; stale ages are whole days in the cases; created and
    resolved are counted in ``[start, end)`` moved back by ``flow_lag``; ``names``: the
    store's ids; ``list_waiting``: whether the store lists waiting tickets;
    ``agents_in``: the queues whose agents the store reads (None: all; the others have
    no agent figures and take no part in the agent bound); ``agent_oldest``: whether
    the store gives each agent's oldest open ticket."""
    state = log.state_at(end)
    if "assignee" in state.columns:  # as the store names its agents
        state = state.assign(assignee=state["assignee"].map(_agent(names)))
    t1 = pd.Timestamp(end)
    mine_all = state[state["queue"].isin(list(queues))]
    open_all = mine_all[~mine_all["done"]]
    kept = None
    read = list(queues) if agents_in is None else list(agents_in)
    if section.assignees:
        counted = open_all[open_all["queue"].isin(read)]
        kept = _agent_names(counted, section.agents.max_agents, section.agents.top)
    f0, f1 = pd.Timestamp(start - flow_lag), pd.Timestamp(end - flow_lag)
    out = {}
    for queue in queues:
        mine = mine_all[mine_all["queue"] == queue]
        open_ = mine[~mine["done"]]
        figures: dict[str, Any] = {}
        if section.assignees and queue in read:
            figures.update(_agent_figures(open_, kept, t1, agent_oldest))
        if section.stale_after or section.waiting_statuses:
            oldest = open_["modified"].min()
            figures["oldest_update_age_s"] = None if open_.empty else _seconds(t1, oldest)
        if section.stale_after and section.listed_tickets is not None:
            figures["stale_tickets"] = _listed(open_, section, t1, names)
        if section.stale_after:
            figures["stale"] = {
                f"{age.days}d": int((open_["modified"] < t1 - pd.Timedelta(age)).sum())
                for age in section.stale_after
            }
        if section.waiting_statuses:
            waiting = open_[open_["status"].isin(list(section.waiting_statuses))]
            figures["waiting"] = tuple(
                Waiting(str(s), len(rows), _seconds(t1, rows["modified"].min()), "last_update")
                for s, rows in sorted(waiting.groupby("status"), key=lambda kv: kv[0])
            )
            if section.listed_tickets is not None and list_waiting:
                figures["waiting_tickets"] = _listed(waiting, section, t1, names)
        if section.routing:
            done = mine[mine["done"] & (mine["resolved"] >= f0) & (mine["resolved"] < f1)]
            figures["routing"] = Routing(
                len(done),
                int(done["reassignments"].sum()),
                int((done["reopens"] > 0).sum()),
                None,
            )
        if section.top_categories is not None:
            n = section.top_categories
            named_category = mine["category"].replace("?", "none")
            figures["categories_open"] = top(named_category[open_.index].value_counts(), n)
            came = (mine["created"] >= f0) & (mine["created"] < f1)
            figures["categories_created"] = top(named_category[came].value_counts(), n)
        out[queue] = QueueWorkload(**figures)
    return out
