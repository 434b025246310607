"""``backlog-monitor demo`` end to end: the March 2016 surge warned of, fired, resolved.

The demo runs unpaced (``speed=None``): its stepped clock moves on only once every job
due at an instant has finished, so the story is the same on an idle and a loaded
machine, and this test asserts it exactly.
"""

from __future__ import annotations

import bisect
import socket
import urllib.request
from datetime import datetime

import pytest
from prometheus_client.parser import text_string_to_metric_families

from monitor.cli import parse_speed
from monitor.demo.run import ZONE, run_demo
from monitor.demo.ticketstore import load_incidents
from tests.processes import PATIENCE, run_cli

pytestmark = pytest.mark.slow

HOURS = 66.0  # the alert fires at +40.25 h and resolves at +60.25 h (ANALYSIS.md)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def open_total(url: str) -> float | None:
    """The total backlog /metrics reports (all statuses and priorities), or None."""
    with urllib.request.urlopen(url, timeout=PATIENCE) as response:
        text = response.read().decode()
    samples = [
        s
        for family in text_string_to_metric_families(text)
        if family.name == "backlog_open_tickets"
        for s in family.samples
        if s.labels["source"] == "servicenow-total" and s.labels["queue"] == "all"
    ]
    return sum(s.value for s in samples) if samples else None


def open_in_log(instants: list[datetime]) -> dict[datetime, int]:
    """Incidents open at each instant, straight from the packaged log: opened before it,
    not resolved before it (the convention of monitor/demo/data/ANALYSIS.md)."""
    incidents = load_incidents()
    opened = sorted(i.opened_at for i in incidents)
    resolved = sorted(i.resolved_at for i in incidents if i.resolved_at is not None)
    counts = {}
    for instant in instants:
        local = instant.astimezone(ZONE).replace(tzinfo=None)
        counts[instant] = bisect.bisect_left(opened, local) - bisect.bisect_left(resolved, local)
    return counts


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, list[str], dict[datetime, float]]:
    """One unpaced replay: its exit code, its lines, and /metrics scraped at every step."""
    port = free_port()
    lines: list[str] = []
    scraped: dict[datetime, float] = {}

    def scrape(now: datetime) -> None:
        total = open_total(f"http://127.0.0.1:{port}/metrics")
        if total is not None:
            scraped[now] = total

    code = run_demo(
        speed=None,
        hours=HOURS,
        listen=f"127.0.0.1:{port}",
        workdir=tmp_path_factory.mktemp("demo"),
        out=lines.append,
        on_step=scrape,
    )
    return code, lines, scraped


class TestDemo:
    def test_exits_zero_and_counts_what_the_sink_verified(
        self, demo: tuple[int, list[str], dict[datetime, float]]
    ) -> None:
        """The demo returns 0 and its last line counts every verified notification."""
        code, lines, _ = demo
        webhooks = [line for line in lines if line.startswith("WEBHOOK")]
        assert code == 0
        assert lines[-1].startswith(f"Demo finished: {len(webhooks)} notification(s) delivered")

    def test_surge_fires_and_resolves_when_the_analysis_says(
        self, demo: tuple[int, list[str], dict[datetime, float]]
    ) -> None:
        """BacklogSurge fires at 2016-03-21 16:15 above 2,090 and resolves 2016-03-22 12:15."""
        text = "\n".join(demo[1])
        static = [line for line in demo[1] if "BacklogSurge queue=all" in line]
        assert [line.split()[1] for line in static] == ["FIRING", "RESOLVED"], text
        assert "at 2016-03-21 16:15 local" in static[0]
        assert "at 2016-03-22 12:15 local" in static[1]
        fired = float(static[0].split("fired at ")[1].split(",")[0])
        assert 2090 < fired < 2120  # the 2-hour average over the limit, below the peak (2,119)

    def test_the_forecast_warns_before_the_surge_fires(
        self, demo: tuple[int, list[str], dict[datetime, float]]
    ) -> None:
        """BacklogSurgeForecast's FIRING notification comes before BacklogSurge's."""
        webhooks = [line for line in demo[1] if line.startswith("WEBHOOK")]
        forecast = [w for w in webhooks if "BacklogSurgeForecast queue=all" in w]
        static = [w for w in webhooks if "BacklogSurge queue=all" in w]
        assert forecast and forecast[0].split()[1] == "FIRING", "\n".join(webhooks)
        assert webhooks.index(forecast[0]) < webhooks.index(static[0]), "no early warning"

    def test_staffing_advice_is_sent(
        self, demo: tuple[int, list[str], dict[datetime, float]]
    ) -> None:
        """During the surge the sink verifies signed 'Add N agents' recommendations."""
        advice = [w for w in demo[1] if w.startswith("WEBHOOK resourcing.recommendation: Add ")]
        assert advice, "no staffing recommendation during the surge"

    def test_an_agent_over_the_wip_limit_fires_with_a_rebalancing(
        self, demo: tuple[int, list[str], dict[datetime, float]]
    ) -> None:
        """Group 70's busiest agents hold over 150 open incidents: AgentOverWip fires after
        its hour, and the line shows the rebalancing suggestion."""
        wip = [w for w in demo[1] if w.startswith("WEBHOOK FIRING   AgentOverWip queue=Group 70")]
        assert wip, "\n".join(demo[1])
        assert "at 2016-03-20 01:00 local" in wip[0]
        assert "| rebalance: move " in wip[0] and "from agent Resolver 17" in wip[0]

    def test_metrics_serve_the_log_s_backlog_at_every_step(
        self, demo: tuple[int, list[str], dict[datetime, float]]
    ) -> None:
        """/metrics, scraped after each step, equals the open count computed from the log."""
        scraped = demo[2]
        assert len(scraped) == HOURS * 4  # a step every 15 simulated minutes
        assert scraped == open_in_log(list(scraped))
        assert max(scraped.values()) > 2090  # the surge, as a scraper saw it


class TestDemoCommand:
    def test_speed_max_is_unpaced_and_a_number_paces(self) -> None:
        """--speed max means no pacing (None); --speed 60 means 60x real time."""
        assert parse_speed("max") is None
        assert parse_speed("60") == 60.0

    def test_a_speed_that_is_not_positive_is_refused(self) -> None:
        """--speed 0 exits 2 naming the option, before anything starts."""
        done = run_cli("demo", "--speed", "0")
        assert done.returncode == 2
        assert "--speed" in done.stderr and "'max'" in done.stderr
