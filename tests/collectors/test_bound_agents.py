"""``bound_agents`` on the real ServiceNow log's open tickets, against pandas.

The busiest ``top`` agents are picked with a bounded heap; the expectation here sorts
every agent with pandas (open tickets descending, ties by id), for every ``top`` up to
past the number of agents, so ties at the cut are crossed.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd

from collectors.workload import OTHER, AgentLabels, agent_label, bound_agents
from tests.collectors import workload_data as data

AS_OF = datetime(2016, 4, 1)


def _open() -> pd.DataFrame:
    table, _ = data.store_tables(AS_OF)
    open_ = table[table["incident_state"].isin(data.OPEN_STATES) & table["assigned_to"].notna()]
    age = (pd.Timestamp(AS_OF) - open_["opened_at"]).dt.total_seconds()
    return open_.assign(age=age)


def _loads(open_: pd.DataFrame) -> dict[str, dict[str, tuple[int, float | None]]]:
    grouped = open_.groupby(["assignment_group", "assigned_to"])["age"].agg(["size", "max"])
    out: dict[str, dict[str, tuple[int, float | None]]] = {}
    for (queue, agent), row in grouped.iterrows():
        out.setdefault(str(queue), {})[str(agent)] = (int(row["size"]), float(row["max"]))
    return out


def test_the_busiest_top_keep_labels_for_every_top():
    open_ = _open()
    loads = _loads(open_)
    totals = open_.groupby("assigned_to").size().reset_index(name="n")
    ranked = totals.sort_values(["n", "assigned_to"], ascending=[False, True])
    assert ranked["n"].duplicated().any()  # ties to break at some cuts
    agents = len(ranked)
    for top in range(1, agents + 2):
        labels = AgentLabels(max_agents=1, top=top, ids="hashed")
        got = bound_agents(loads, labels)
        kept = set(ranked["assigned_to"].head(top))
        for queue, rows in open_.groupby("assignment_group"):
            per_agent = rows.groupby("assigned_to")["age"].agg(["size", "max"])
            named = per_agent[per_agent.index.isin(kept)]
            want = [
                (agent_label(str(a), "hashed"), int(r["size"]), float(r["max"]))
                for a, r in named.sort_index().iterrows()
            ]
            rest = per_agent[~per_agent.index.isin(kept)]
            if len(rest):
                want.append((OTHER, int(rest["size"].sum()), float(rest["max"].max())))
            assert [(a.agent, a.open, a.oldest_age_s) for a in got[str(queue)]] == want


def test_every_agent_labelled_under_max_agents():
    open_ = _open()
    loads = _loads(open_)
    got = bound_agents(loads, AgentLabels(max_agents=10_000))
    for queue, rows in open_.groupby("assignment_group"):
        per_agent = rows.groupby("assigned_to")["age"].agg(["size", "max"]).sort_index()
        want = [(str(a), int(r["size"]), float(r["max"])) for a, r in per_agent.iterrows()]
        assert [(a.agent, a.open, a.oldest_age_s) for a in got[str(queue)]] == want
