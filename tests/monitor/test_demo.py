"""Smoke test of ``backlog-monitor demo``: the March 2016 surge fires and resolves."""

from __future__ import annotations

import socket
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from monitor.demo.run import run_demo

pytestmark = pytest.mark.slow

SPEED = 3600.0  # the README's default: one simulated hour per real second
HOURS = 66.0  # the alert fires at about +40 h and resolves at about +61 h


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def open_total(url: str) -> float | None:
    """The total backlog /metrics reports (all statuses and priorities), or None."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            text = response.read().decode()
    except (urllib.error.URLError, OSError):
        return None
    samples = [
        s
        for family in text_string_to_metric_families(text)
        if family.name == "backlog_open_tickets"
        for s in family.samples
        if s.labels["source"] == "servicenow-total" and s.labels["queue"] == "all"
    ]
    return sum(s.value for s in samples) if samples else None


class TestDemo:
    def test_replay_fires_then_resolves_and_serves_metrics(self, tmp_path: Path) -> None:
        """The demo prints a FIRING then a RESOLVED webhook line and serves /metrics meanwhile."""
        port = free_port()
        lines: list[str] = []
        outcome: dict[str, object] = {}

        def demo() -> None:
            try:
                outcome["code"] = run_demo(
                    speed=SPEED,
                    hours=HOURS,
                    listen=f"127.0.0.1:{port}",
                    workdir=tmp_path,
                    out=lines.append,
                )
            except BaseException as err:  # reported by the assertion below
                outcome["error"] = err

        # In a worker thread, so the runner leaves pytest's signal handlers alone.
        thread = threading.Thread(target=demo, name="demo", daemon=True)
        began = time.monotonic()
        thread.start()
        scraped: list[float] = []
        while thread.is_alive() and time.monotonic() - began < 600:
            total = open_total(f"http://127.0.0.1:{port}/metrics")
            if total is not None:
                scraped.append(total)
            thread.join(timeout=0.5)
        thread.join(timeout=30)

        assert not thread.is_alive(), "the demo did not finish:\n" + "\n".join(lines)
        assert "error" not in outcome, outcome
        assert outcome["code"] == 0
        text = "\n".join(lines)
        webhooks = [line for line in lines if line.startswith("WEBHOOK")]
        static = [w for w in webhooks if "BacklogSurge queue=all" in w]
        advice = [w for w in webhooks if w.startswith("WEBHOOK resourcing.recommendation: Add ")]
        assert advice, "no staffing recommendation during the surge"
        assert [w.split()[1] for w in static] == ["FIRING", "RESOLVED"], text
        fired = float(static[0].split("fired at ")[1].split(",")[0])
        assert 2090 < fired < 2120  # the 2-hour average over the limit, below the peak (2,119)
        forecast = [w for w in webhooks if "BacklogSurgeForecast queue=all" in w]
        assert forecast and forecast[0].split()[1] == "FIRING", text
        assert webhooks.index(forecast[0]) < webhooks.index(static[0]), "no early warning"
        assert f"Demo finished: {len(webhooks)} notification(s) delivered" in lines[-1]
        assert scraped, "/metrics never served backlog_open_tickets while the demo ran"
        assert max(scraped) > 2000  # the surge, as seen by a scraper
