"""The metric catalogue and the dashboards agree, and every panel shows data from the demo."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from grafana.__main__ import FOLDER, rendered
from monitor.metrics import CATALOGUE
from monitor.workloadmetrics import WORKLOAD_METRICS
from tests.livedemo import LiveDemo
from tests.processes import PATIENCE
from tests.prometheus import query, wait_for_scrape_after

ROOT = Path(__file__).parents[1]
DASHBOARDS = sorted(FOLDER.glob("*.json"))
METRIC = re.compile(r"\b(backlog_[a-z0-9_]+)\b")
LABEL_VALUES = re.compile(r"^label_values\((.*), (\w+)\)$")
MIN_SCHEMA_VERSION = 39
"""Grafana 11's dashboard schema (the SDK generates 41)."""

# What Grafana substitutes before querying; the demo's total queue for single-value picks.
MULTI = {"$source": ".*", "$queue": ".*", "$alert": ".*"}
SINGLE = {"$source": "servicenow-total", "$queue": "all"}
GRAFANA = {"$__rate_interval": "1m", "$__interval": "15s", "$__range": "1h"}

_NO_UPDATED_AT = "the demo's store maps no updated_at (its incidents carry one row each)"
MAY_BE_EMPTY: dict[str, dict[str, str]] = {
    "backlog-agents.json": {
        "Stale tickets": _NO_UPDATED_AT,
        "Least recently updated": _NO_UPDATED_AT,
        "Waiting tickets": f"the demo configures no waiting statuses and {_NO_UPDATED_AT}",
        "Oldest waiting ticket": f"the demo configures no waiting statuses and {_NO_UPDATED_AT}",
        "Reassignments, reopens and misroutes": "the demo maps no reassignment or reopen "
        "counter and no status history (misroutes need one)",
        "Time to first assignment": "the demo is an SQL source: no mapping records when a "
        "ticket was first assigned (Zendesk's Ticket Metrics do)",
        "Top categories, open": "the demo maps no category field",
        "Top categories, created": "the demo maps no category field",
    },
}
"""Panels the demo cannot fill, and why; every other panel must show data. These panels'
queries must still be valid and must be empty: once the demo fills one, drop it here."""


def _load(path: Path) -> dict[str, Any]:
    board: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return board


def _expressions(node: object) -> list[str]:
    if isinstance(node, dict):
        found = [node["expr"]] if isinstance(node.get("expr"), str) else []
        if isinstance(node.get("query"), str):
            found.append(node["query"])
        return found + [e for v in node.values() for e in _expressions(v)]
    if isinstance(node, list):
        return [e for v in node for e in _expressions(v)]
    return []


def _panel_queries(board: dict[str, Any]) -> list[tuple[str, str]]:
    """``(panel title, expression)`` of every target of every panel."""
    return [(p["title"], t["expr"]) for p in board["panels"] for t in p.get("targets", [])]


def _filled(board: dict[str, Any], expr: str) -> str:
    multi = any(v.get("multi") for v in board["templating"]["list"] if v["name"] == "queue")
    values = {**(MULTI if multi else SINGLE), **GRAFANA}
    for name, value in values.items():
        expr = expr.replace(name, value)
    return expr


class TestCatalogue:
    def test_names_follow_the_prefix(self) -> None:
        """Every catalogued metric starts with backlog_ and counters end in _total."""
        for name, spec in CATALOGUE.items():
            assert name.startswith("backlog_")
            assert (spec.type == "counter") == name.endswith("_total"), name

    def test_the_five_dashboards_ship(self) -> None:
        """Overview, queue detail, on-call, capacity, and agents and hygiene dashboards are in
        grafana/dashboards."""
        assert [p.stem for p in DASHBOARDS] == [
            "backlog-agents",
            "backlog-capacity",
            "backlog-oncall",
            "backlog-overview",
            "backlog-queue",
        ]

    @pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
    def test_every_dashboard_metric_is_catalogued(self, path: Path) -> None:
        """Each metric a dashboard queries exists in the catalogue."""
        used = {m for expr in _expressions(_load(path)) for m in METRIC.findall(expr)}
        assert used, f"{path.name} queries no backlog_ metric"
        assert used <= set(CATALOGUE), sorted(used - set(CATALOGUE))

    def test_the_agents_dashboard_draws_every_workload_metric(self) -> None:
        """Each metric monitor.workloadmetrics exports is on "Agents and hygiene", and the
        WIP and stale alerts (backlog_queue_alerts) are too."""
        used = {
            m
            for expr in _expressions(_load(FOLDER / "backlog-agents.json"))
            for m in METRIC.findall(expr)
        }
        assert {*WORKLOAD_METRICS, "backlog_queue_alerts"} <= used, sorted(
            set(WORKLOAD_METRICS) - used
        )


class TestDashboardJson:
    def test_the_committed_json_is_what_the_code_builds(self) -> None:
        """The JSON files are `python -m grafana`'s output, and no other file is there."""
        built = rendered()
        assert sorted(built) == [p.name for p in DASHBOARDS]
        for name, text in built.items():
            assert (FOLDER / name).read_text(encoding="utf-8") == text, (
                f"run python -m grafana ({name})"
            )

    @pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
    def test_panel_ids_are_unique_and_uids_match_file_names(self, path: Path) -> None:
        """Panel ids are unique within the dashboard; the uid is the file's name."""
        board = _load(path)
        ids = [p["id"] for p in board["panels"]]
        assert len(ids) == len(set(ids)) and all(isinstance(i, int) for i in ids)
        assert board["uid"] == path.stem

    @pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
    def test_every_query_uses_the_data_source_variable(self, path: Path) -> None:
        """A Prometheus data-source variable exists and every panel and target refers to it."""
        board = _load(path)
        [variable] = [v for v in board["templating"]["list"] if v["type"] == "datasource"]
        assert (variable["name"], variable["query"]) == ("datasource", "prometheus")
        expected = {"type": "prometheus", "uid": "${datasource}"}
        for panel in board["panels"]:
            assert panel["datasource"] == expected, panel["title"]
            assert all(t["datasource"] == expected for t in panel["targets"]), panel["title"]
        for annotation in board.get("annotations", {}).get("list", []):
            assert annotation["datasource"] == expected

    @pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
    def test_schema_version_is_grafana_11_or_later(self, path: Path) -> None:
        """The schema version is one Grafana 11+ loads without migrating."""
        assert _load(path)["schemaVersion"] >= MIN_SCHEMA_VERSION

    def test_provisioning_loads_the_dashboards_folder(self) -> None:
        """The provisioning file points Grafana at a folder of JSON dashboards."""
        text = (ROOT / "grafana/provisioning/dashboards/backlog-monitor.yaml").read_text()
        [provider] = yaml.safe_load(text)["providers"]
        assert provider["type"] == "file" and provider["options"]["path"]


@pytest.fixture(scope="module")
def prometheus(live_demo: LiveDemo) -> str:
    """The Prometheus scraping the held demo, once it has scraped the held instant."""
    wait_for_scrape_after(live_demo.prometheus, "backlog_collector_up", live_demo.held_since)
    return live_demo.prometheus


@pytest.mark.slow
class TestDashboardQueries:
    @pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
    def test_every_panel_query_returns_data(self, path: Path, prometheus: str) -> None:
        """Each panel's query, variables filled in, returns series from the demo's Prometheus."""
        board = _load(path)
        exempt = MAY_BE_EMPTY.get(path.name, {})
        empty = [
            (title, expr)
            for title, expr in _panel_queries(board)
            if title not in exempt and not query(prometheus, _filled(board, expr))
        ]
        assert empty == []

    @pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
    def test_panels_allowed_empty_are_valid_and_empty(self, path: Path, prometheus: str) -> None:
        """Each panel listed in MAY_BE_EMPTY exists, and its queries are accepted by
        Prometheus and return nothing from the demo (else the exemption is stale)."""
        board = _load(path)
        exempt = MAY_BE_EMPTY.get(path.name, {})
        titles = {p["title"] for p in board["panels"]}
        assert set(exempt) <= titles, sorted(set(exempt) - titles)
        filled = [
            (title, expr)
            for title, expr in _panel_queries(board)
            if title in exempt and query(prometheus, _filled(board, expr))
        ]
        assert filled == [], "the demo fills these; remove them from MAY_BE_EMPTY"

    @pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
    def test_every_variable_has_values(self, path: Path, prometheus: str) -> None:
        """Each label_values variable lists values (source, then queue of the chosen source)."""
        board = _load(path)
        for variable in board["templating"]["list"]:
            if variable["type"] != "query":
                continue
            found = LABEL_VALUES.match(variable["query"])
            assert found is not None, variable["query"]
            selector, label = _filled(board, found.group(1)), found.group(2)
            answer = requests.get(
                f"{prometheus}/api/v1/label/{label}/values",
                params={"match[]": selector},
                timeout=PATIENCE,
            )
            assert answer.status_code == 200 and answer.json()["data"], variable["name"]

    def test_the_queue_s_firing_alert_is_an_annotation(self, prometheus: str) -> None:
        """On the queue dashboard the firing annotation marks BacklogSurge on 'all'; the
        pending one is a valid query."""
        board = _load(FOLDER / "backlog-queue.json")
        exprs = {a["name"]: a["expr"] for a in board["annotations"]["list"]}
        firing = query(prometheus, _filled(board, exprs["Firing alerts"]))
        assert "BacklogSurge" in {s["metric"]["alertname"] for s in firing}
        query(prometheus, _filled(board, exprs["Pending alerts"]))  # valid; nothing is pending

    def test_the_agents_dashboard_marks_the_wip_alert(self, prometheus: str) -> None:
        """On the agents dashboard the firing annotation marks AgentOverWip (Group 70's
        overloaded agents), and the alert table lists it."""
        path = FOLDER / "backlog-agents.json"
        board = _load(path)
        exprs = {a["name"]: a["expr"] for a in board["annotations"]["list"]}
        firing = query(prometheus, _filled(board, exprs["Firing alerts"]))
        assert {"source": "servicenow", "queue": "Group 70", "alertname": "AgentOverWip"} in [
            {k: s["metric"][k] for k in ("source", "queue", "alertname")} for s in firing
        ]
        [(_, table)] = [q for q in _panel_queries(board) if q[0] == "WIP and stale alerts now"]
        listed = query(prometheus, _filled(board, table))
        assert "AgentOverWip" in {s["metric"]["alertname"] for s in listed}
