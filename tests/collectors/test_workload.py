"""Workload figures of the SQL collector on the real ServiceNow log, three databases.

Every expected figure is computed here with pandas from the frames the test loads, never
with SQL, and compared exactly with the collector's :class:`QueueWorkload`.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from collectors.sql import SqlCollector, SqlSourceConfig
from collectors.workload import OTHER, AgentLoad, QueueWorkload, agent_label
from tests.collectors import workload_data as data

AS_OF = datetime(2016, 4, 1, tzinfo=UTC)
NOW = pd.Timestamp(AS_OF.replace(tzinfo=None))
WINDOW_START = AS_OF - timedelta(days=7)
STALE = {"3d": 3, "7d": 7}
TOP = 5


def config(url: str, history: bool = True, **workload: Any) -> SqlSourceConfig:
    mapping = {**data.MAPPING, **({"history": data.HISTORY} if history else {})}
    section = {
        "stale_after": ["3d", "7d"],
        "waiting_statuses": list(data.WAITING),
        "top_categories": TOP,
        "agents": {"max_agents": 1000},
        **workload,
    }
    return SqlSourceConfig.model_validate(
        {"kind": "sql", "name": "sn", "url": url, "mapping": mapping, "workload": section}
    )


def collect(url: str, **kwargs: Any) -> dict[str, QueueWorkload]:
    from collectors.base import Window

    collector = SqlCollector(config(url, **kwargs))
    try:
        snapshot = collector.collect(Window(WINDOW_START, AS_OF))
    finally:
        collector.close()
    return {q.queue: q.workload for q in snapshot.queues if q.workload is not None}


def seconds(delta: pd.Timedelta) -> float:
    return float(delta.total_seconds())


def expected_agents(table: pd.DataFrame) -> dict[str, tuple[AgentLoad, ...]]:
    open_ = table[table["incident_state"].isin(data.OPEN_STATES) & table["assigned_to"].notna()]
    out: dict[str, tuple[AgentLoad, ...]] = {}
    for queue, rows in open_.groupby("assignment_group"):
        per = rows.groupby("assigned_to").agg(n=("number", "size"), oldest=("opened_at", "min"))
        out[str(queue)] = tuple(
            AgentLoad(str(a), int(r.n), seconds(NOW - r.oldest)) for a, r in per.iterrows()
        )
    return out


def expected_spread(loads: list[int]) -> tuple[int | None, float | None, float | None]:
    if not loads:
        return None, None, None
    ordered = np.sort(np.array(loads))[::-1]
    k = math.ceil(len(ordered) / 10)
    return int(ordered[0]), float(np.median(ordered)), float(ordered[:k].sum() / ordered.sum())


def waiting_since(table: pd.DataFrame, log: pd.DataFrame) -> pd.Series:
    """When each open ticket entered its current status (from the history)."""
    entries = log[log["new_state"].notna()].groupby(["number", "new_state"])["changed_at"].max()
    keys = pd.MultiIndex.from_frame(table[["number", "incident_state"]])
    found = pd.Series(entries.reindex(keys).to_numpy(), index=table.index)
    return found.fillna(table["sys_updated_at"])


def _none(value: Any) -> Any:
    return None if pd.isna(value) else value


def top(counts: pd.Series, n: int) -> dict[str, int]:
    frame = counts.rename("n").reset_index()
    frame.columns = ["name", "n"]
    frame = frame.sort_values(["n", "name"], ascending=[False, True])
    out = {str(r.name): int(r.n) for r in frame.head(n).itertuples()}
    rest = int(frame["n"].iloc[n:].sum())
    if rest:
        out[OTHER] = out.get(OTHER, 0) + rest
    return out


@pytest.fixture
def loaded(writer: sa.Engine, db_url: str) -> tuple[str, pd.DataFrame, pd.DataFrame]:
    table, log = data.load(writer, AS_OF.replace(tzinfo=None))
    return db_url, table, log


class TestWorkloadFigures:
    def test_every_figure_matches_pandas(self, loaded: tuple[str, pd.DataFrame, pd.DataFrame]):
        """Agents, spread, stale, waiting, lists, routing and categories equal pandas'."""
        url, table, log = loaded
        got = collect(url)
        open_ = table[table["incident_state"].isin(data.OPEN_STATES)]
        agents = expected_agents(table)
        since = waiting_since(open_, log)
        start = pd.Timestamp(WINDOW_START.replace(tzinfo=None))
        done = table[
            ~table["incident_state"].isin(data.OPEN_STATES)
            & (table["resolved_at"] >= start)
            & (table["resolved_at"] < NOW)
        ]
        moved = set(log.loc[log["moved"] == 1, "number"])
        arrivals = table[(table["opened_at"] >= start) & (table["opened_at"] < NOW)]
        queues = set(open_["assignment_group"]) | set(done["assignment_group"])
        assert queues <= set(got)
        for queue in sorted(queues):
            w = got[queue]
            mine = open_[open_["assignment_group"] == queue]
            assert w.agents == agents.get(queue, ()), queue
            loads = [a.open for a in agents.get(queue, ())]
            assert (w.load_max, w.load_median, w.busiest_share) == expected_spread(loads)
            assert w.agents_with_work == len(loads)
            assert w.stale == {
                k: int((mine["sys_updated_at"] < NOW - pd.Timedelta(days=d)).sum())
                for k, d in STALE.items()
            }
            oldest = mine["sys_updated_at"].min()
            assert w.oldest_update_age_s == (None if mine.empty else seconds(NOW - oldest))
            waiting = mine[mine["incident_state"].isin(data.WAITING)]
            assert w.waiting is not None
            assert [(x.status, x.count, x.oldest_age_s, x.age_from) for x in w.waiting] == [
                (str(s), len(rows), seconds(NOW - since[rows.index].min()), "status_history")
                for s, rows in sorted(waiting.groupby("incident_state"), key=lambda kv: kv[0])
            ]
            listed = (
                waiting.assign(since=since[waiting.index]).sort_values(["since", "number"]).head(10)
            )
            assert [(t.id, t.status, t.assignee, t.age_s) for t in w.waiting_tickets] == [
                (r.number, r.incident_state, _none(r.assigned_to), seconds(NOW - r.since))
                for r in listed.itertuples()
            ]
            stale_list = mine.sort_values(["sys_updated_at", "number"]).head(10)
            assert [t.id for t in w.stale_tickets] == list(stale_list["number"])
            resolved = done[done["assignment_group"] == queue]
            assert w.routing is not None
            assert w.routing.resolved == len(resolved)
            assert w.routing.reassignments == int(resolved["reassignment_count"].sum())
            assert w.routing.reopened == int((resolved["reopen_count"] > 0).sum())
            assert w.routing.misrouted == int(resolved["number"].isin(moved).sum())
            by_category = mine["category"].fillna("none").value_counts()
            assert w.categories_open == top(by_category, TOP)
            came = arrivals[arrivals["assignment_group"] == queue]["category"].fillna("none")
            assert w.categories_created == top(came.value_counts(), TOP)


@pytest.mark.parametrize("db_url", ["sqlite", "mariadb"], indirect=True)
class TestWithoutHistory:
    def test_waiting_ages_from_last_update_and_no_misroutes(
        self, loaded: tuple[str, pd.DataFrame, pd.DataFrame]
    ):
        """Without a history: waiting age since the last update (labelled); misroute absent."""
        url, table, _ = loaded
        got = collect(url, history=False)
        open_ = table[table["incident_state"].isin(data.OPEN_STATES)]
        queue = open_["assignment_group"].value_counts().index[0]
        mine = open_[
            (open_["assignment_group"] == queue) & open_["incident_state"].isin(data.WAITING)
        ]
        w = got[queue]
        assert w.waiting is not None and w.routing is not None
        assert [(x.status, x.oldest_age_s, x.age_from) for x in w.waiting] == [
            (str(s), seconds(NOW - rows["sys_updated_at"].min()), "last_update")
            for s, rows in sorted(mine.groupby("incident_state"), key=lambda kv: kv[0])
        ]
        assert w.routing.misrouted is None and w.routing.misroute_rate is None
        assert w.routing.reopen_rate is not None
        # the ten oldest waiting tickets of every queue (MariaDB: one lookup per queue)
        waiting = open_[open_["incident_state"].isin(data.WAITING)]
        for name, rows in waiting.groupby("assignment_group"):
            listed = rows.sort_values(["sys_updated_at", "number"]).head(10)
            assert [(t.id, t.status, t.age_s) for t in got[str(name)].waiting_tickets] == [
                (r.number, r.incident_state, seconds(NOW - r.sys_updated_at))
                for r in listed.itertuples()
            ]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
class TestAgentBound:
    def test_top_agents_keep_labels_and_the_rest_is_other(
        self, loaded: tuple[str, pd.DataFrame, pd.DataFrame]
    ):
        """Past max_agents: the source's busiest top keep labels (hashed), the rest is other."""
        url, table, _ = loaded
        got = collect(url, agents={"max_agents": 10, "top": 3, "ids": "hashed"})
        open_ = table[table["incident_state"].isin(data.OPEN_STATES) & table["assigned_to"].notna()]
        totals = open_.groupby("assigned_to").size().reset_index(name="n")
        best = totals.sort_values(["n", "assigned_to"], ascending=[False, True]).head(3)
        kept = set(best["assigned_to"])
        for queue, rows in open_.groupby("assignment_group"):
            w = got[str(queue)]
            assert w.agents is not None
            named = {a.agent: a.open for a in w.agents}
            counts = rows.groupby("assigned_to").size()
            want = {agent_label(a, "hashed"): int(n) for a, n in counts.items() if a in kept}
            rest = int(counts[~counts.index.isin(kept)].sum())
            if rest:
                want[OTHER] = rest
            assert named == want
            assert w.agents_with_work == len(counts)
        labels = {a.agent for w in got.values() for a in (w.agents or ())}
        assert len(labels) <= 4
