"""The benchmark suite's report: every figure beside its goal, failures shown, the machine named."""

from __future__ import annotations

from benchmarks.load.soak import verdicts
from benchmarks.suite import BENCHMARKS, machine, markdown

SOAK = {
    "queues": 1000,
    "simulated_hours": 24,
    "rss_mb_hourly": [300.0, 310.0, 320.0, 330.0],
    "rss_growth_pct": 100 * (330 - 320) / 320,
    "scrape_series": 18_700,
    "scrape_ms_median": 310.0,
    "scrape_cpu_ms_median": 290.0,
    "jobs": {
        "evaluate": {"runs": 1440, "interval_s": 60.0, "max_s": 2.5, "p99_s": 1.1},
        "forecast": {"runs": 24, "interval_s": 3600.0, "max_s": 12.0, "p99_s": 11.0},
    },
    "notifications_enqueued": 40,
    "outbox_pending": 0,
}


class TestReport:
    def test_each_figure_is_judged_against_its_goal(self) -> None:
        """Growth 3.1 % meets < 5 %; a 310 ms scrape misses < 250 ms; jobs inside intervals."""
        rows = {figure: met for figure, _, _, met in verdicts(SOAK)}
        assert rows["RSS growth after warm-up"] is True
        assert rows["scrape of 18,700 series"] is False
        assert rows["job evaluate (1440 runs)"] is True
        assert rows["outbox after the day"] is True

    def test_markdown_names_machine_date_figures_and_failures(self) -> None:
        """The page has the machine, each figure with goal and verdict, and a failed run."""
        soak = next(b for b in BENCHMARKS if b.name == "soak")
        other = next(b for b in BENCHMARKS if b.name == "latency")
        here = machine()
        text = markdown(
            [(soak, soak.figures(SOAK, False), 600.0, ""), (other, [], 3.0, "exit code 1: boom")],
            here,
            here,
            full=False,
        )
        assert f"{here['nproc']} CPUs (`nproc`)" in text and "UTC; mode: quick" in text
        assert "| 310 ms wall, 290 ms CPU (median of 5) | < 250 ms at ~30,000 | **no** |" in text
        assert "| +3.1 % (320 -> 330 MB) | < 5 % | yes |" in text
        assert "FAILED, exit code 1: boom" in text and "Quick mode:" in text
        assert "failover time" in text
