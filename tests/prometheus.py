"""A real Prometheus (Debian's package) for tests, on a free loopback port.

Started by the tests themselves, never the system service; scrapes the targets given
(none: enough to parse and run queries) and stops with the block.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests
import yaml

from tests.conftest import require_binary
from tests.processes import PATIENCE, eventually, free_port, start_logged, stop, wait_ready

SCRAPE_INTERVAL = "2s"


@contextmanager
def running_prometheus(root: Path, targets: Sequence[str] = ()) -> Iterator[str]:
    """Prometheus scraping ``targets`` (``host:port``) every :data:`SCRAPE_INTERVAL`;
    yields its URL. Its data and log live in ``root``."""
    binary = require_binary("prometheus", hint="install it with .ci/install-alerting-tools")
    config = {
        "global": {"scrape_interval": SCRAPE_INTERVAL, "scrape_timeout": SCRAPE_INTERVAL},
        "scrape_configs": [
            {"job_name": "backlog-monitor", "static_configs": [{"targets": list(targets)}]}
        ]
        if targets
        else [],
    }
    (root / "prometheus.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    url = f"http://127.0.0.1:{free_port()}"
    log = root / "prometheus.log"
    process = start_logged(
        [
            binary,
            f"--config.file={root / 'prometheus.yml'}",
            f"--storage.tsdb.path={root / 'data'}",
            f"--web.listen-address={url.removeprefix('http://')}",
        ],
        log,
    )
    try:
        wait_ready("prometheus", url, process, log)
        yield url
    finally:
        stop(process)


def query(url: str, expr: str) -> list[dict[str, Any]]:
    """The result vector of an instant query; fails the test on a query error."""
    answer = requests.get(f"{url}/api/v1/query", params={"query": expr}, timeout=PATIENCE)
    assert answer.status_code == 200, f"{expr}: {answer.text}"
    result: list[dict[str, Any]] = answer.json()["data"]["result"]
    return result


def wait_for_scrape_after(url: str, metric: str, since: float) -> None:
    """Wait until Prometheus's latest sample of ``metric`` was scraped after ``since``
    (wall-clock seconds) and it holds at least three samples of it."""
    eventually(
        lambda: (
            query(url, f"timestamp({metric}) > {since}")
            and query(url, f"count_over_time({metric}[5m]) >= 3")
        ),
        f"a scrape of {metric} after {since}",
    )
