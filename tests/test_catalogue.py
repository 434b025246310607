"""The metric catalogue and the dashboards agree."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from monitor.metrics import CATALOGUE

DASHBOARDS = sorted((Path(__file__).parents[1] / "grafana" / "dashboards").glob("*.json"))
METRIC = re.compile(r"\b(backlog_[a-z0-9_]+)\b")


def _expressions(node: object) -> list[str]:
    if isinstance(node, dict):
        found = [node["expr"]] if isinstance(node.get("expr"), str) else []
        if isinstance(node.get("query"), str):
            found.append(node["query"])
        return found + [e for v in node.values() for e in _expressions(v)]
    if isinstance(node, list):
        return [e for v in node for e in _expressions(v)]
    return []


class TestCatalogue:
    def test_names_follow_the_prefix(self) -> None:
        """Every catalogued metric starts with backlog_ and counters end in _total."""
        for name, spec in CATALOGUE.items():
            assert name.startswith("backlog_")
            assert (spec.type == "counter") == name.endswith("_total"), name

    def test_dashboards_exist(self) -> None:
        """At least one dashboard ships with the project."""
        assert DASHBOARDS

    @pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
    def test_every_dashboard_metric_is_catalogued(self, path: Path) -> None:
        """Each metric a dashboard queries exists in the catalogue."""
        dashboard = json.loads(path.read_text())
        used = {m for expr in _expressions(dashboard) for m in METRIC.findall(expr)}
        assert used, f"{path.name} queries no backlog_ metric"
        assert used <= set(CATALOGUE), sorted(used - set(CATALOGUE))
