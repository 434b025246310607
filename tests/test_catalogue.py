"""The metric catalogue and the dashboards agree."""

from __future__ import annotations

import json
import re
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from monitor.metrics import CATALOGUE
from tests.conftest import require_binary
from tests.processes import PATIENCE, stop, wait_ready

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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Prometheus (Debian's) with no targets: enough to parse and run queries."""
    binary = require_binary("prometheus", hint="install it with .ci/install-alerting-tools")
    root = tmp_path_factory.mktemp("prometheus")
    config = root / "prometheus.yml"
    config.write_text("global: {scrape_interval: 15s}\nscrape_configs: []\n", encoding="utf-8")
    port = _free_port()
    log = root / "prometheus.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={root / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready("prometheus", url, process, log)
        yield url
    finally:
        stop(process)


GRAFANA_VARIABLES = {"$source": ".*", "$queue": ".*", "$__rate_interval": "5m", "$__range": "1h"}


class TestDashboardQueries:
    @pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
    def test_every_panel_query_is_valid_promql(self, path: Path, prometheus: str) -> None:
        """Each panel's expression, with the dashboard's variables filled in, is accepted
        by a real Prometheus (HTTP 400 names the parse error)."""
        dashboard = json.loads(path.read_text())
        panel_exprs = [e for e in _expressions(dashboard) if not e.startswith("label_values(")]
        assert panel_exprs
        for expr in panel_exprs:
            query = expr
            for name, value in GRAFANA_VARIABLES.items():
                query = query.replace(name, value)
            answer = requests.get(
                f"{prometheus}/api/v1/query", params={"query": query}, timeout=PATIENCE
            )
            assert answer.status_code == 200, f"{expr}: {answer.text}"
