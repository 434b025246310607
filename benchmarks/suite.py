"""Every benchmark in one run, and ``docs/benchmarks.md`` written from what it measured.

``./dev.sh bench`` (``python -m benchmarks``) runs each benchmark below in its own
process, in its quick mode (``--full``: the sizes the goals are stated at, much
longer), reads the JSON each one writes under ``benchmarks/results/``, and writes
``docs/benchmarks.md``: every figure beside its goal, the machine (``/proc/cpuinfo``,
``nproc``, memory, load average before and after) and the date. A benchmark that fails
is reported as failed, with its exit code and the end of its output, never skipped.
Each benchmark's own log goes to ``benchmarks/results/suite-<name>.log``. ``--only a,b``
runs those benchmarks alone and writes their page to ``benchmarks/results/suite-only.md``,
leaving ``docs/benchmarks.md`` as the last whole run wrote it. ``--parallel N`` runs N
benchmarks at a time (the soak first, since it is the longest); the page says so and
names the commit measured.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
DOC = ROOT / "docs" / "benchmarks.md"

Figure = tuple[str, str, str, bool | None]
"""(figure, measured, goal, met); met None: no goal, reported only."""


@dataclass(frozen=True)
class Bench:
    """One benchmark: how to run it quick and full, and which figures to take from it."""

    name: str
    module: str
    what: str
    quick: tuple[str, ...]
    full: tuple[str, ...]
    result: str
    figures: Callable[[dict[str, Any], bool], list[Figure]]
    details: str = ""


def _ms(value: float) -> str:
    return f"{value:.0f} ms" if value >= 10 else f"{value:.1f} ms"


def sql_poll_figures(r: dict[str, Any], _full: bool) -> list[Figure]:
    out: list[Figure] = []
    for case in r["results"]:
        if case["variant"] != "documented":
            continue
        where = f"{case['engine']} {case['n']:,} tickets"
        median = case["collector_ms"]["median"]
        at_goal = case["engine"] == "postgresql" and case["n"] >= 10_000_000
        out.append(
            (
                f"one SQL poll, {where}",
                f"{_ms(median)} median of {case['repeat']}",
                "< 1 s at 10M on PostgreSQL" + ("" if at_goal else " (checked at 10M)"),
                median < 1000 if at_goal else None,
            )
        )
        out.append(
            (
                f"collector / best hand-written SQL, {where}",
                f"{case['paired_ratio']:.2f} paired (identical figures: {case['identical']})",
                "<= 1.3",
                case["paired_ratio"] <= 1.3 and bool(case["identical"]),
            )
        )
    return out


def evaluate_figures(r: dict[str, Any], _full: bool) -> list[Figure]:
    daemon = r["daemon"]["sqlite/current"]
    queues, rules = r["queues"], len(r["rules"])
    return [
        (
            f"rule evaluation job, {queues} queues x {rules} rules, steady tick",
            f"{daemon['cpu_seconds_median']:.2f} s CPU, {daemon['seconds_median']:.2f} s wall "
            f"(median of {daemon['ticks']}); "
            f"{daemon['cpu_us_per_instance_median']:.0f} us CPU per rule instance",
            "<= 1 s per tick at 1,000 x 10",
            daemon["cpu_seconds_median"] <= 1.0 if queues >= 1000 else None,
        ),
        (
            "rule evaluation job, first tick after a start",
            f"{daemon['cold_tick_seconds']:.2f} s wall",
            "none set (known over 1 s)",
            None,
        ),
    ]


def latency_figures(r: dict[str, Any], _full: bool) -> list[Figure]:
    out: list[Figure] = []
    for mode, res in r["modes"].items():
        firing = res.get("firing") or {}
        if not firing:
            out.append((f"notification latency, {mode}", "no samples", "p99 < 1 s", False))
            continue
        out.append(
            (
                f"notification latency (evaluation to receiver 2xx), {mode}",
                f"p50 {_ms(firing['p50_ms'])}, p99 {_ms(firing['p99_ms'])} ({firing['n']} firings)",
                "p99 < 1 s",
                firing["p99_ms"] < 1000,
            )
        )
    return out


def speed_figures(r: dict[str, Any], _full: bool) -> list[Figure]:
    job = r["job"]
    return [
        (
            f"forecast refresh, {job['queues']} queues, hourly tick",
            f"mean {job['steady_tick_cpu_s_mean']:.2f} s CPU, max "
            f"{job['steady_tick_cpu_s_max']:.2f} s ({job['ticks'] - 1} ticks)",
            "<= 5 s CPU at 1,000 queues",
            job["steady_tick_cpu_s_max"] <= 5.0 if job["queues"] >= 1000 else None,
        ),
        (
            "forecast refresh, first tick after a restart",
            f"{job['first_tick_after_restart_cpu_s']:.2f} s CPU",
            "none set",
            None,
        ),
    ]


def soak_figures(r: dict[str, Any], _full: bool) -> list[Figure]:
    from benchmarks.load.soak import verdicts

    hours = f"{r['queues']} queues, {r['simulated_hours']} simulated h"
    return [
        (f"{figure} ({hours})", measured, goal, met) for figure, measured, goal, met in verdicts(r)
    ]


def scrape_figures(r: dict[str, Any], _full: bool) -> list[Figure]:
    series = f"{r['series']:,} series ({r['queues']} queues)"
    goal = "< 250 ms at ~30,000"
    at_size = r["series"] >= 25_000
    return [
        (
            f"scrape with nothing written since the last one, {series}",
            f"{r['cached_ms_wall']:.1f} ms wall, {r['cached_ms_cpu']:.1f} ms CPU "
            f"(median of {r['cached_repeat']}); same bytes as generate_latest: "
            f"{r['identical_to_generate_latest']}",
            goal,
            r["cached_ms_wall"] < 250 and r["identical_to_generate_latest"] if at_size else None,
        ),
        (
            f"scrape right after a poll, rendered on demand (store read and render on the "
            f"request: the cache without its background renderer), {series}",
            f"{r['after_change_ms_wall']:.0f} ms wall, {r['after_change_ms_cpu']:.0f} ms CPU "
            f"(median of {r['after_change_renders']})",
            "none (not the daemon's path)",
            None,
        ),
        (
            f"scrape right after a poll, background renderer (as the daemon runs), {series}",
            f"{r['eager_after_change_ms_wall']:.1f} ms wall, "
            f"{r['eager_after_change_ms_cpu']:.1f} ms CPU of the process, renderer included "
            f"(median of {r['after_change_renders']}); renders on a request: "
            f"{r['eager_renders_on_request']}; page current "
            f"{r['eager_page_current_after_ms_wall']:.0f} ms after the poll (max "
            f"{r['eager_page_current_after_ms_wall_max']:.0f})",
            goal,
            r["eager_after_change_ms_wall"] < 250 and r["eager_renders_on_request"] == 0
            if at_size
            else None,
        ),
    ]


def idle_figures(r: dict[str, Any], _full: bool) -> list[Figure]:
    return [("memory of an idle daemon (RSS)", f"{r['rss_mib']:.0f} MiB", "none set", None)]


def _spread(values: list[float]) -> str:
    return f"median {statistics.median(values):.1f} s, max {max(values):.1f} s"


def failover_figures(r: dict[str, Any], _full: bool) -> list[Figure]:
    ttl, renew = r["ttl_s"], r["renew_s"]
    out: list[Figure] = []
    bounds = {
        "SIGKILL": (ttl + renew, f"<= ttl + renew_interval ({ttl + renew:.0f} s)"),
        "SIGTERM": (renew, f"<= renew_interval ({renew:.0f} s)"),
    }
    for stop, (bound, goal) in bounds.items():
        leader, delivered = r["stops"][stop]["leader"], r["stops"][stop]["delivered"]
        plural = "" if len(leader) == 1 else "s"
        rounds = f"({len(leader)} round{plural}, ttl {ttl:.0f} s, renew {renew:.0f} s)"
        out.append(
            (
                f"failover: {stop} of the leader to the other replica leading",
                f"{_spread(leader)} {rounds}",
                goal,
                max(leader) <= bound,
            )
        )
        out.append(
            (
                f"failover: {stop} of the leader to the new leader's first delivery",
                f"{_spread(delivered)} {rounds}",
                "none set (adds the 1 s delivery interval)",
                None,
            )
        )
    return out


def backfill_figures(r: dict[str, Any], _full: bool) -> list[Figure]:
    out: list[Figure] = []
    for case in r["results"]:
        where = f"{case['engine']} {case['n']:,} tickets, {case['queues']} queues"
        at_goal = case["engine"] == "postgresql" and case["n"] >= 10_000_000
        out.append(
            (
                f"backfill of {case['hours']} hourly rollups, {where}",
                f"{case['total_s']:.1f} s ({case['read_s']:.1f} s reading the ticket store, "
                f"{case['rows']:,} rows written"
                + (f"; CPU of the process {case['cpu_s']:.1f} s" if "cpu_s" in case else "")
                + ")",
                "< 30 s at 10M on PostgreSQL" + ("" if at_goal else " (checked at 10M)"),
                case["total_s"] < 30 if at_goal else None,
            )
        )
        out.append(
            (
                f"backfill's ticket-store read / hand-written SQL, {where}",
                f"{case['read_s'] / case['hand_s']:.2f} (hand-written {case['hand_s']:.1f} s, "
                "same rows)",
                "none set (the ratio is reported)",
                None,
            )
        )
        out.append(
            (
                f"peak RSS of a backfill process, {where}",
                f"{case['rss_mb']:.0f} MB",
                "flat in table size (compare the sizes; no threshold set)",
                None,
            )
        )
    return out


def workload_figures(r: dict[str, Any], _full: bool) -> list[Figure]:
    out: list[Figure] = []
    for case in r["results"]:
        where = (
            f"{case['engine']} {case['tickets']:,} tickets, {case['agents']:,} agent labels, "
            f"{case['queues']} queues"
        )
        at_goal = case["tickets"] >= 10_000_000
        if case.get("ratio") is not None:  # None: --repeat 0, the report only
            out.append(
                (
                    f"workload and hygiene statements, collector / hand-written SQL, {where}",
                    f"{case['ratio']:.2f} ({case['collector_ms']:.0f} ms vs "
                    f"{case['hand_ms']:.0f} ms, median of {case['repeat']})",
                    "<= 1.3 at 10M" + ("" if at_goal else " (checked at 10M)"),
                    case["ratio"] <= 1.3 if at_goal else None,
                )
            )
        by_hand = (
            f", {case['report_ratio']:.2f} x the hand-written report"
            if case.get("report_ratio") is not None
            else ""
        )
        out.append(
            (
                f"weekly report's figures for one week, {where}",
                f"{case['report_s']:.1f} s wall{by_hand}",
                "< 30 s at 10M" + ("" if at_goal else " (checked at 10M)"),
                case["report_s"] < 30 if at_goal else None,
            )
        )
    return out


def http_poll_figures(r: dict[str, Any], _full: bool) -> list[Figure]:
    out: list[Figure] = []
    for case in r["results"]:
        where = f"{case['store']} {case['queues']} queues / {case['open_in_store']:,} open"
        credits = f", {case['credits']} credits" if case["unit"] == "credits/day" else ""
        interval = f"{case['interval_s'] / 60:g} min"
        out.append(
            (
                f"requests per hosted poll, {where}",
                f"{case['requests']} requests{credits} in {case['seconds']:.2f} s "
                f"(check-config's estimate {case['requests_estimated']})",
                "<= check-config's estimate (its budget check refuses an interval over half "
                f"the plan); inside one {interval} poll interval",
                case["requests"] <= case["requests_estimated"]
                and case["seconds"] < case["interval_s"],
            )
        )
        out.append(
            (
                f"shortest poll interval within half of each plan, {where}",
                case["budget"],
                "reported beside each plan's budget",
                None,
            )
        )
    return out


def hosted_desks_figures(r: dict[str, Any], _full: bool) -> list[Figure]:
    """Requests per poll beside the budget: reported, with the shortest interval the
    budget allows (the client never goes over it: its budget paces a larger poll)."""
    out: list[Figure] = []
    for case in r["helpscout"]:
        where = (
            f"Help Scout {case['mailboxes']} mailboxes / {case['open']:,} open, poll every "
            f"{case['interval']}, aging {'on' if case['aging'] else 'off'}"
        )
        over = "" if case["within"] else " (over the budget at this interval)"
        if case.get("rotation") and case["aging"]:  # the reference's plan with aging: a mirror
            out.append(
                (
                    f"requests per poll, {where}, folders rotated every {case['rotation']}",
                    f"{case['requests']} requests, {case['per_minute']:.0f} a minute{over}, "
                    f"{case['wall_ms']:.0f} ms wall (median of {r['repeat']}); "
                    f"first poll {case['first_requests']}",
                    "reported: with aging the reference's plan is the mirror "
                    "(helpscout_mirror rows)",
                    None,
                )
            )
            continue
        if case.get("rotation"):  # folder_rotation: judged against the reference's plan
            low, high = case["reference_per_minute"]
            out.append(
                (
                    f"requests per poll, {where}, folders rotated every {case['rotation']}",
                    f"{case['requests']} requests, {case['per_minute']:.0f} a minute{over}, "
                    f"{case['wall_ms']:.0f} ms wall (median of {r['repeat']}); "
                    f"first poll {case['first_requests']}",
                    f"at most the reference's {low}-{high} a minute and within "
                    f"{case['allowed']:.0f}",
                    case["within"] and case["per_minute"] <= high,
                )
            )
            continue
        out.append(
            (
                f"requests per poll, {where}",
                f"{case['requests']} requests, {case['per_minute']:.0f} a minute{over}, "
                f"{case['wall_ms']:.0f} ms wall (median of {r['repeat']})",
                f"reported beside {case['allowed']:.0f} a minute (half of Help Scout's 200)",
                None,
            )
        )
    for case in r["others"]:
        where = f"{case['kind']} {case['queues']} queues, aging {'on' if case['aging'] else 'off'}"
        shortest = case["requests"] / case["allowed"]
        out.append(
            (
                f"requests per poll, {where}",
                f"{case['requests']} requests, {case['wall_ms']:.0f} ms wall; within "
                f"{case['allowed']:.0f} a minute every {shortest:.1f} min at the shortest",
                f"reported beside {case['allowed']:.0f} a minute",
                None,
            )
        )
    return out


def hosted_forges_figures(r: dict[str, Any], _full: bool) -> list[Figure]:
    out: list[Figure] = []
    for case in r.get("github", []):
        where = f"GitHub {case['api']}, {case['queues']} label queues ({case['counts']} counts)"
        if case["api"] == "graphql":
            measured = (
                f"{case['requests']} requests, {case['points']} points (estimate "
                f"{case['points_estimated']}), 0 REST searches; {case['wall_s']:.1f} s wall, "
                f"{case['cpu_s']:.1f} s CPU"
            )
            goal = (
                f"within {case['points_per_hour_allowed']:,} points an hour: a poll every "
                f"{case['min_interval_min'] * 60:.0f} s at the shortest"
            )
            met = case["points"] == case["points_estimated"] and case["searches"] == 0
        else:
            measured = (
                f"{case['searches']} searches, at most {case['max_per_minute']} in a minute, "
                f"spanning {case['span_min']:.0f} min; {case['wall_s']:.1f} s wall, "
                f"{case['cpu_s']:.1f} s CPU"
            )
            goal = (
                f"never over {case['searches_per_minute_allowed']} searches a minute: a poll "
                f"every {case['min_interval_min']:.0f} min at the shortest"
            )
            met = case["max_per_minute"] <= case["searches_per_minute_allowed"]
        out.append((f"one poll, {where}", measured, goal, met))
    for case in r.get("gitlab", []):
        capped = case["queues"] != case["asked"]
        note = f" ({case['asked']} labels: {case['cost_at_n']} requests)" if capped else ""
        out.append(
            (
                f"one poll, GitLab {case['queues']} label queues",
                f"{case['requests']} requests, at most {case['max_per_minute']} in a minute, "
                f"{case['wall_s']:.1f} s wall{note}",
                f"never over {int(2000 * r['share'])} requests a minute",
                case["max_per_minute"] <= int(2000 * r["share"]),
            )
        )
    return out


def helpscout_mirror_figures(r: dict[str, Any], _full: bool) -> list[Figure]:
    out: list[Figure] = []
    for case in r.get("helpscout_mirror", []):
        where = f"Help Scout mirror, {case['mailboxes']} mailboxes / {case['open']:,} open"
        low, high = case["reference_per_minute"]
        per_minute, allowed = case["steady_per_minute"], case["allowed_per_minute"]
        out.append(
            (
                f"requests a minute with aging, {where}",
                f"{per_minute:.0f} ({case['steady_kinds']}), {case['steady_cpu_ms']:.0f} ms "
                "CPU a poll (median)",
                f"within the reference's {low}-{high} and the {allowed:.0f} allowed",
                per_minute <= min(high, allowed),
            )
        )
        out.append(
            (
                f"first mirror build, {where}",
                f"{case['build_pages']} pages, {case['build_requests']} requests in "
                f"{case['build_polls']} polls ({case['build_minutes']} min at the budget's "
                f"pace), {case['build_cpu_s']:.1f} s CPU",
                "none set (reported)",
                None,
            )
        )
    return out


def udesk_mirror_figures(r: dict[str, Any], _full: bool) -> list[Figure]:
    where = f"Udesk mirror, {r['queues']} queues ({r['filters']} filters), {r['polls']} polls"
    return [
        (
            f"first poll (rebuild + counts), {where}",
            f"{r['first_requests']} requests, {r['first_cpu_ms']:.0f} ms CPU",
            "none set (reported)",
            None,
        ),
        (
            f"later polls, {where}",
            f"median {r['later_median']:.0f} requests, max {r['later_max']} (estimate "
            f"{r['estimate']})"
            + (
                f", mean {r['later_mean']:.2f} ({r['counts_mean']:.2f} counts, "
                f"{r['feed_mean']:.2f} feed pages)"
                if "later_mean" in r
                else ""
            )
            + f"; {r['later_cpu_ms_median']:.0f} ms CPU median",
            "<= check-config's estimate",
            r["later_max"] <= r["estimate"],
        ),
        (
            f"largest |drift| between the mirror and Udesk's totals, {where}",
            str(r["worst_drift"]),
            "0 (the feed missed nothing)",
            r["worst_drift"] == 0,
        ),
    ]


BENCHMARKS = (
    Bench(
        "idle",
        "benchmarks.load.idle",
        "memory of a daemon with nothing to watch",
        (),
        (),
        "load_idle.json",
        idle_figures,
    ),
    Bench(
        "soak",
        "benchmarks.load.soak",
        "1,000 queues for 24 simulated hours: RSS, scrape, jobs, outbox",
        ("--quick",),
        (),
        "load_soak.json",
        soak_figures,
    ),
    Bench(
        "scrape",
        "benchmarks.load.scrape",
        "GET /metrics at about 30,000 series: cached, and right after a change",
        (),
        (),
        "load_scrape.json",
        scrape_figures,
        "docs/operations.md",
    ),
    Bench(
        "evaluate",
        "benchmarks.alerting.evaluate",
        "1,000 queues x 10 rules: evaluation per tick",
        ("--ticks", "4", "--daemon-ticks", "3"),
        (),
        "alerting_evaluate.json",
        evaluate_figures,
        "docs/benchmarks/alerting.md",
    ),
    Bench(
        "latency",
        "benchmarks.alerting.latency",
        "rule firing to the receiver's 2xx on loopback",
        ("--modes", "scheduled-5s", "--samples", "40"),
        ("--modes", "scheduled-5s", "--samples", "200"),
        "alerting_latency.json",
        latency_figures,
        "docs/benchmarks/alerting.md",
    ),
    Bench(
        "forecast",
        "benchmarks.forecasts.speed",
        "the forecast job at 1,000 queues",
        ("--ticks", "4", "--distinct", "40", "--skip-accuracy"),
        ("--skip-accuracy",),
        "forecasts_speed.json",
        speed_figures,
        "docs/forecasting.md",
    ),
    Bench(
        "sql_poll",
        "benchmarks.collectors.sql_poll",
        "one SQL poll of a big ticket table vs hand-written SQL",
        (
            "--sizes",
            "1000000",
            "--engines",
            "postgresql",
            "--repeat",
            "3",
            "--variants",
            "documented",
            "--no-plans",
            "--no-memory",
        ),
        ("--variants", "documented", "--no-plans"),
        "sql_poll.json",
        sql_poll_figures,
        "docs/benchmarks/sql-poll.md",
    ),
    Bench(
        "failover",
        "benchmarks.replicas.failover",
        "two replicas on PostgreSQL: the leader stopped, the other one leads and delivers",
        ("--rounds", "1"),
        (),
        "replicas_failover.json",
        failover_figures,
        "docs/operations.md",
    ),
    Bench(
        "backfill",
        "benchmarks.collectors.backfill",
        "90 days of hourly rollups from a big ticket table vs hand-written SQL",
        ("--sizes", "100000", "--engines", "postgresql"),
        ("--sizes", "1000000,10000000"),
        "collectors_backfill.json",
        backfill_figures,
        "docs/backfill.md",
    ),
    Bench(
        "workload",
        "benchmarks.collectors.workload",
        "agent workload, hygiene and routing figures vs hand-written SQL, weekly report",
        ("--tickets", "100000", "--engines", "postgresql", "--repeat", "3"),
        ("--tickets", "10000000"),
        "collectors_workload.json",
        workload_figures,
        "docs/benchmarks/workload.md",
    ),
    Bench(
        "http_poll",
        "benchmarks.collectors.http_poll",
        "one hosted poll per store at 20 and 500 queues against its fake server",
        ("--repeat", "1"),
        (),
        "collectors_http_poll.json",
        http_poll_figures,
        "docs/hosted.md",
    ),
    Bench(
        "hosted_desks",
        "benchmarks.collectors.hosted_poll_desks",
        "Help Scout, Udesk and Fxiaoke polls at 20 and 500 queues against counts-only fakes",
        ("--repeat", "1"),
        (),
        "collectors_hosted_poll_desks.json",
        hosted_desks_figures,
        "docs/hosted/helpscout.md",
    ),
    Bench(
        "hosted_forges",
        "benchmarks.collectors.hosted_poll_forges",
        "GitHub (REST and GraphQL) and GitLab polls at 20 and 500 queues beside their budgets",
        (),
        (),
        "collectors_hosted_poll_forges.json",
        hosted_forges_figures,
        "docs/hosted/github.md",
    ),
    Bench(
        "helpscout_mirror",
        "benchmarks.collectors.helpscout_mirror",
        "Help Scout with its mirror: the first build poll after poll, then requests a minute",
        ("--steady-polls", "3"),
        (),
        "collectors_helpscout_mirror.json",
        helpscout_mirror_figures,
        "docs/hosted/helpscout.md",
    ),
    Bench(
        "udesk_mirror",
        "benchmarks.collectors.udesk_mirror",
        "Udesk with its local mirror: requests per poll over simulated hours, drift",
        ("--hours", "2"),
        (),
        "collectors_udesk_mirror.json",
        udesk_mirror_figures,
        "docs/hosted/udesk.md",
    ),
)
NOT_HERE = [
    (
        "first mirror build at 200,000 open tickets",
        "`python -m benchmarks.collectors.mirror_build --store udesk` and `--store fxiaoke` "
        "(thousands of requests against a fake in a child process, minutes each on a loaded "
        "machine; figures in docs/hosted/udesk.md and docs/hosted/fxiaoke.md)",
    ),
    (
        "a poll's read of a mirror at 200,000 open tickets",
        "`python -m benchmarks.collectors.mirror_read --store udesk|fxiaoke|helpscout` (the "
        "whole mirror read back against its index, figures compared; a minute or two of CPU "
        "each; figures in docs/hosted/udesk.md, docs/hosted/fxiaoke.md and "
        "docs/hosted/helpscout.md)",
    ),
    (
        "forecast accuracy",
        "`python -m benchmarks.forecasts.backtest` and `.crossval` (minutes each; figures "
        "in docs/forecasting.md); not speed or load figures, so not rerun here",
    ),
]


def machine() -> dict[str, Any]:
    """CPU model, cores, memory, Python and the load average now."""
    model, memory = platform.processor(), ""
    cpuinfo, meminfo = Path("/proc/cpuinfo"), Path("/proc/meminfo")
    if cpuinfo.exists():
        names = [
            line.split(":", 1)[1].strip()
            for line in cpuinfo.read_text().splitlines()
            if line.startswith("model name")
        ]
        model = names[0] if names else model
    if meminfo.exists():
        total = meminfo.read_text().splitlines()[0].split()[1]
        memory = f"{int(total) / 2**20:.1f} GiB"
    return {
        "cpu": model,
        "nproc": os.cpu_count(),
        "memory": memory,
        "python": platform.python_version(),
        "load": tuple(round(x, 2) for x in os.getloadavg()),
    }


def commit() -> str:
    """The commit measured (``git describe``-like: hash, and ``+changes`` when the tree
    differs from it), or ``unknown`` outside a git checkout."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + (" +uncommitted changes" if dirty else "")


def run(bench: Bench, full: bool) -> tuple[list[Figure], float, str]:
    """Run one benchmark; its figures, its wall seconds, and a failure note ('' if none)."""
    args = bench.full if full else bench.quick
    log = RESULTS / f"suite-{bench.name}.log"
    started = time.perf_counter()
    with log.open("w") as out:
        done = subprocess.run(
            [sys.executable, "-m", bench.module, *args],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
        )
    seconds = time.perf_counter() - started
    # Paths relative to the checkout: the page names no absolute path of this machine.
    tail = "\n".join(log.read_text(errors="replace").splitlines()[-5:])
    tail = tail.replace(f"{ROOT}/", "")
    if done.returncode != 0:
        return [], seconds, f"exit code {done.returncode}: {tail}"
    try:
        report = json.loads((RESULTS / bench.result).read_text())
        return bench.figures(report, full), seconds, ""
    except (OSError, ValueError, KeyError, IndexError, TypeError) as err:
        return [], seconds, f"its results could not be read: {err!r}"


def markdown(
    rows: list[tuple[Bench, list[Figure], float, str]],
    before: dict[str, Any],
    after: dict[str, Any],
    full: bool,
) -> str:
    """The text of docs/benchmarks.md."""
    mode = "full" if full else "quick"
    lines = [
        "# Benchmarks",
        "",
        "Written by `./dev.sh bench` (`python -m benchmarks`; `--full` for the full sizes);",
        "do not edit by hand. Every figure is measured by that run, on the code that ships,",
        "beside its goal. The machine is shared with other work: wall times carry its load",
        "(below); CPU times and ratios travel better.",
        "",
        f"- **Date:** {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; mode: {mode}",
        f"- **Machine:** {before['cpu']}, {before['nproc']} CPUs (`nproc`), "
        f"{before['memory']} memory, Python {before['python']}",
        f"- **Load average** (1, 5, 15 min): {before['load']} before, {after['load']} after",
        *(
            [
                f"- **Run:** {before['parallel']} benchmarks at a time (`--parallel"
                f" {before['parallel']}`): each one's wall times also carry the others' load",
            ]
            if before.get("parallel", 1) > 1
            else []
        ),
        f"- **Commit measured:** `{before.get('commit', 'unknown')}` (other branches change"
        " the backfill, workload and forecast speed in parallel: figures hold for this"
        " commit)",
        "",
        *(
            []
            if full
            else [
                "Quick mode: the soak runs 3 simulated hours, not 24 (growth is measured from",
                "hour 2 to hour 3), and each benchmark takes fewer ticks or samples (commands",
                "below). `--full` runs the sizes the goals name; it was not run for this",
                "page.",
                "",
            ]
        ),
        "| benchmark | figure | measured | goal | met |",
        "|---|---|---|---|---|",
    ]
    for bench, figures, seconds, failure in rows:
        label = f"`{bench.module}` ({seconds:.0f} s)"
        if failure:
            last = failure.splitlines()[-1].replace("|", "/")
            lines.append(f"| {label} | {bench.what} | FAILED, {last} | | no |")
            continue
        for figure, measured, goal, met in figures:
            verdict = "—" if met is None else ("yes" if met else "**no**")
            lines.append(f"| {label} | {figure} | {measured} | {goal} | {verdict} |")
    lines += ["", "Not measured by this suite:", ""]
    lines += [f"- {what}: {why}." for what, why in NOT_HERE]
    lines += ["", "Commands, arguments and how each figure is made:", ""]
    for bench, *_ in rows:
        command = " ".join(["python -m", bench.module, *(bench.full if full else bench.quick)])
        more = f"; details in [{bench.details}]({bench.details[5:]})" if bench.details else ""
        lines.append(f"- `{command}`: {bench.what}{more}")
    failures = [(b.name, f) for b, _, _, f in rows if f]
    if failures:
        lines += ["", "Failures (end of each log, `benchmarks/results/suite-<name>.log`):", ""]
        for name, failure in failures:
            lines += [f"- {name}:", "", "```", failure, "```"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="the sizes the goals name")
    parser.add_argument(
        "--only", help="comma-separated names: " + ", ".join(b.name for b in BENCHMARKS)
    )
    parser.add_argument(
        "--parallel",
        type=int,
        default=1,
        help="run the benchmarks in this many groups at once (shorter, but each one's wall"
        " times carry the others' load; the page says so)",
    )
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args = parser.parse_args(argv)
    if args.list:
        for bench in BENCHMARKS:
            print(f"{bench.name:10s} python -m {bench.module:32s} {bench.what}")
        return 0
    chosen = [b for b in BENCHMARKS if not args.only or b.name in args.only.split(",")]
    RESULTS.mkdir(parents=True, exist_ok=True)
    before = {**machine(), "commit": commit(), "parallel": max(1, args.parallel)}
    done: dict[str, tuple[Bench, list[Figure], float, str]] = {}
    lock = threading.Lock()

    def one(bench: Bench) -> None:
        print(f"running {bench.name}: python -m {bench.module} ...", flush=True)
        figures, seconds, failure = run(bench, args.full)
        with lock:
            print(f"{bench.name} done in {seconds:.0f} s", flush=True)
            for figure, measured, goal, met in figures:
                print(f"  {figure}: {measured} (goal {goal}) {'' if met is None else met}")
            if failure:
                print(f"  FAILED {failure}")
            done[bench.name] = (bench, figures, seconds, failure)

    # Longest first when in parallel: the soak takes most of the run.
    with ThreadPoolExecutor(max_workers=max(1, args.parallel)) as pool:
        list(pool.map(one, chosen))
    rows = [done[b.name] for b in chosen]
    # A subset never replaces the whole suite's page: it goes beside the results.
    page = RESULTS / "suite-only.md" if args.only else DOC
    page.write_text(markdown(rows, before, machine(), args.full))
    print(f"wrote {page.relative_to(ROOT)}")
    return 1 if any(f for *_, f in rows) else 0
