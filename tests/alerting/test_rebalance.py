"""Rebalancing suggestions: who gives, who takes, and nobody pushed over the limit."""

from __future__ import annotations

from alerting.rebalance import rebalance
from tests.collectors import workload_data as data
from tests.collectors.test_workload import AS_OF


class TestRebalance:
    def test_the_busiest_agent_gives_to_the_least_busy(self) -> None:
        """15 open against a limit of 8: 7 tickets go to the two agents under it."""
        plan = rebalance({"14": 15, "3": 2, "9": 4, "7": 8}, 8)
        assert plan.overloaded == (("14", 15),)
        assert plan.spare == (("3", 2), ("9", 4))
        assert (
            plan.summary
            == "move 7 tickets from agent 14 (15 open) to agents 3 and 9 (2 and 4 open)"
        )
        assert plan.moves[0].takers == (("3", 2, 5), ("9", 4, 2))

    def test_no_spare_capacity_is_said(self) -> None:
        """Everyone at or over the limit: the suggestion says so and moves nothing."""
        plan = rebalance({"a": 9, "b": 8}, 8)
        assert plan.moves == () and "no agent of the queue has spare capacity" in plan.summary

    def test_other_is_neither_giver_nor_taker(self) -> None:
        """The other bucket stands for several agents: it never gives or takes."""
        plan = rebalance({"other": 40, "a": 10, "b": 1}, 5)
        assert [m.giver for m in plan.moves] == ["a"]
        assert all(t[0] != "other" for m in plan.moves for t in m.takers)

    def test_real_queues_keep_every_ticket_and_the_limit(self) -> None:
        """On every ServiceNow queue: tickets are conserved, no taker ends over the limit,
        no giver under it, and a giver stays over it only when every taker is full."""
        table, _ = data.store_tables(AS_OF.replace(tzinfo=None))
        open_ = table[table["incident_state"].isin(data.OPEN_STATES) & table["assigned_to"].notna()]
        for _, rows in open_.groupby("assignment_group"):
            loads = {str(a): int(n) for a, n in rows.groupby("assigned_to").size().items()}
            for limit in (2, 5, 10):
                plan = rebalance(loads, limit)
                after = dict(loads)
                for move in plan.moves:
                    after[move.giver] -= move.tickets
                    assert move.tickets == sum(k for _, _, k in move.takers)
                    for agent, _, k in move.takers:
                        after[agent] += k
                assert sum(after.values()) == sum(loads.values())
                assert all(after[a] <= limit for a, _ in plan.spare)
                assert all(after[a] >= limit for a, _ in plan.overloaded)
                if any(after[a] > limit for a, _ in plan.overloaded):
                    assert all(after[a] == limit for a, _ in plan.spare)
