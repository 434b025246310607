"""The hosted stores' ``workload`` sections: what each store accepts, and what it costs.

The figures themselves are checked against pandas in the case folders
(``cases/<store>/workload*``); here, the configuration: a figure a store's API cannot
give is an error with the source's path at start-up (exit code 2 from ``check-config``),
and every workload request is counted in the poll's cost, so the plan check sees it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from config.loader import load_settings
from monitor.errors import ConfigError
from tests.collectors.test_jira import source as jira_source
from tests.collectors.test_servicenow import source as servicenow_source
from tests.collectors.test_zendesk import source as zendesk_source
from tests.collectors.test_zohodesk import source as zoho_source
from tests.processes import run_cli

ROOT = Path(__file__).resolve().parents[3]
EVERYTHING = {
    "assignees": True,
    "stale_after": ["1d", "3d", "7d"],
    "waiting_statuses": ["Awaiting User Info", "Awaiting Vendor"],
    "routing": True,
    "top_categories": 5,
}


def load(data: dict[str, Any]) -> Any:
    return load_settings(text=yaml.safe_dump({"sources": [data]})).sources[0]


class TestDocumentedExample:
    def test_the_hosted_workload_example_loads(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """docs/hosted.md's workload example is a valid source costing 12 requests."""
        monkeypatch.setenv("SERVICENOW_PASSWORD", "p")
        doc = (ROOT / "docs" / "hosted.md").read_text(encoding="utf-8")
        (block,) = [b for b in re.findall(r"```yaml\n(.*?)```", doc, re.S) if "workload:" in b]
        config = load_settings(text=block).sources[0]
        assert config.workload is not None and config.workload.routing
        assert config.poll_cost().requests == 12


class TestServiceNowWorkload:
    def test_cost_grows_with_the_figures_not_the_groups(self) -> None:
        """6 requests, + agents 1, + 1 per stale age, + routing 1, + categories 1; waiting
        rides on the open request. Still the same for 500 groups."""
        assert load(servicenow_source()).poll_cost().requests == 6
        few = load(servicenow_source(workload=EVERYTHING))
        many = load(
            servicenow_source(workload=EVERYTHING, assignment_groups=[f"G{i}" for i in range(500)])
        )
        assert few.poll_cost().requests == many.poll_cost().requests == 6 + 1 + 3 + 1 + 1
        waiting_only = load(servicenow_source(workload={"waiting_statuses": ["Awaiting Vendor"]}))
        assert waiting_only.poll_cost().requests == 6

    def test_stale_lists_cost_one_request_per_group(self) -> None:
        """listed_tickets (with stale_after): one Table API request per group."""
        groups = [f"G{i}" for i in range(20)]
        section = {**EVERYTHING, "listed_tickets": 5}
        config = load(servicenow_source(workload=section, assignment_groups=groups))
        assert config.poll_cost().requests == 12 + 20

    def test_workload_requests_count_against_the_plan(self) -> None:
        """12 requests every 10 s is 72 a minute: over half of a 120/min rule; without
        the workload (36 a minute) the same interval is fine."""
        plan = {"interval": "10s", "budget": {"requests_per_minute": 120}}
        load(servicenow_source(**plan))
        with pytest.raises(ConfigError, match=r"sources -> 0: requests per minute: .* 72"):
            load(servicenow_source(workload=EVERYTHING, **plan))

    def test_unknown_workload_field_is_located(self) -> None:
        with pytest.raises(ConfigError, match=r"sources -> 0 -> workload -> wip"):
            load(servicenow_source(workload={"wip": 3}))


class TestZendeskWorkload:
    def test_cost_per_group(self) -> None:
        """Per group: 10 counts, + 3 stale counts, + the oldest update, + 2 waiting
        searches (at most), + routing 2 per page of solved tickets."""
        section = {"stale_after": ["1d", "3d", "7d"], "waiting_statuses": ["pending", "hold"]}
        config = load(zendesk_source(workload={**section, "routing": True}, workload_pages=2))
        assert config.poll_cost().requests == 20 * (10 + 3 + 1 + 2 + 4)

    @pytest.mark.parametrize(
        ("workload", "message"),
        [
            ({"assignees": True}, "cannot count per assignee or category"),
            ({"top_categories": 5}, "cannot count per assignee or category"),
            ({"waiting_statuses": ["solved"]}, "'solved' is not one of the open statuses"),
        ],
    )
    def test_what_search_cannot_give_is_refused(
        self, workload: dict[str, Any], message: str
    ) -> None:
        with pytest.raises(ConfigError, match=rf"sources -> 0: .*{message}"):
            load(zendesk_source(workload=workload))

    def test_check_config_exits_2_with_the_path(self, tmp_path: Path) -> None:
        """The command a deployment runs: the same error, exit code 2."""
        config = tmp_path / "config.yaml"
        config.write_text(
            yaml.safe_dump({"sources": [zendesk_source(workload={"assignees": True})]}),
            encoding="utf-8",
        )
        result = run_cli("check-config", "--config", config, cwd=ROOT)
        assert result.returncode == 2, result.stdout + result.stderr
        assert "sources -> 0" in result.stderr
        assert "assignee" in result.stderr


class TestZohoDeskWorkload:
    def test_cost_per_department(self) -> None:
        """Per department: + 1 stale count per age (a count's credits), + the oldest
        update and + 1 On Hold search at most (a search's credits each)."""
        section = {"stale_after": ["1d", "3d", "7d"], "waiting_statuses": ["On Hold"]}
        bare = load(zoho_source()).poll_cost()
        more = load(zoho_source(workload=section, credits_per_count=2)).poll_cost()
        assert more.requests - bare.requests == 20 * (3 + 2)
        assert more.credits - load(zoho_source(credits_per_count=2)).poll_cost().credits == (
            20 * (3 * 2 + 2 * 3)
        )

    def test_cost_of_the_agents_per_department(self) -> None:
        """Per department: the roster's pages of 200 (one agent more than
        department_agents is asked for; a list's credits each) and one agentsTicketsCount
        per 50 agents (a count's credits each)."""
        bare = load(zoho_source(credits_per_count=2)).poll_cost()
        for most, pages, counts in ((100, 1, 2), (199, 1, 4), (200, 2, 4), (450, 3, 9)):
            section = {"assignees": True}
            cost = load(
                zoho_source(workload=section, credits_per_count=2, department_agents=most)
            ).poll_cost()
            assert cost.requests - bare.requests == 20 * (pages + counts)
            assert cost.credits - bare.credits == 20 * (pages * 3 + counts * 2)

    @pytest.mark.parametrize(
        ("workload", "message"),
        [
            ({"routing": True}, "routing: not given by Zoho Desk's count endpoints"),
            ({"top_categories": 5}, "top_categories: not given"),
            ({"waiting_statuses": ["Open"]}, "'Open' is not a waiting status type"),
        ],
    )
    def test_what_the_counts_cannot_give_is_refused(
        self, workload: dict[str, Any], message: str
    ) -> None:
        with pytest.raises(ConfigError, match=rf"sources -> 0: .*{message}"):
            load(zoho_source(workload=workload))


class TestJiraWorkload:
    def test_cost_per_queue(self) -> None:
        """Per queue: 9 counts and 1 search, + 1 stale count, + the oldest update, + 1
        waiting search, + routing: 2 per page (ids, changelogs)."""
        section = {"stale_after": ["1d"], "waiting_statuses": ["In Progress"]}
        config = load(jira_source(workload=section))
        assert config.poll_cost().requests == (2 + 3 + 4) + 1 + 1 + 1
        routing = load(jira_source(workload={**section, "routing": True}, workload_pages=3))
        assert routing.poll_cost().requests == (2 + 3 + 4) + 1 + 1 + 1 + 6

    @pytest.mark.parametrize(
        ("workload", "message"),
        [
            ({"assignees": True}, "cannot group by assignee"),
            ({"top_categories": 3}, "cannot group by assignee or category"),
            ({"waiting_statuses": ["Pending"]}, "'Pending' is not one of statuses"),
        ],
    )
    def test_what_jql_cannot_give_is_refused(self, workload: dict[str, Any], message: str) -> None:
        with pytest.raises(ConfigError, match=rf"sources -> 0: .*{message}"):
            load(jira_source(workload=workload))

    def test_routing_needs_cloud(self) -> None:
        """Data Center has no bulk changelog endpoint."""
        load(jira_source(workload={"routing": True}))
        with pytest.raises(ConfigError, match=r"sources -> 0: .*Data Center"):
            load(jira_source(deployment="datacenter", workload={"routing": True}))
